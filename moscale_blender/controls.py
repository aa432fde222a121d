"""The Generate panel's controls beyond words: a drawn path, poses keyed on the armature, Loop and In Place, between
the scene and the backend's ``moscale.pipeline.control``. Main thread only.

    request, plan = plan_controls(context, request, plan)  # Generate pressed: the scene read into the request
    motion, keyed = take_motion(obj, match, motion, plan.controls, fps)  # the result: what becomes the keys
    frames = finish_take(action, motion, plan.controls, frame_start, fps, frames)  # the user's keys back, cycles

Where a take lands: retargeting (``moscale.motion.retarget.joint_frames``) turns the motion (metres, Y up) Z up,
into armature space through the inverse of the armature object's rotation, scales it by the rig's leg length over
the motion's and puts the rest pelvis over the floor's origin; the object's world matrix then places the armature.
``_Placement`` runs that backwards, so a curve drawn in the viewport becomes a path in the motion's frame that the
pelvis, keyed on the rig, travels over. The motion's leg length is only known once it is generated: the request
uses the model's standard skeleton, and ``take_motion`` moves the take onto the path at the rig's exact scale when
the two differ (``_refit_path``; carrying the finished take along the path again, as a timeline's path is, would
cut the corners: 5 cm mean from the path where the backend's own follow stays at 1 cm).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace

import bpy
import numpy as np
from moscale.motion import retarget
from moscale.motion.paths import GroundPath
from moscale.motion.skeleton import FPS
from moscale.motion.splice import smootherstep

from . import control_rig, keyframes, rig
from .path_objects import path_points

PATH_TYPES = ('CURVE', 'GREASEPENCIL')
BLEND_SECONDS = 0.5  # around a keyed frame the take eases into the user's values over this long: no pop at the key
REFIT_TOLERANCE = 1e-3  # the path's scale error (relative) under which a take is not moved onto the exact path


@dataclass(frozen=True)
class TakeControls:
    """What turning the result into a take needs to know of the controls (``GeneratePlan.controls``)."""

    path_rig: tuple[tuple[float, float], ...] = ()  # the drawn path in the motion's axes, the rig's units (_Placement)
    loop: bool = False
    pose_action: str = ""  # the action the keyed poses were read from
    pose_slot: str = ""    # its slot's identifier (5.0+)
    pose_frames: tuple[int, ...] = ()  # the keyed scene frames


@dataclass(frozen=True)
class _Placement:
    """A rig's placement of takes: world = matrix @ (scale * R^-1 * z_up(motion) + ground), R the object's rotation."""

    matrix: np.ndarray    # (4, 4) the armature object's world matrix
    rotation: np.ndarray  # (3, 3) its rotation (retarget.ArmatureRest.object_rotation)
    ground: np.ndarray    # (3,) the rest pelvis over the floor, armature space
    leg: float            # the rig's leg length, armature units; 0: the SMPL character made from the motion itself

    def motion_axes(self, world_N3: np.ndarray) -> np.ndarray:
        """(N, 3) world points in the motion's axes (x, y up, z) but the rig's units: the motion frame times scale."""
        local = (np.asarray(world_N3, dtype=np.float64) - self.matrix[:3, 3]) @ np.linalg.inv(self.matrix[:3, :3]).T
        z_up = (local - self.ground) @ self.rotation.T
        return np.stack([z_up[:, 0], z_up[:, 2], -z_up[:, 1]], axis=-1)  # retarget.to_z_up undone

    def scale(self, joints_TJ3: np.ndarray | None = None) -> float:
        """Rig units per motion metre: retargeting's leg ratio for `joints`, else for the model's standard skeleton."""
        if not self.leg:
            return 1.0  # the character is built with the motion's own proportions
        motion = retarget.smpl_rest_joints() if joints_TJ3 is None else np.asarray(joints_TJ3, dtype=np.float64)
        return self.leg / float(np.mean(retarget.leg_length(motion)))


def _placement(obj: bpy.types.Object | None, match) -> _Placement:
    if obj is None:  # the SMPL character Generate creates: at the origin, unturned, pelvis over the origin
        return _Placement(np.eye(4), np.eye(3), np.zeros(3), 0.0)
    joints = retarget.rest_joints_of(rig.read_rest(obj), match)
    rotation = np.array(obj.matrix_world.to_quaternion().to_matrix(), dtype=np.float64)
    up = rotation.T @ np.array([0.0, 0.0, 1.0])
    ground = joints[0] - np.dot(joints[0], up) * up
    return _Placement(np.array(obj.matrix_world, dtype=np.float64), rotation, ground,
                      float(retarget.leg_length(joints)))


# ----------------------------------------------------------------------------------------------- reading the scene


def _slot_fcurves(action: bpy.types.Action, identifier: str) -> list:
    """The F-curves of one slot of `action` (the whole action before 5.0, or for a legacy action)."""
    slots = getattr(action, "slots", None)
    if not slots or not getattr(action, "layers", None):
        return list(getattr(action, "fcurves", ()))
    from bpy_extras import anim_utils

    slot = next((s for s in slots if s.identifier == identifier), slots[0])
    bag = anim_utils.action_get_channelbag_for_slot(action, slot)
    return list(bag.fcurves) if bag is not None else []


def _pose_source(settings, obj: bpy.types.Object) -> tuple[bpy.types.Action, str, dict | None]:
    """(action, slot identifier, switches to play it with or None) of the armature's own keys: the action it plays
    unless MoScale made it, else its original take (the action it had before MoScale's first take on it)."""
    data = obj.animation_data
    made = {take.action for take in settings.takes if take.kind != 'ORIGINAL' and take.action is not None}
    if data is not None and data.action is not None and data.action not in made:
        slot = getattr(data, "action_slot", None)
        return data.action, slot.identifier if slot is not None else "", None
    for take in reversed(settings.takes):
        if take.armature == obj and take.kind == 'ORIGINAL' and take.action is not None:
            slots = getattr(take.action, "slots", None)
            switches = json.loads(take.rig_state).get("switches", {}) if take.rig_state else {}
            return take.action, slots[0].identifier if slots else "", switches
    raise ValueError(f"Keyed Poses: armature '{obj.name}' has no keys of its own. Pose it and key (I) the poses the "
                     "take should pass through, or switch Keyed Poses off.")


def _keyed_poses(context, obj: bpy.types.Object, match, placement: _Placement, scale: float,
                 seconds: float | None) -> tuple[dict[int, np.ndarray], TakeControls]:
    """{motion frame: (22, 3) joints in metres} of the armature's keyed frames inside the take (`seconds` None: a
    path sets its length, which passes the last key: the keys in the scene's frame range), evaluated through the
    depsgraph with the keys' own action playing, and where they came from."""
    scene = context.scene
    action, slot, switches = _pose_source(context.scene.moscale, obj)
    fps = rig.scene_fps(scene)
    first, last = scene.frame_start, scene.frame_end
    if seconds is not None:
        last = scene.frame_start + round(round(seconds * FPS) * fps / FPS) - 1
    keyed = set()
    for fcurve in _slot_fcurves(action, slot):
        co = np.empty(2 * len(fcurve.keyframe_points))
        fcurve.keyframe_points.foreach_get("co", co)
        keyed |= {int(round(frame)) for frame in co[0::2] if first <= round(frame) <= last}
    if not keyed:
        inside = "the take's" if seconds is not None else "the scene's"
        raise ValueError(f"Keyed Poses: action '{action.name}' of armature '{obj.name}' has no keys inside {inside} "
                         f"frames {first}-{last}: key poses there, or switch Keyed Poses off.")
    data = obj.animation_data
    playing = (data.action, getattr(data, "action_slot", None)) if data is not None else (None, None)
    current = scene.frame_current
    before = control_rig.set_switches(obj, switches) if switches is not None else None
    poses, frames = {}, []
    try:
        keyframes.assign(obj, action)
        for frame in sorted(keyed):
            motion_frame = int(round((frame - first) * FPS / fps))
            if motion_frame in poses:
                continue  # two scene frames on one motion frame (scene rates above 20 fps): the first is the pose
            armature = rig.evaluated_joints(obj, match, scene, frame)
            world = armature @ placement.matrix[:3, :3].T + placement.matrix[:3, 3]
            poses[motion_frame] = placement.motion_axes(world) / scale
            frames.append(frame)
    finally:
        keyframes.assign(obj, playing[0])
        if playing[1] is not None:
            obj.animation_data.action_slot = playing[1]
        if before is not None:
            control_rig.set_switches(obj, before)
        scene.frame_set(current)
    return poses, TakeControls(pose_action=action.name, pose_slot=slot, pose_frames=tuple(frames))


def _target(settings, plan) -> bpy.types.Object | None:
    """The armature the take will go on (checked by the plan); None: the SMPL character Generate creates."""
    obj = bpy.data.objects.get(plan.target) if plan.target else settings.smpl_character
    return obj if obj is not None and obj.type == 'ARMATURE' and obj.users_scene else None


def plan_controls(context: bpy.types.Context, request, plan):
    """The panel's Path, Keyed Poses, Loop and In Place read into Generate's request (jobs.GenerateRequest) and plan
    (takes.GeneratePlan, whose target is checked). Raises ValueError with what to fix."""
    settings = context.scene.moscale
    path_object = settings.path_object
    if path_object is None and not (settings.keyed_poses or settings.loop or settings.in_place):
        return request, plan
    obj = _target(settings, plan)
    match = rig.match_bones(obj, plan.bone_map_path) if obj is not None else None
    placement = _placement(obj, match)
    scale = placement.scale()
    changes = dict(loop=bool(settings.loop), in_place=bool(settings.in_place))
    controls = TakeControls(loop=bool(settings.loop))
    if path_object is not None:
        if path_object.type not in PATH_TYPES:
            raise ValueError(f"Path '{path_object.name}' is not a curve or Grease Pencil object.")
        world, note = path_points(path_object, context.evaluated_depsgraph_get())
        points = placement.motion_axes(world)[:, [0, 2]]
        try:
            path = GroundPath.from_points(points / scale)
        except ValueError as error:
            raise ValueError(f"Path '{path_object.name}': {error}") from error
        changes.update(path=tuple(map(tuple, path.points.tolist())), path_sets_length=bool(settings.length_from_path),
                       notes=(note,) if note else ())
        controls = replace(controls, path_rig=tuple(map(tuple, points.tolist())))
    if settings.keyed_poses:
        if obj is None:
            raise ValueError("Keyed Poses reads the poses keyed on the target armature, and there is none yet: create "
                             "the SMPL character (or select your armature), key poses on it, then Generate.")
        length_from_path = path_object is not None and settings.length_from_path
        poses, source = _keyed_poses(context, obj, match, placement, scale,
                                     None if length_from_path else float(settings.seconds))
        changes["poses"] = tuple(sorted(poses.items()))
        controls = replace(source, path_rig=controls.path_rig, loop=controls.loop)
    return replace(request, **changes), replace(plan, controls=controls)


# ----------------------------------------------------------------------------------------------- writing the take


def take_motion(obj: bpy.types.Object, match, motion, controls: TakeControls | None, fps: float) -> tuple:
    """(the take's motion, the motion to key at `fps`): a path take moved onto the path at this rig's exact scale; a
    loop keyed through the end of its cycle (``_cycle_motion``)."""
    if controls is None:
        return motion, motion
    if controls.path_rig:
        motion = _refit_path(obj, match, motion, np.asarray(controls.path_rig, dtype=np.float64))
    return motion, _cycle_motion(motion, fps) if controls.loop else motion


def key_options(motion, controls: TakeControls | None, frame_start: int, fps: float) -> dict:
    """What the rig's pinned feet must keep of the controls (``rig.take_keys``' options): ``held_frames``, the rows
    of the keys (scene frames from `frame_start`) holding the user's keyed poses (``finish_take`` keys them; a loop's
    keyed first frame also one cycle on), where the take's pose stays as it is, feet too (a plant through one pinned
    where the key has the foot), as the backend keeps it; ``cycle`` for a loop (keyed through the repetition's first
    frame, ``_cycle_motion``): the feet pinned as the cycle repeats, so the cycle's end meets its start."""
    if controls is None:
        return {}
    rows = {int(frame) - frame_start for frame in controls.pose_frames}
    if controls.loop and frame_start in controls.pose_frames:
        rows.add(_cycle_frames(len(motion.joints), motion.fps, fps))
    return {"held_frames": tuple(sorted(rows)), "cycle": bool(controls.loop)}


def _cycle_motion(motion, fps: float):
    """A loop at the scene's rate: every scene frame before the cycle's end, then its next repetition's first frame
    (the first moved by the cycle's travel), so the F-curves end where the cycle starts again. A cycle that is not a
    whole number of scene frames long (44 motion frames at 24 fps: 52.8) gets that last key moved onto the cycle's
    end by ``finish_take``."""
    from moscale.motion import Motion
    from moscale.motion.cycles import repeated

    joints = np.asarray(motion.joints, dtype=np.float64)
    twice = repeated(joints, np.asarray(motion.metadata.get("cycle_offset", (0.0, 0.0)), dtype=np.float64), 2)
    positions = np.arange(_cycle_frames(len(joints), motion.fps, fps)) * (motion.fps / fps)
    lower = np.floor(positions).astype(np.int64)
    weight = (positions - lower)[:, None, None]
    keyed = np.concatenate([twice[lower] * (1 - weight) + twice[lower + 1] * weight, twice[len(joints)][None]])
    return Motion(keyed.astype(np.float32), fps=fps, prompt=motion.prompt, metadata=motion.metadata)


def _cycle_frames(motion_frames: int, motion_fps: float, fps: float) -> int:
    """Whole scene frames in one cycle: those before its end (its first frame included, its repetition's not)."""
    return int(np.ceil(motion_frames * fps / motion_fps - 1e-6))


def _refit_path(obj, match, motion, path_rig_N2: np.ndarray):
    """The take on the path at this rig's exact scale. The backend followed the path at the estimated scale, which
    differs from the exact one by a factor c (the path about the motion frame's origin): each frame moves by (c - 1)
    times its travel line, so the pelvis (with its sway) lands on the exact path, and the feet are pinned again where
    they were planted, as the backend pins them after following a path."""
    from moscale.motion import Motion, feet
    from moscale.motion.paths import travel_line

    exact = GroundPath.from_points(path_rig_N2 / _placement(obj, match).scale(motion.joints))
    used = float(motion.metadata.get("path_length_m") or exact.length_m)
    factor = exact.length_m / used
    if abs(factor - 1.0) < REFIT_TOLERANCE:
        return motion
    joints = np.asarray(motion.joints, dtype=np.float64)
    line = travel_line(joints, motion.fps)
    moved = joints + ((factor - 1.0) * np.stack([line[:, 0], np.zeros(len(line)), line[:, 1]], axis=-1))[:, None]
    if motion.metadata.get("foot_lock", True):
        moved = feet.lock_feet(moved, feet.contacts_from_joints(joints, motion.fps) & feet.near_floor(moved))
    metadata = dict(motion.metadata, path=exact.points.round(4).tolist(), path_length_m=round(exact.length_m, 4))
    return Motion(np.asarray(moved, dtype=np.float32), fps=motion.fps, prompt=motion.prompt, metadata=metadata)


def finish_take(action: bpy.types.Action, motion, controls: TakeControls | None, frame_start: int, fps: float,
                frames: int) -> int:
    """After the take's keys are written: the user's own values at the keyed frames, a loop's cycle. Returns the
    take's length in scene frames (a loop: one cycle, for Export and Edit Range)."""
    if controls is None:
        return frames
    offset = motion.metadata.get("cycle_offset", (0.0, 0.0))
    cycle = _cycle_frames(len(motion.joints), motion.fps, fps) if controls.loop else 0
    if controls.pose_frames:
        # a loop's keyed first frame is also the pose its cycle returns to: the repetition's first frame (the take's
        # last key, `cycle` frames on) gets the user's values too, the cycle's end easing into them
        returns = controls.loop and frame_start in controls.pose_frames
        _restore_user_keys(action, controls, fps, (frame_start + cycle, _travels(offset)) if returns else None)
    if controls.loop:
        keyframes.store_motion(action, motion.joints, motion.fps)  # one cycle, not the repetition's first frame
        period = len(motion.joints) * fps / motion.fps  # scene frames
        _make_cycle(action, offset, frame_start, cycle, period)
        frames = cycle
    return frames


def _travels(offset) -> bool:
    return bool(np.any(np.abs(np.asarray(offset, dtype=np.float64)) > 1e-9))


def _repeats_with_offset(data_path: str, travels: bool) -> bool:
    """A cycled F-curve repeats with the cycle's offset (REPEAT_OFFSET): the locations of a loop that travels."""
    return travels and data_path.endswith("location")


def _make_cycle(action: bpy.types.Action, offset, first: int, frames: int, period: float) -> None:
    """Cycles modifiers on the F-curves keyed over the whole cycle, their last key (the repetition's first frame,
    written `frames` after the first) moved onto the cycle's end: locations (the root's travel) repeat with their
    offset when the loop travels, the rest repeat as they are. The action's manual range is the cycle, flagged
    cyclic (for the NLA and exporters). A channel only the user's keyed poses key is left to hold between them."""
    travels = _travels(offset)
    for fcurve in keyframes.action_fcurves(action):
        points = fcurve.keyframe_points
        if not len(points) or points[0].co[0] != first or points[-1].co[0] != first + frames:
            continue
        if frames != period:
            points[-1].co[0] = first + period
            fcurve.update()
        for modifier in [m for m in fcurve.modifiers if m.type == 'CYCLES']:
            fcurve.modifiers.remove(modifier)
        cycles = fcurve.modifiers.new('CYCLES')
        mode = 'REPEAT_OFFSET' if _repeats_with_offset(fcurve.data_path, travels) else 'REPEAT'
        cycles.mode_before = cycles.mode_after = mode
    action.use_frame_range = True
    action.frame_start, action.frame_end = first, first + period
    action.use_cyclic = True


def _restore_user_keys(action: bpy.types.Action, controls: TakeControls, fps: float, cycle=None) -> None:
    """The user's values at the keyed frames, bit for bit, on the take's F-curves (a channel the take does not key gets
    the user's keys at those frames); the take eases into them over BLEND_SECONDS on each side. With `cycle` (the
    loop's repetition frame, whether it travels) the first keyed frame's values are also keyed there: as they are,
    or moved by the take's own travel over the cycle on the locations that repeat with an offset."""
    source = bpy.data.actions.get(controls.pose_action)
    if source is None:
        return  # deleted while the job ran: nothing to copy from
    frames = np.array(controls.pose_frames, dtype=np.float64)
    take = {(fc.data_path, fc.array_index): fc for fc in keyframes.action_fcurves(action)}
    user = {(fc.data_path, fc.array_index): (fc, _user_values(fc, frames)) for fc in _slot_fcurves(source, controls.pose_slot)}
    signs = _quaternion_signs(take, user, frames)
    first = int(np.argmin(frames))
    for (path, index), (fcurve, values) in user.items():
        target = take.get((path, index))
        if target is None:
            target = keyframes._new_fcurve(action, path, index, fcurve.group.name if fcurve.group else "")
            keyframes._set_points(target, frames.astype(np.float32), values,
                                  np.full(len(frames), keyframes._LINEAR, dtype=np.int32))
            continue
        radius = 0.0 if '["' in path.rpartition(".")[2] else BLEND_SECONDS * fps  # switches flip, they do not ease
        sign = signs.get(path, np.ones(len(frames)))
        keyed, wanted = frames, values
        if cycle is not None:
            end, travels = cycle
            again = values[first]
            if _repeats_with_offset(path, travels):  # the key moved by this channel's travel over one cycle
                again = np.float32(values[first] + target.evaluate(end) - target.evaluate(frames[first]))
            keyed, wanted, sign = np.append(frames, end), np.append(values, again), np.append(sign, sign[first])
        _ease_into(target, keyed, wanted, sign, radius)


def _user_values(fcurve: bpy.types.FCurve, frames: np.ndarray) -> np.ndarray:
    """(K,) float32: the key's own value where the F-curve has a key at the frame, else its value there."""
    co = np.empty(2 * len(fcurve.keyframe_points), dtype=np.float32)
    fcurve.keyframe_points.foreach_get("co", co)
    values = np.array([fcurve.evaluate(frame) for frame in frames], dtype=np.float32)
    for row, frame in enumerate(frames):
        at = np.flatnonzero(co[0::2] == np.float32(frame))
        if at.size:
            values[row] = co[1::2][at[-1]]
    return values


def _quaternion_signs(take: dict, user: dict, frames: np.ndarray) -> dict[str, np.ndarray]:
    """Per quaternion data path, +-1 per keyed frame: the user's quaternion's sign nearest the take's (q and -q are
    one rotation; easing toward the far sign would pass through zero)."""
    signs = {}
    for path in {p for p, _ in user if p.endswith("rotation_quaternion")}:
        if not all((path, i) in user and (path, i) in take for i in range(4)):
            continue
        mine = np.stack([user[(path, i)][1] for i in range(4)], axis=-1)
        theirs = np.stack([[take[(path, i)].evaluate(frame) for frame in frames] for i in range(4)], axis=-1)
        signs[path] = np.where((mine * theirs).sum(-1) < 0, -1.0, 1.0)
    return signs


def _ease_into(fcurve: bpy.types.FCurve, frames: np.ndarray, values: np.ndarray, signs: np.ndarray,
               radius: float) -> None:
    """Key `values` at `frames` exactly; keys within `radius` frames (at most half way to the next keyed frame) move
    by a smoothly fading share of the change at their keyed frame."""
    count = len(fcurve.keyframe_points)
    co = np.empty(2 * count, dtype=np.float32)
    interpolation = np.empty(count, dtype=np.int32)
    fcurve.keyframe_points.foreach_get("co", co)
    fcurve.keyframe_points.foreach_get("interpolation", interpolation)
    key_frames, old = co[0::2].astype(np.float64), co[1::2].astype(np.float64)
    new = old.copy()
    gaps = np.diff(frames)
    for row, frame in enumerate(frames):
        reach = min([radius] + [gap / 2 for gap in gaps[max(row - 1, 0): row + 1]])
        change = signs[row] * float(values[row]) - float(np.interp(frame, key_frames, old))
        if reach > 1:
            distance = np.abs(key_frames - frame) / reach
            new += change * np.where(distance < 1, 1.0 - smootherstep(np.minimum(distance, 1.0)), 0.0)
    missing = [frame for frame in frames if not np.any(key_frames == frame)]
    key_frames = np.concatenate([key_frames, missing])
    new = np.concatenate([new, np.zeros(len(missing))])
    interpolation = np.concatenate([interpolation, np.full(len(missing), keyframes._LINEAR, dtype=np.int32)])
    order = np.argsort(key_frames, kind="stable")
    key_frames, new, interpolation = key_frames[order], new[order].astype(np.float32), interpolation[order]
    for row, frame in enumerate(frames):
        new[key_frames == frame] = values[row]  # the user's value, bit for bit
    keyframes._set_points(fcurve, key_frames.astype(np.float32), new, interpolation)
