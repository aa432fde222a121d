"""Takes: every generated or edited action, kept side by side; switching assigns one to its armature.

``plan_generate`` / ``plan_edit`` check everything the user can get wrong *before* a job starts (so a bad input
changes nothing); ``apply_generate`` / ``apply_edit`` turn a job's motions into new takes. Nothing here
overwrites an existing take.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import bpy
import numpy as np
from moscale.motion.rigs import UnknownRigError
from moscale.motion.skeleton import FPS

from . import character, checks, control_rig, controls, jobs, keyframes, preferences, rig
from .checks import TakeError


@dataclass(frozen=True)
class GeneratePlan:
    target: str          # armature object name; "" means the scene's SMPL character (created when missing)
    bone_map_path: str
    prompt: str
    seconds: float
    seed: int
    guidance: float
    quality: str
    controls: Any = None  # controls.TakeControls: what the path, keyed poses and loop need once the motion is back


@dataclass(frozen=True)
class EditPlan:
    source_action: str   # the edited take's action (actions have unique names)
    first: int           # scene frames, inclusive
    last: int
    prompt: str
    seed: int
    guidance: float
    quality: str
    start_frame: int     # the same range in motion frames (source fps), end exclusive
    end_frame: int


def settings_of(context: bpy.types.Context):
    return context.scene.moscale


def active_take(settings):
    index = settings.active_take_index
    return settings.takes[index] if 0 <= index < len(settings.takes) else None


def armature_of(obj: bpy.types.Object | None) -> bpy.types.Object | None:
    """The armature itself, or the armature deforming a selected mesh (users often click the body)."""
    if obj is None or obj.type == 'ARMATURE':
        return obj
    for modifier in getattr(obj, "modifiers", ()):
        if modifier.type == 'ARMATURE' and modifier.object is not None:
            return modifier.object
    return obj.parent if obj.parent is not None and obj.parent.type == 'ARMATURE' else None


def _smpl_character(settings) -> bpy.types.Object | None:
    obj = settings.smpl_character
    return obj if obj is not None and obj.type == 'ARMATURE' and obj.users_scene else None


def _check_rig(obj: bpy.types.Object, bone_map_path: str):
    checks.check_armature(obj)  # not in Edit Mode, not linked from another file
    try:
        return rig.match_bones(obj, bone_map_path)
    except UnknownRigError as error:
        raise TakeError(f"Armature '{obj.name}': {error}") from error
    except ValueError as error:
        raise TakeError(str(error)) from error


def _take_of_action(settings, action) -> int:
    for index, take in enumerate(settings.takes):
        if take.action == action:
            return index
    return -1


def edit_source(context: bpy.types.Context):
    """The take Edit Range acts on: the active take when it belongs to the selected armature (or nothing is
    selected), else the selected armature's current take, else its newest take. Raises TakeError."""
    settings = settings_of(context)
    take = active_take(settings)
    selected = armature_of(context.active_object)
    if selected is None or (take is not None and take.armature == selected):
        if take is None:
            raise TakeError("No take to edit: generate one first (or pick one in the Takes list).")
        return take
    data = selected.animation_data
    current = _take_of_action(settings, data.action) if data is not None and data.action is not None else -1
    if current >= 0:
        return settings.takes[current]
    own = [t for t in settings.takes if t.armature == selected and t.kind != 'ORIGINAL']
    if not own:
        raise TakeError(f"Armature '{selected.name}' has no MoScale take to edit: generate one on it first "
                        f"(the active take belongs to '{take.armature.name if take and take.armature else '?'}').")
    return own[-1]


def model_of(context) -> tuple[str, str]:
    """(model folder, device) from the preferences, the folder checked; raises TakeError."""
    folder = str(preferences.resolved_model_folder(context))
    try:
        jobs.check_model_folder(folder)
    except jobs.BackendError as error:
        raise TakeError(str(error)) from error
    return folder, preferences.resolved_device(context)


