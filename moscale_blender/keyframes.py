"""Actions and keyframes: one new action per take, written with ``keyframe_points.add`` + ``foreach_set``.

Blender 5.0 keeps F-curves in a channelbag per action slot (``Action.fcurves`` is gone); 4.2-4.3 only have
``Action.fcurves``. ``_fcurves`` is the one place that knows the difference.
"""
from __future__ import annotations

import bpy
import numpy as np
from moscale.motion.retarget import RetargetResult

_LINEAR = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items["LINEAR"].value
MOTION_KEY = "moscale_joints"  # ID property on each take's action: the motion it was made from (flat, Y up, metres)


_SLOTTED = bpy.app.version >= (5, 0, 0)  # 4.4-4.5 have slots too, but keep their legacy Action.fcurves working


def _fcurves(action: bpy.types.Action):
    """Where the F-curves live: the first slot's channelbag (5.0+), else the action itself (``action.fcurves``)."""
    if _SLOTTED:
        from bpy_extras import anim_utils

        slot = action.slots[0] if len(action.slots) else action.slots.new(id_type='OBJECT', name="MoScale")
        return anim_utils.action_ensure_channelbag_for_slot(action, slot)
    return action


def _new_fcurve(action: bpy.types.Action, data_path: str, index: int, group: str) -> bpy.types.FCurve:
    if _SLOTTED:
        return _fcurves(action).fcurves.new(data_path, index=index, group_name=group)
    return action.fcurves.new(data_path, index=index, action_group=group)


def action_fcurves(action: bpy.types.Action) -> list[bpy.types.FCurve]:
    return list(_fcurves(action).fcurves)


def fcurve_paths(action: bpy.types.Action | None) -> set[str]:
    """The data paths ``action`` animates, in any layer, strip and slot (read only: no slot is made)."""
    if action is None:
        return set()
    if not getattr(action, "layers", None):  # before 4.4, or a legacy action
        return {fc.data_path for fc in getattr(action, "fcurves", ())}
    return {fc.data_path for layer in action.layers for strip in layer.strips for bag in strip.channelbags
            for fc in bag.fcurves}


def new_action(name: str, obj: bpy.types.Object) -> bpy.types.Action:
    """An empty action (with one object slot on 5.0+) that survives saving even when no object uses it."""
    action = bpy.data.actions.new(name)
    if _SLOTTED:
        action.slots.new(id_type='OBJECT', name=obj.name)
    action.use_fake_user = True
    return action


def assign(obj: bpy.types.Object, action: bpy.types.Action | None) -> None:
    if obj.animation_data is None:
        obj.animation_data_create()
    obj.animation_data.action = action
    if action is not None and hasattr(action, "slots") and len(action.slots):
        obj.animation_data.action_slot = action.slots[0]


Channel = tuple  # (data_path, index, group, values (T,))


def _bone_path(name: str, prop: str) -> str:
    return f'pose.bones["{bpy.utils.escape_identifier(name)}"].{prop}'


def rotation_channels(obj: bpy.types.Object, name: str, quats_T4: np.ndarray) -> list:
    """Keys for one bone's rotations in the bone's *own* rotation mode (Euler of any order, axis-angle or
    quaternion), so the user's other actions, which key that mode, keep playing as they were made."""
    from mathutils import Quaternion

    mode = obj.pose.bones[name].rotation_mode
    if mode == 'QUATERNION':
        return [(_bone_path(name, "rotation_quaternion"), i, name, quats_T4[:, i]) for i in range(4)]
    if mode == 'AXIS_ANGLE':
        values = np.empty((len(quats_T4), 4))
        for row, quat in enumerate(quats_T4):
            axis, angle = Quaternion(quat).to_axis_angle()
            values[row] = (angle, *axis)
        return [(_bone_path(name, "rotation_axis_angle"), i, name, values[:, i]) for i in range(4)]
    values, previous = np.empty((len(quats_T4), 3)), None
    for row, quat in enumerate(quats_T4):
        euler = Quaternion(quat).to_euler(mode) if previous is None else Quaternion(quat).to_euler(mode, previous)
        values[row], previous = euler, euler  # compatible with the previous frame: no 360 degree jumps
    return [(_bone_path(name, "rotation_euler"), i, name, values[:, i]) for i in range(3)]


def location_channels(name: str, location_T3: np.ndarray) -> list:
    return [(_bone_path(name, "location"), i, name, location_T3[:, i]) for i in range(3)]


