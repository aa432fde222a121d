"""Control rigs (Rigify): their deform bones follow control bones through constraints, so keys on the deform
bones do nothing. Animators key the FK controls, torso and hips; so does MoScale.

Each control carries one SMPL joint's rigid motion (``moscale.motion.retarget.JointFrames``): its armature-space matrix
is the joint's transform applied to the control's rest matrix. Which local channels give that matrix depends on
the rig's MCH bones and constraints, so Blender evaluates them: per frame, controls are set level by level (a
control after every control it depends on, through parents or constraint targets), each from its parent's
evaluated pose, with one depsgraph update per level. Only the main thread may call this.
"""
from __future__ import annotations

import bpy
import numpy as np
from mathutils import Matrix, Quaternion, Vector
from moscale.motion import retarget, rigs
from moscale.motion.skeleton import JOINT_NAMES

from . import keyframes

REST = -1  # a control keyed at its rest pose (``"rest"`` in the bone map)


def controls_of(obj: bpy.types.Object, match: rigs.RigMatch) -> dict[str, int]:
    """Control bone -> SMPL joint index when ``match``'s map drives this rig through controls it has, else {}."""
    bone_map = match.bone_map
    if bone_map is None or not bone_map.controls:
        return {}
    bones = obj.pose.bones
    if not all(name in bones for name in bone_map.controls) or (bone_map.root_control not in bones):
        return {}
    return {name: REST if joint == "rest" else JOINT_NAMES.index(joint)
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


def _rest_relative(pose_bone) -> Matrix:
    """The bone's rest matrix in its parent's rest frame (Blender's pose = parent pose @ this @ basis)."""
    bone = pose_bone.bone
    return bone.matrix_local.copy() if bone.parent is None else bone.parent.matrix_local.inverted() @ bone.matrix_local


def _close(a: Matrix, b: Matrix, tolerance: float = 1e-4) -> bool:
    return all(abs(a[r][c] - b[r][c]) <= tolerance for r in range(4) for c in range(4))


def _probe_anchors(obj, ordered: list[str], upstream: dict[str, set[str]], root: str,
                   probes: int = 3) -> dict[str, tuple[str | None, Matrix]]:
    """Controls whose parent's pose is a fixed transform of one control's pose (or fixed), found by posing every
    control at random ``probes`` times: control -> (that control or None, the transform). Their parents' poses
    are then known without asking the depsgraph, which is what makes the solve fast; the others are evaluated.
    A control whose own pose is not ``parent @ rest_relative @ basis`` (unusual inherit settings) is left out."""
    pose_bones = obj.pose.bones
    rng = np.random.default_rng(0)
    records = []
    for _ in range(probes):
        for name in ordered:
            axis = rng.normal(size=3)
            basis = Quaternion(axis / np.linalg.norm(axis), float(rng.uniform(0.2, 1.0))).to_matrix().to_4x4()
            if name == root:
                basis.translation = Vector(rng.normal(scale=0.1, size=3))
            pose_bones[name].matrix_basis = basis
        bpy.context.view_layer.update()
        records.append({name: (pose_bones[name].matrix.copy(),
                               pose_bones[name].parent.matrix.copy() if pose_bones[name].parent else Matrix.Identity(4),
                               pose_bones[name].matrix_basis.copy()) for name in ordered})
    anchors: dict[str, tuple[str | None, Matrix]] = {}
    for name in ordered:
        relative = _rest_relative(pose_bones[name])
        if not all(_close(r[name][0], r[name][1] @ relative @ r[name][2]) for r in records):
            continue
        for anchor in [None] + sorted(upstream[name]):
            offsets = [(r[anchor][0].inverted() @ r[name][1]) if anchor else r[name][1] for r in records]
            if all(_close(offset, offsets[0]) for offset in offsets[1:]):
                anchors[name] = (anchor, offsets[0])
                break
    for name in ordered:
        pose_bones[name].matrix_basis = Matrix.Identity(4)
    return anchors


def solve(obj: bpy.types.Object, match: rigs.RigMatch, frames: retarget.JointFrames) -> list:
    """Key channels (``keyframes`` channel tuples) of the controls for every frame of ``frames``.

    Leaves the armature's pose at rest or as some frame's; the caller assigns the take's action afterwards.
    """
    controls = controls_of(obj, match)
    bone_map = match.bone_map
    root = bone_map.root_control
    still = [name for name, joint in controls.items() if joint == REST]
    moving = [name for name in controls if name not in still]
    order = levels(obj, moving)  # controls at rest need no level
    ordered = [name for level in order for name in level]
    depends = _dependencies(obj)
    upstream = {name: _upstream_controls(depends, name, set(ordered[:i])) for i, name in enumerate(ordered)}
    pose_bones = obj.pose.bones
    view_layer = bpy.context.view_layer
    for name in controls:  # start from the rest pose so nothing the user left posed leaks in
        pose_bones[name].matrix_basis = Matrix.Identity(4)
    anchors = _probe_anchors(obj, ordered, upstream, root)
    view_layer.update()
    rest = {name: pose_bones[name].bone.matrix_local.copy() for name in controls}
    relative = {name: _rest_relative(pose_bones[name]) for name in ordered}
    num_frames = len(frames.heads)
    quats = {name: np.tile([1.0, 0.0, 0.0, 0.0], (num_frames, 1)) for name in controls}
    root_location = np.zeros((num_frames, 3))
    for row in range(num_frames):
        poses: dict[str, Matrix] = {}
        dirty = False
        for name in ordered:
            pose_bone = pose_bones[name]
            desired = _joint_matrix(frames, row, controls[name]) @ rest[name]
            if name in anchors:
                anchor, offset = anchors[name]
                parent = offset if anchor is None else poses[anchor] @ offset
            else:  # the depsgraph knows: bring it up to date with this frame's controls so far
                if dirty:
                    view_layer.update()
                    dirty = False
                parent = pose_bone.parent.matrix.copy() if pose_bone.parent else Matrix.Identity(4)
            basis = (parent @ relative[name]).inverted() @ desired
            location, rotation, _ = basis.decompose()
            if name != root:  # FK controls sit on their parents: keep them unmoved, as an animator would
                location = Vector((0.0, 0.0, 0.0))
            basis = Matrix.Translation(location) @ rotation.to_matrix().to_4x4()
            quats[name][row] = rotation
            if name == root:
                root_location[row] = location
            poses[name] = parent @ relative[name] @ basis
            pose_bone.matrix_basis = basis
            dirty = True
    channels = []
    for name in sorted(controls):
        channels += keyframes.rotation_channels(obj, name, _continuous(quats[name]))
    channels += keyframes.location_channels(root, root_location)
    for bone, props in bone_map.switches.items():
        for prop, value in props.items():
            if bone in pose_bones and prop in pose_bones[bone]:
                channels.append(keyframes.property_channel(bone, prop, value, num_frames))
    return channels


def _upstream_controls(depends: dict[str, set[str]], name: str, controls: set[str]) -> set[str]:
    """The controls among ``controls`` that ``name``'s evaluation reads, directly or through other bones."""
    seen, stack = set(), [name]
    while stack:
        for other in depends.get(stack.pop(), ()):
            if other not in seen:
                seen.add(other)
                stack.append(other)
    return seen & controls


def _continuous(quats_T4: np.ndarray) -> np.ndarray:
    out = quats_T4 / np.linalg.norm(quats_T4, axis=-1, keepdims=True)
    for row in range(1, len(out)):
        if np.dot(out[row], out[row - 1]) < 0:
            out[row] = -out[row]
    return out