def _plan_target(context: bpy.types.Context) -> tuple[str, str]:
    """(armature name or "" for the SMPL character, bone map path), checked; raises TakeError."""
    settings = settings_of(context)
    if settings.target == 'ACTIVE':
        obj = armature_of(context.active_object)
        if obj is None and not any(o.type == 'ARMATURE' for o in context.scene.objects):
            # a new scene: the first Generate makes the SMPL character (selected, so later ones animate it too)
            if preferences.smpl_model_folder(context):
                _body_file(context)
            return "", ""
        if obj is None:
            raise TakeError("No armature selected: select the character's armature (or its mesh), or set Target to "
                            "'SMPL Character'.")
        _check_rig(obj, settings.bone_map_path)
        return obj.name, settings.bone_map_path
    if _smpl_character(settings) is not None:
        checks.check_armature(_smpl_character(settings))
    elif preferences.smpl_model_folder(context):
        _body_file(context)  # the character will be made from the user's model files: find them now
    return "", ""  # the SMPL character is always detected, never custom-mapped


def _body_file(context: bpy.types.Context):
    from moscale.motion import body_model

    settings = settings_of(context)
    checks.check_betas(settings.smpl_betas)
    try:
        return body_model.find_model_file(preferences.smpl_model_folder(context), settings.smpl_model_type.lower(),
                                          settings.smpl_gender.lower())
    except body_model.BodyModelError as error:
        raise TakeError(str(error)) from error


def make_smpl_character(context: bpy.types.Context, joints: np.ndarray | None = None) -> bpy.types.Object:
    """The scene's SMPL character, new: the real body when the preferences name an SMPL model folder (the scene's
    gender, shape and body model), else the mannequin (with ``joints``' proportions). Raises TakeError before
    changing anything when the model files are unusable."""
    settings = settings_of(context)
    folder = preferences.smpl_model_folder(context)
    body = None
    if folder:
        from moscale.motion.body_model import BodyModelError

        try:
            body = character.load_body(folder, settings.smpl_model_type.lower(), settings.smpl_gender.lower(),
                                       list(settings.smpl_betas))
        except BodyModelError as error:
            raise TakeError(str(error)) from error
    obj = character.create_smpl_character(context, None if body is not None else joints, body=body)
    settings.smpl_character = obj
    return obj


def plan_generate(context: bpy.types.Context, prompt: str | None = None) -> tuple[jobs.GenerateRequest, GeneratePlan]:
    """Validate the panel's settings (with `prompt` in place of the panel's, e.g. a timeline's segments); raises
    TakeError with what to fix."""
    settings, numbers = settings_of(context), checks.GENERATE_NUMBERS if prompt is None else checks.SAMPLING_NUMBERS
    prompt = (settings.prompt if prompt is None else prompt).strip()
    if not prompt:
        raise TakeError("Empty prompt: type what the person should do, e.g. 'a person jumps twice'.")
    checks.check_settings(settings, prompt, "Prompt", numbers)  # a timeline's: no Length or Variations
    target, bone_map_path = _plan_target(context)
    folder, device = model_of(context)
    quality = preferences.resolved_quality(context, settings.quality)
    request = jobs.GenerateRequest(folder, device, prompt, float(settings.seconds), int(settings.seed),
                                   float(settings.guidance), quality, int(settings.variations),
                                   foot_lock=bool(settings.foot_lock), threads=preferences.resolved_threads(context))
    plan = GeneratePlan(target, bone_map_path, prompt, float(settings.seconds), int(settings.seed),
                        float(settings.guidance), quality)
    try:  # the panel's Path, Keyed Poses, Loop and In Place
        return controls.plan_controls(context, request, plan)
    except ValueError as error:
        raise TakeError(str(error)) from error