def result_channels(obj: bpy.types.Object, result: RetargetResult) -> list:
    """Every channel of ``result`` on ``obj``: rotations in each bone's own mode, the root bone's location."""
    channels = []
    for column, name in enumerate(result.bone_names):
        channels += rotation_channels(obj, name, result.rotations[:, column])
    return channels + location_channels(result.root_bone, result.root_location)


def property_channel(bone: str, prop: str, value: float, num_frames: int) -> Channel:
    path = f'pose.bones["{bpy.utils.escape_identifier(bone)}"]["{bpy.utils.escape_identifier(prop)}"]'
    return path, 0, bone, np.full(num_frames, float(value))


def _set_points(fcurve: bpy.types.FCurve, frames: np.ndarray, values: np.ndarray, interpolation: np.ndarray) -> None:
    points = fcurve.keyframe_points
    points.clear()
    points.add(len(frames))
    co = np.empty(2 * len(frames), dtype=np.float32)
    co[0::2], co[1::2] = frames, values
    points.foreach_set("co", co)
    points.foreach_set("interpolation", interpolation.astype(np.int32))
    fcurve.update()


def write_keys(action: bpy.types.Action, channels: list, frame_start: int) -> None:
    """Key every channel (``result_channels``) at frames frame_start, frame_start + 1, ... (linear interpolation)."""
    frames = frame_start + np.arange(len(channels[0][3]), dtype=np.float32)
    linear = np.full(len(frames), _LINEAR, dtype=np.int32)
    existing = {(fc.data_path, fc.array_index): fc for fc in action_fcurves(action)}
    for path, index, group, values in channels:
        fcurve = existing.get((path, index)) or _new_fcurve(action, path, index, group)
        _set_points(fcurve, frames, values, linear)


def replace_range(action: bpy.types.Action, channels: list, frame_start: int, first: int, last: int) -> None:
    """Replace the keys at frames first..last (inclusive) with ``channels``' (whose frame 0 sits at ``frame_start``).

    Keys outside the range are written back from their own float32 values, so they stay bit-identical.
    """
    new_frames = np.arange(first, last + 1)
    rows = new_frames - frame_start
    if rows.min() < 0 or rows.max() >= len(channels[0][3]):
        raise ValueError(f"frames {first}-{last} are not covered by the edited motion")
    existing = {(fc.data_path, fc.array_index): fc for fc in action_fcurves(action)}
    for path, index, group, values in channels:
        fcurve = existing.get((path, index)) or _new_fcurve(action, path, index, group)
        count = len(fcurve.keyframe_points)
        co = np.empty(2 * count, dtype=np.float32)
        interpolation = np.empty(count, dtype=np.int32)
        fcurve.keyframe_points.foreach_get("co", co)
        fcurve.keyframe_points.foreach_get("interpolation", interpolation)
        old_frames, old_values = co[0::2], co[1::2]
        keep = (old_frames < first) | (old_frames > last)
        frames = np.concatenate([old_frames[keep], new_frames.astype(np.float32)])
        merged = np.concatenate([old_values[keep], values[rows].astype(np.float32)])
        interp = np.concatenate([interpolation[keep], np.full(len(new_frames), _LINEAR, dtype=np.int32)])
        order = np.argsort(frames, kind="stable")
        _set_points(fcurve, frames[order], merged[order], interp[order])


def read_channel(action: bpy.types.Action, data_path: str, index: int) -> np.ndarray:
    """(N, 2) float32 (frame, value) keys of one F-curve."""
    for fcurve in action_fcurves(action):
        if fcurve.data_path == data_path and fcurve.array_index == index:
            co = np.empty(2 * len(fcurve.keyframe_points), dtype=np.float32)
            fcurve.keyframe_points.foreach_get("co", co)
            return co.reshape(-1, 2)
    raise KeyError(f"no F-curve {data_path}[{index}]")


def store_motion(action: bpy.types.Action, joints: np.ndarray, fps: float) -> None:
    """Keep the take's source motion on its action (saved with the .blend, copied with the action)."""
    joints = np.asarray(joints, dtype=np.float64)
    action[MOTION_KEY] = joints.ravel().tolist()
    action[MOTION_KEY + "_frames"] = int(len(joints))
    action[MOTION_KEY + "_fps"] = float(fps)


def stored_motion(action: bpy.types.Action | None) -> tuple[np.ndarray, float] | None:
    """(joints (T, 22, 3), fps) stored by ``store_motion``, or None."""
    if action is None or MOTION_KEY not in action:
        return None
    flat = np.asarray(action[MOTION_KEY].to_list() if hasattr(action[MOTION_KEY], "to_list") else action[MOTION_KEY])
    return flat.reshape(int(action[MOTION_KEY + "_frames"]), 22, 3), float(action[MOTION_KEY + "_fps"])
