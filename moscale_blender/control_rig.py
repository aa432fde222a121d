"""Control rigs (Rigify): their deform bones follow control bones through constraints, so keys on the deform
bones do nothing. Animators key the FK controls, torso and hips; so does MoScale.

Each control carries one SMPL joint's rigid motion (``moscale.retarget.JointFrames``): its armature-space matrix
is the joint's transform applied to the control's rest matrix. Which local channels give that matrix depends on
the rig's MCH bones and constraints, so Blender evaluates them: per frame, controls are set level by level (a
control after every control it depends on, through parents or constraint targets), each from its parent's
evaluated pose, with one depsgraph update per level. Only the main thread may call this.
"""
from __future__ import annotations

import bpy
import numpy as np
from mathutils import Matrix, Quaternion, Vector
from moscale import retarget

from . import keyframes

REST = -1  # a control keyed at its rest pose (``"rest"`` in the bone map)


def controls_of(obj: bpy.types.Object, match: retarget.RigMatch) -> dict[str, int]:
    """Control bone -> SMPL joint index when ``match``'s map drives this rig through controls it has, else {}."""
    bone_map = match.bone_map
    if bone_map is None or not bone_map.controls:
        return {}
    bones = obj.pose.bones
    if not all(name in bones for name in bone_map.controls) or (bone_map.root_control not in bones):
        return {}
    return {name: REST if joint == "rest" else retarget.JOINT_NAMES.index(joint)
            for name, joint in bone_map.controls.items()}


def _dependencies(obj: bpy.types.Object) -> dict[str, set[str]]:
    """Bone -> bones its evaluation reads: its parent and the same-armature targets of its constraints."""
    depends: dict[str, set[str]] = {}
    for pose_bone in obj.pose.bones:
        names = {pose_bone.parent.name} if pose_bone.parent is not None else set()
        for constraint in pose_bone.constraints:
            if getattr(constraint, "target", None) == obj and getattr(constraint, "subtarget", ""):
                names.add(constraint.subtarget)
            if getattr(constraint, "pole_target", None) == obj and getattr(constraint, "pole_subtarget", ""):
                names.add(constraint.pole_subtarget)
        depends[pose_bone.name] = names
    return depends


def levels(obj: bpy.types.Object, controls) -> list[list[str]]:
    """Controls grouped so that every control comes after the controls it (transitively) depends on."""
    depends = _dependencies(obj)
    controls = set(controls)
    reach: dict[str, set[str]] = {}

    def upstream(name: str, seen: set[str]) -> set[str]:
        if name in reach:
            return reach[name]
        found: set[str] = set()
        for other in depends.get(name, ()):
            if other not in seen:
                found |= {other} | upstream(other, seen | {other})
        reach[name] = found
        return found

    level: dict[str, int] = {}

    def level_of(name: str) -> int:
        if name not in level:
            level[name] = 1 + max((level_of(c) for c in upstream(name, {name}) & controls if c != name), default=-1)
        return level[name]

    grouped: dict[int, list[str]] = {}
    for name in sorted(controls):
        grouped.setdefault(level_of(name), []).append(name)
    return [grouped[key] for key in sorted(grouped)]


def _joint_matrix(frames: retarget.JointFrames, row: int, joint: int) -> Matrix:
    """The rigid transform (4x4, armature space) moving joint ``joint``'s rest pose to frame ``row``."""
    rotation = Quaternion(frames.deltas[row, joint]).to_matrix().to_4x4()
    return Matrix.Translation(Vector(frames.heads[row, joint])) @ rotation @ Matrix.Translation(
        -Vector(frames.rest_joints[joint]))


def set_switches(obj: bpy.types.Object, switches: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Set the rig's custom properties (IK/FK switches); returns the values they had."""
    before: dict[str, dict[str, float]] = {}
    for bone, props in switches.items():
        pose_bone = obj.pose.bones.get(bone)
        for prop, value in props.items():
            if pose_bone is not None and prop in pose_bone:
                before.setdefault(bone, {})[prop] = float(pose_bone[prop])
                pose_bone[prop] = value
    return before


def solve(obj: bpy.types.Object, match: retarget.RigMatch, frames: retarget.JointFrames) -> list:
    """Key channels (``keyframes`` channel tuples) of the controls for every frame of ``frames``.

    Leaves the armature's pose as the last frame's; the caller assigns the take's action afterwards.
    """
    controls = controls_of(obj, match)
    bone_map = match.bone_map
    still = [name for name, joint in controls.items() if joint == REST]
    order = levels(obj, [name for name in controls if name not in still])  # controls at rest need no level
    pose_bones = obj.pose.bones
    rest = {name: pose_bones[name].bone.matrix_local.copy() for name in controls}
    num_frames = len(frames.heads)
    quats = {name: np.empty((num_frames, 4)) for name in controls}
    root_location = np.empty((num_frames, 3))
    view_layer = bpy.context.view_layer
    for name in controls:  # start from the rest pose so nothing the user left posed leaks in
        pose_bones[name].matrix_basis = Matrix.Identity(4)
        quats[name][:] = (1.0, 0.0, 0.0, 0.0)
    view_layer.update()
    for row in range(num_frames):
        for level in order:
            for name in level:
                pose_bone = pose_bones[name]
                pose_bone.matrix = _joint_matrix(frames, row, controls[name]) @ rest[name]
                quats[name][row] = pose_bone.matrix_basis.to_quaternion()
                if name == bone_map.root_control:
                    root_location[row] = pose_bone.matrix_basis.to_translation()
                else:  # FK controls sit on their parents: keep them unmoved, as an animator would
                    pose_bone.location = (0.0, 0.0, 0.0)
                pose_bone.scale = (1.0, 1.0, 1.0)
            view_layer.update()
    channels = []
    for name in sorted(controls):
        continuous = _continuous(quats[name])
        channels += keyframes.rotation_channels(obj, name, continuous)
    channels += keyframes.location_channels(bone_map.root_control, root_location)
    for bone, props in bone_map.switches.items():
        for prop, value in props.items():
            if bone in pose_bones and prop in pose_bones[bone]:
                channels.append(keyframes.property_channel(bone, prop, value, num_frames))
    return channels


def _continuous(quats_T4: np.ndarray) -> np.ndarray:
    out = quats_T4 / np.linalg.norm(quats_T4, axis=-1, keepdims=True)
    for row in range(1, len(out)):
        if np.dot(out[row], out[row - 1]) < 0:
            out[row] = -out[row]
    return out