def edit_range(context: bpy.types.Context) -> tuple[int, int]:
    settings, scene = settings_of(context), context.scene
    if settings.edit_range == 'PREVIEW':
        if not scene.use_preview_range:
            raise TakeError("No preview range: set one in the timeline (Ctrl P), or switch the Edit range to Frames.")
        return scene.frame_preview_start, scene.frame_preview_end
    return settings.edit_start, settings.edit_end


def plan_edit(context: bpy.types.Context) -> tuple[jobs.EditRequest, EditPlan]:
    settings = settings_of(context)
    prompt = settings.edit_prompt.strip()
    if not prompt:
        raise TakeError("Empty edit prompt: type what should happen inside the range.")
    checks.check_settings(settings, prompt, "Edit Prompt", checks.SAMPLING_NUMBERS)
    take = edit_source(context)
    if take.armature is None or take.action is None:
        raise TakeError(f"Take '{take.name}' lost its armature or action; pick another take.")
    stored = keyframes.stored_motion(take.action)
    if take.kind == 'ORIGINAL':
        raise TakeError(f"Take '{take.name}' is the armature's own animation, which MoScale does not edit: switch "
                        "to one of its MoScale takes (or Generate one) first.")
    if stored is None:
        raise TakeError(f"Take '{take.name}' has no stored motion to edit.")
    joints, motion_fps = stored
    if motion_fps != FPS:  # an imported clip (AMASS at 60 or 120 fps): the model edits at 20 fps
        from moscale.motion import Motion

        joints, motion_fps = Motion(joints, motion_fps).resample(FPS).joints.astype(np.float64), float(FPS)
    first, last = edit_range(context)
    take_last = take.frame_start + take.frame_count - 1
    if first > last:
        raise TakeError(f"Edit range {first}-{last} is empty: the start must not be after the end.")
    if first < take.frame_start or last > take_last:
        raise TakeError(f"Edit range {first}-{last} is outside take '{take.name}' (frames {take.frame_start}-{take_last}).")
    _check_rig(take.armature, take.bone_map_path)
    folder, device = model_of(context)
    to_motion = motion_fps / take.fps
    start = max(0, math.floor((first - take.frame_start) * to_motion))
    end = min(len(joints), math.ceil((last - take.frame_start) * to_motion) + 1)
    quality = preferences.resolved_quality(context, settings.quality)
    request = jobs.EditRequest(folder, device, joints, start, end, prompt, int(settings.seed),
                               float(settings.guidance), quality, foot_lock=bool(settings.foot_lock),
                               threads=preferences.resolved_threads(context))
    plan = EditPlan(take.action.name, first, last, prompt, int(settings.seed), float(settings.guidance), quality,
                    start, end)
    return request, plan


def apply_result(context: bpy.types.Context, job: jobs.Job) -> list:
    """Write a finished job's motions into the scene as new takes (main thread). Returns the new takes."""
    if job.state != jobs.DONE:
        raise TakeError(f"the {job.kind} job has no result ({job.state.lower()}{': ' + job.error if job.error else ''})")
    if job.kind == "edit":
        return [apply_edit(context, job.plan, job.result[0])]
    return apply_generate(context, job.plan, job.result)


def _new_take(settings, name_hint: str = ""):
    settings.take_counter += 1
    take = settings.takes.add()
    take["name"] = name_hint or f"Take {settings.take_counter}"  # no rename callback: the action is named below
    return take


def _extend_frame_range(scene: bpy.types.Scene, last_frame: int) -> None:
    if scene.frame_end < last_frame:
        scene.frame_end = last_frame


def plan_import(context: bpy.types.Context, prompt: str) -> GeneratePlan:
    """Where an imported clip goes (the panel's Target), checked like Generate's; raises TakeError."""
    target, bone_map_path = _plan_target(context)
    return GeneratePlan(target, bone_map_path, prompt, 0.0, 0, 0.0, "")


