"""Read an armature's rest pose from bpy and resolve its bone map; the math is in ``moscale.motion.retarget``."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import bpy
import numpy as np
from moscale.motion import retarget, rigs

from . import control_rig, keyframes, preferences
from .character import BODY_KEY


def read_rest(obj: bpy.types.Object) -> retarget.ArmatureRest:
    """Rest pose in armature space. Orientations come from ``matrix_local.to_quaternion()`` (not ``to_3x3()``,
    which keeps any scale and breaks the quaternion conversion)."""
    bones = obj.data.bones
    names = tuple(bone.name for bone in bones)
    index = {name: i for i, name in enumerate(names)}
    parents = np.array([index[bone.parent.name] if bone.parent else -1 for bone in bones], dtype=np.int64)
    heads = np.array([bone.head_local for bone in bones], dtype=np.float64).reshape(-1, 3)
    tails = np.array([bone.tail_local for bone in bones], dtype=np.float64).reshape(-1, 3)
    quats = np.array([bone.matrix_local.to_quaternion() for bone in bones], dtype=np.float64).reshape(-1, 4)
    rotation = np.array(obj.matrix_world.to_quaternion(), dtype=np.float64)
    return retarget.ArmatureRest(names, parents, heads, tails, quats, rotation)


def match_bones(obj: bpy.types.Object, bone_map_path: str = "") -> rigs.RigMatch:
    """The armature's bone map: a custom JSON when given, else detected from the bone names.

    Raises ``rigs.UnknownRigError`` (the message lists missing bones) or ``ValueError`` for a bad map file.
    """
    names = [bone.name for bone in obj.data.bones]
    if bone_map_path:
        bone_map = rigs.BoneMap.from_json(bpy.path.abspath(bone_map_path))
        match, missing = rigs.match_rig(names, bone_map)
        if match is None:
            raise rigs.UnknownRigError(
                f"Bone map '{bone_map.name}' does not fit armature '{obj.name}': missing bones {', '.join(missing)}.")
        return match
    return rigs.detect_rig(names, _builtin_maps(str(preferences.bone_maps_folder())))


@functools.lru_cache(maxsize=4)
def _builtin_maps(folder: str) -> tuple[rigs.BoneMap, ...]:
    return tuple(rigs.load_bone_maps(folder))


def scene_fps(scene: bpy.types.Scene) -> float:
    return scene.render.fps / scene.render.fps_base


def retarget_motion(obj: bpy.types.Object, match: rigs.RigMatch, joints: np.ndarray, fps: float,
                    out_fps: float, pin_feet: bool = True, edit: retarget.EditRange | None = None,
                    held_frames=(), cycle: bool = False) -> retarget.RetargetResult:
    """Pose channels for ``joints`` (T, 22, 3, Y up, at ``fps``) on ``obj`` at ``out_fps`` (``retarget.retarget_at``);
    with ``pin_feet`` the rig's feet stay put over the motion's contacts, with ``edit`` the keys of an edited range
    meet the kept ones, ``held_frames`` (frames at ``out_fps``: keyed poses) keep the pose the joints give them,
    feet too, and with ``cycle`` (a loop keyed at ``fps == out_fps``, its last frame the first one cycle on) the feet
    are pinned across the cycle's seam (``retarget.joint_frames``). A real SMPL body plays the motion as its AMASS
    export places it (``retarget.plays_as_is``)."""
    return retarget.retarget_at(joints, read_rest(obj), match, fps, out_fps, pin_feet=pin_feet, edit=edit,
                                held_frames=held_frames, cycle=cycle, smpl_body=BODY_KEY in obj)


class RigRefused(ValueError):
    """The rig would not show the keys (constraints override them); worded for a report."""


@dataclass(frozen=True)
class TakeKeys:
    """What one motion becomes on one rig: the key channels, and the armature-space head each mapped joint's bone
    must reach when Blender evaluates the keyed rig (``expected``, (N, 22, 3) at the scene's frame rate)."""

    channels: list
    num_frames: int
    expected: np.ndarray
    controls: bool  # keyed on a control rig's controls (Rigify), not on the mapped bones


def _edit_range(edit, joints: np.ndarray, fps: float) -> retarget.EditRange | None:
    """``take_keys``' ``edit`` as a ``retarget.EditRange`` (the source resampled to ``fps``), or None when there is
    no stored source motion of the joints' length."""
    if edit is None or edit[0] is None:
        return None
    from moscale.motion import Motion

    (source, source_fps), first, last = edit
    if source_fps != fps:
        source = Motion(np.asarray(source, dtype=np.float64), source_fps).resample(fps).joints
    if len(source) != len(joints):
        return None
    return retarget.EditRange(np.asarray(source, dtype=np.float64), int(first), int(last) + 1)


def take_keys(obj: bpy.types.Object, match: rigs.RigMatch, joints: np.ndarray, fps: float,
              out_fps: float, pin_feet: bool = True, edit=None, held_frames=(), cycle: bool = False) -> TakeKeys:
    """Key channels putting ``obj`` into ``joints`` (T, 22, 3, Y up, at ``fps``), at ``out_fps``; ``pin_feet``,
    ``held_frames`` and ``cycle`` as for ``retarget_motion``. ``edit`` is (the take's stored motion (joints, fps) or
    None, first row, last row) for Edit Range: the keys of the take's rows first..last (at ``out_fps``) are replaced,
    and must meet the others (``retarget.joint_frames``)."""
    rest = read_rest(obj)
    edit = _edit_range(edit, joints, fps)
    if control_rig.controls_of(obj, match):
        if out_fps != fps:  # as many frames as any other rig's take (``retarget.retarget_at``)
            joints = retarget.joints_at(joints, fps, out_fps)
            if edit is not None:
                source = retarget.joints_at(edit.source_TJ3, fps, out_fps)
                edit = retarget.EditRange(source, edit.start, edit.stop) if len(source) == len(joints) else None
        frames = retarget.joint_frames(joints, rest, match, fps=out_fps, pin_feet=pin_feet, edit=edit,
                                       held_frames=held_frames, cycle=cycle)
        control_rig.set_switches(obj, match.bone_map.switches)
        channels = control_rig.solve(obj, match, frames)
        return TakeKeys(channels, len(frames.heads), frames.heads, True)
    result = retarget_motion(obj, match, joints, fps, out_fps, pin_feet, edit, held_frames, cycle)
    heads = retarget.posed_heads(rest, result)  # the keyed pose as Blender plays it when nothing overrides it
    index = [rest.index(name) for name in match.bone_of_joint]
    expected = heads[:, index]
    for joint in match.tips:  # a tip is its parent bone's tail
        expected[:, joint] = np.nan
    if match.spanned:  # along the bone spanning them, as ``evaluated_joints`` finds them
        expected = rigs.place_spanned(expected, match.spanned)
    return TakeKeys(keyframes.result_channels(obj, result), result.num_frames, expected, False)


def evaluated_joints(obj: bpy.types.Object, match: rigs.RigMatch, scene: bpy.types.Scene,
                     frame: int) -> np.ndarray:
    """(22, 3) armature-space heads of the mapped bones (tips: their parent bone's tail; spanned joints: along the
    bone spanning them, ``rigs.place_spanned``) as the depsgraph evaluates them at ``frame``: with constraints,
    drivers and everything else that moves them."""
    scene.frame_set(frame)
    evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    points = np.empty((len(match.bone_of_joint), 3))
    for joint, name in enumerate(match.bone_of_joint):
        pose_bone = evaluated.pose.bones[name]
        points[joint] = pose_bone.tail if joint in match.tips else pose_bone.head
    return rigs.place_spanned(points, match.spanned) if match.spanned else points


def check_followed(obj: bpy.types.Object, match: rigs.RigMatch, keys: TakeKeys, frame_start: int,
                   samples: int = 8) -> float:
    """Largest distance (armature units) between the evaluated mapped bones and where the keys put them, over
    ``samples`` frames; raises RigRefused when it is more than 5% of the rig's leg length (a few cm)."""
    scene = bpy.context.scene
    current = scene.frame_current
    rows = np.unique(np.linspace(0, keys.num_frames - 1, min(samples, keys.num_frames)).round().astype(int))
    worst, worst_joint = 0.0, 0
    try:
        for row in rows:
            error = np.linalg.norm(evaluated_joints(obj, match, scene, frame_start + int(row)) - keys.expected[row],
                                   axis=-1)
            error = np.nan_to_num(error, nan=0.0)
            if error.max() > worst:
                worst, worst_joint = float(error.max()), int(error.argmax())
    finally:
        scene.frame_set(current)
    leg = float(retarget.leg_length(retarget.rest_joints_of(read_rest(obj), match)))
    if worst > 0.05 * leg:
        bone = match.bone_of_joint[worst_joint]
        constraints = [f"{c.type}" for c in obj.pose.bones[bone].constraints if not c.mute and c.influence > 0]
        metres = worst * max(obj.matrix_world.to_scale())  # armature units -> scene metres
        raise RigRefused(
            f"Armature '{obj.name}' does not follow keys on its bones: '{bone}' ends up {100 * metres:.1f} cm "
            f"from the motion"
            + (f" (its constraints {', '.join(constraints)} override the keys)" if constraints else "")
            + ". Nothing was changed. Rigify rigs are keyed on their FK controls when the rig has them (generate the "
              "rig with Rigify); otherwise choose a bone map of bones without constraints, or disable the "
              "constraints.")
    return worst