def apply_import(context: bpy.types.Context, plan: GeneratePlan, motion) -> "bpy.types.PropertyGroup":
    """A new take (kind 'IMPORT') keyed from an imported motion, at its own frame rate (edits resample it)."""
    plan = GeneratePlan(plan.target, plan.bone_map_path, plan.prompt, float(motion.seconds), 0, 0.0, "")
    (take,) = apply_generate(context, plan, [motion], kind='IMPORT')
    return take


def apply_generate(context: bpy.types.Context, plan: GeneratePlan, motions: list, kind: str = 'GENERATE') -> list:
    """One new take per motion on the plan's armature (the SMPL character is created here when needed)."""
    scene, settings = context.scene, settings_of(context)
    if not motions:
        raise TakeError("The backend returned no motion.")
    if plan.target:
        obj = bpy.data.objects.get(plan.target)
        if obj is None or obj.type != 'ARMATURE':
            raise TakeError(f"Armature '{plan.target}' no longer exists; nothing was changed.")
    else:
        obj = _smpl_character(settings)
    match = None if obj is None else _check_rig(obj, plan.bone_map_path if plan.target else "")
    if obj is None:
        obj = make_smpl_character(context, np.asarray(motions[0].joints))
        match = _check_rig(obj, "")
    fps = rig.scene_fps(scene)
    keep_original(settings, obj)
    first_index = len(settings.takes)
    frame_count = 0
    for motion in motions:
        motion, keyed = controls.take_motion(obj, match, motion, plan.controls, fps)
        action = _keyed_action(obj, match, keyed, fps, scene.frame_start,
                               controls.key_options(motion, plan.controls, scene.frame_start, fps))
        action[_FRAMES_KEY] = controls.finish_take(action, motion, plan.controls, scene.frame_start, fps,
                                                   action[_FRAMES_KEY])
        metadata = getattr(motion, "metadata", {}) or {}
        # adding to a collection may move its items: fill each take completely before adding the next
        take = _new_take(settings)
        action.name = f"MoScale {take.name}"
        take.action, take.armature, take.kind = action, obj, kind
        take.prompt, take.seconds = plan.prompt, plan.seconds
        take.seed = int(metadata.get("seed", plan.seed))
        take.guidance, take.quality = plan.guidance, plan.quality
        take.frame_start, take.frame_count, take.fps = scene.frame_start, action[_FRAMES_KEY], fps
        take.bone_map_path = plan.bone_map_path if plan.target else ""
        frame_count = frame_count or take.frame_count
    settings.active_take_index = first_index  # assigns the first new take
    _extend_frame_range(scene, scene.frame_start + frame_count - 1)
    return list(settings.takes[first_index:])


_FRAMES_KEY = "moscale_frames"


def _keyed_action(obj: bpy.types.Object, match, motion, fps: float, frame_start: int, options=None):
    """A new action keyed from ``motion`` (``options``: ``rig.take_keys``'), checked by evaluating the rig; raises
    TakeError (removing the action and restoring the armature's action and switches) when the rig's constraints would
    override the keys."""
    data = obj.animation_data
    previous = data.action if data is not None else None
    switches = dict(match.bone_map.switches) if match.bone_map is not None else {}
    before = {bone: {p: float(obj.pose.bones[bone][p]) for p in props if p in obj.pose.bones[bone]}
              for bone, props in switches.items() if bone in obj.pose.bones}
    action = keyframes.new_action("MoScale take", obj)
    try:
        if previous is not None:
            keyframes.assign(obj, None)  # the solve of a control rig must not see another action's keys
        keys = rig.take_keys(obj, match, motion.joints, motion.fps, fps,  # Foot Lock off: unpinned
                             pin_feet=motion.metadata.get("foot_lock") is not False, **(options or {}))
        keyframes.write_keys(action, keys.channels, frame_start)
        keyframes.assign(obj, action)
        rig.check_followed(obj, match, keys, frame_start)
    except (rig.RigRefused, ValueError) as error:
        keyframes.assign(obj, previous)
        control_rig.set_switches(obj, before)
        bpy.data.actions.remove(action)
        raise TakeError(str(error)) from error
    keyframes.store_motion(action, motion.joints, motion.fps)
    action[_FRAMES_KEY] = keys.num_frames
    return action


def keep_original(settings, obj: bpy.types.Object) -> None:
    """Before a new take (Generate's, Edit Range's) is assigned to ``obj``: the action it plays (the user's own
    animation) becomes a take of its own (kind ORIGINAL, fake user), so it survives saving and can be switched back
    to. Does nothing when that action already is a take or there is none."""
    data = obj.animation_data
    action = data.action if data is not None else None
    if action is None or _take_of_action(settings, action) >= 0:
        return
    action.use_fake_user = True
    state = {"switches": {}, "pose": rig_pose(obj)}
    try:
        switches = rig.match_bones(obj).bone_map.switches
    except (UnknownRigError, ValueError, AttributeError):  # no map (custom rigs): nothing to switch
        switches = {}
    for bone, props in switches.items():
        if bone in obj.pose.bones:
            state["switches"][bone] = {p: float(obj.pose.bones[bone][p]) for p in props if p in obj.pose.bones[bone]}
    take = settings.takes.add()
    take["name"] = f"{action.name} (original)"  # no rename callback: the user's action keeps its name
    take.action, take.armature, take.kind = action, obj, 'ORIGINAL'
    take.rig_state = json.dumps(state)
    frame_range = action.frame_range
    take.frame_start, take.frame_count = int(frame_range[0]), int(frame_range[1] - frame_range[0]) + 1
    take.fps = rig.scene_fps(bpy.context.scene)


_POSE_CHANNELS = {"location": (0.0, 0.0, 0.0), "rotation_quaternion": (1.0, 0.0, 0.0, 0.0),
                  "rotation_euler": (0.0, 0.0, 0.0), "rotation_axis_angle": (0.0, 0.0, 1.0, 0.0),
                  "scale": (1.0, 1.0, 1.0)}


def rig_pose(obj: bpy.types.Object) -> dict[str, dict[str, list[float]]]:
    """The pose bones' channels that are not at rest (bone -> channel -> values): what bones the user's action does
    not key show, and MoScale's takes overwrite. Channels, not matrices, so they come back bit for bit."""
    pose = {}
    for pose_bone in obj.pose.bones:
        moved = {name: list(getattr(pose_bone, name)) for name, rest in _POSE_CHANNELS.items()
                 if tuple(getattr(pose_bone, name)) != rest}
        if moved:
            pose[pose_bone.name] = moved
    return pose


def restore_rig(obj: bpy.types.Object, state: dict) -> None:
    """Put back the switches and the unkeyed pose ``keep_original`` recorded (the action then plays over it)."""
    control_rig.set_switches(obj, state.get("switches", {}))
    pose = state.get("pose")
    if pose is None:
        return
    for pose_bone in obj.pose.bones:
        moved = pose.get(pose_bone.name, {})
        for name, rest in _POSE_CHANNELS.items():
            setattr(pose_bone, name, moved.get(name, rest))


def apply_edit(context: bpy.types.Context, plan: EditPlan, motion):
    """A new take: a copy of the source take with keys replaced only at frames plan.first..plan.last."""
    settings = settings_of(context)
    source = next((t for t in settings.takes if t.action is not None and t.action.name == plan.source_action), None)
    if source is None or source.armature is None:
        raise TakeError("The take being edited was deleted; nothing was changed.")
    stored = keyframes.stored_motion(source.action)
    obj = source.armature
    match = _check_rig(obj, source.bone_map_path)
    data = obj.animation_data
    previous = data.action if data is not None else None
    try:
        keyframes.assign(obj, None)  # the solve of a control rig must not see another action's keys
        keys = rig.take_keys(obj, match, motion.joints, motion.fps, source.fps,  # Foot Lock off: unpinned
                             motion.metadata.get("foot_lock") is not False,
                             (stored, plan.first - source.frame_start, plan.last - source.frame_start))
    finally:
        keyframes.assign(obj, previous)
    if source.frame_start + keys.num_frames - 1 < plan.last:
        raise TakeError(f"The edited motion ends before frame {plan.last}; nothing was changed.")
    # adding a take may move the collection's items: read the source before
    copied = {key: getattr(source, key) for key in ("name", "seconds", "frame_start", "frame_count", "fps",
                                                    "bone_map_path")}
    action = source.action.copy()
    action.use_fake_user = True
    keyframes.replace_range(action, keys.channels, copied["frame_start"], plan.first, plan.last)
    joints = np.asarray(motion.joints, dtype=np.float64).copy()
    if stored is not None and len(stored[0]) == len(joints):  # keys outside the range are the source's
        outside = np.ones(len(joints), dtype=bool)
        outside[plan.start_frame:plan.end_frame] = False
        joints[outside] = stored[0][outside]
    keyframes.store_motion(action, joints, motion.fps)
    # the armature may play the user's own action (assigned after the take): keep it, as Generate does
    keep_original(settings, obj)
    take = _new_take(settings)
    action.name = f"MoScale {take.name}"
    take.action, take.armature, take.kind = action, obj, 'EDIT'
    take.prompt, take.seed, take.guidance, take.quality = plan.prompt, plan.seed, plan.guidance, plan.quality
    take.seconds, take.source_take = copied["seconds"], copied["name"]
    take.edit_start, take.edit_end = plan.first, plan.last
    take.frame_start, take.frame_count, take.fps = copied["frame_start"], copied["frame_count"], copied["fps"]
    take.bone_map_path = copied["bone_map_path"]
    settings.active_take_index = len(settings.takes) - 1
    return take


def activate(settings, index: int) -> None:
    """Assign take ``index``'s action to its armature (the list's selection callback calls this)."""
    if not 0 <= index < len(settings.takes):
        return
    take = settings.takes[index]
    if take.armature is not None and take.action is not None:
        keep_original(settings, take.armature)  # the user's own action it plays (assigned since) is kept
        take = settings.takes[index]  # adding a take may move the collection's items
        keyframes.assign(take.armature, take.action)
        if take.rig_state:  # the user's own switch values (IK/FK) and unkeyed pose, which MoScale's takes key
            restore_rig(take.armature, json.loads(take.rig_state))


def duplicate(settings, index: int):
    source = settings.takes[index]
    if source.action is None:
        raise TakeError(f"Take '{source.name}' has no action to copy.")
    keys = ("prompt", "seconds", "seed", "guidance", "quality", "frame_start", "frame_count", "fps", "edit_start",
            "edit_end", "armature", "bone_map_path", "name")
    copied = {key: getattr(source, key) for key in keys}
    action = source.action.copy()
    action.use_fake_user = True
    if copied["armature"] is not None:  # before adding the copy (adding moves items): the user's action is kept
        keep_original(settings, copied["armature"])
    source_name = copied.pop("name")
    take = _new_take(settings, f"{source_name} copy")
    action.name = f"MoScale {take.name}"
    for key, value in copied.items():
        setattr(take, key, value)
    take.action, take.kind, take.source_take = action, 'DUPLICATE', source_name
    settings.active_take_index = len(settings.takes) - 1
    return take


def delete(settings, index: int) -> None:
    """Remove a take from the list; its action goes too unless something else still uses it."""
    take = settings.takes[index]
    action, armature = take.action, take.armature
    if armature is not None and armature.animation_data is not None and armature.animation_data.action == action:
        keyframes.assign(armature, None)
    original = take.kind == 'ORIGINAL'
    settings.takes.remove(index)
    if action is not None and not original:  # the user's own action is never deleted with its take
        action.use_fake_user = False
        if action.users == 0:
            bpy.data.actions.remove(action)
    settings.active_take_index = min(index, len(settings.takes) - 1)
