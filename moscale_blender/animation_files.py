"""Hand-keyed animations read from Blender files as SMPL-22 joint motions: every action of a .blend, every clip of a
.glb/.gltf, stepped frame by frame through the depsgraph (constraints, IK and drivers evaluated), the mapped bones'
world-space heads turned into MoScale's frame (metres, Y up, the character facing +Z: HumanML3D).

    clips = animation_files.read_animations("walk.blend")  # [AnimationClip(name, joints (T, 22, 3), fps, source)]

The file is borrowed, not opened: a .blend's scenes and actions are appended, a glTF file is imported (at the scene's
frame rate, Blender's default options), the clips are read in a scene of their own, and everything added is removed
again; the open file, its frame settings and selection are left as they were. The command line runs it headless:
``moscale data extract`` (moscale.cli.extract through moscale.cli.scene).
"""
from __future__ import annotations

import math
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np
from moscale.motion import rigs

from . import rig

SUFFIXES = (".blend", ".glb", ".gltf")
_BONE_PATH = re.compile(r'^pose\.bones\["((?:[^"\\]|\\.)*)"\]')


@dataclass(frozen=True, eq=False)
class AnimationClip:
    """One action as a motion."""

    name: str            # the action's name
    joints: np.ndarray   # (T, 22, 3) float64, metres, Y up, the character facing +Z at rest
    fps: float           # frames per second of ``joints``: the file's scene rate (glTF: the rate of its keys)
    source: str          # the file it was read from
    bone_map: str = ""   # the bone map that found the 22 joints' bones

    @property
    def seconds(self) -> float:
        return (len(self.joints) - 1) / self.fps


@dataclass(frozen=True)
class _Loaded:
    """What a file brought into the session: its armatures and actions, the rate and spacing of frames to read."""

    armatures: list
    actions: dict        # action -> its name in the file (the session may have renamed it: "Walk.001")
    fps: float
    step_frames: float   # scene frames between two read frames
    metres: float        # metres per Blender unit


def read_animations(path: str | Path, bone_map: rigs.BoneMap | str | Path | None = None) -> list[AnimationClip]:
    """Every action in ``path`` (.blend, .glb, .gltf) that animates an armature, as SMPL-22 joints.

    bone_map: a ``BoneMap`` or the path of a bone map JSON; default: detected from the bone names among the built-in
    maps. Raises FileNotFoundError, or ValueError (a file Blender cannot read, an armature no map fits)."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise ValueError(f"{path}: not an animation file Blender reads here ({', '.join(SUFFIXES)})")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with _borrowed_data():
        loaded = _append_blend(path) if path.suffix.lower() == ".blend" else _import_gltf(path)
        scene = bpy.data.scenes.new("MoScale read")
        for obj in loaded.armatures:
            scene.collection.objects.link(obj)
        clips, matches = [], {}
        for action, name in sorted(loaded.actions.items(), key=lambda item: item[1]):
            obj = _owner(action, loaded.armatures)
            if obj is None:
                continue
            if obj.name not in matches:
                matches[obj.name] = _match(obj, bone_map)
            joints = _sample(scene, obj, action, matches[obj.name], loaded.step_frames) * loaded.metres
            clips.append(AnimationClip(name, _to_y_up(joints), loaded.fps, str(path),
                                       matches[obj.name].map_name))
    return clips


def _append_blend(path: Path) -> _Loaded:
    try:
        with bpy.data.libraries.load(str(path), link=False) as (source, data):
            data.scenes = list(source.scenes)
            names = list(source.actions)
            data.actions = list(names)
    except OSError as error:
        raise ValueError(f"{path}: Blender cannot read it ({error})") from error
    scenes = [scene for scene in data.scenes if scene is not None]
    if not scenes:
        raise ValueError(f"{path}: the file has no scene")
    armatures = list({obj.name: obj for scene in scenes for obj in scene.objects if obj.type == 'ARMATURE'}.values())
    first = scenes[0]
    actions = {action: name for action, name in zip(data.actions, names) if action is not None}
    return _Loaded(armatures, actions, first.render.fps / first.render.fps_base, 1.0, first.unit_settings.scale_length)


def _import_gltf(path: Path) -> _Loaded:
    """glTF keys are seconds; Blender imports them at the scene's frame rate, so a clip sampled at another rate has
    its keys off whole frames: they are read where they are, at their own rate."""
    before = {_key(block) for block in [*bpy.data.objects, *bpy.data.actions]}
    names_before = {action.name for action in bpy.data.actions}
    try:
        bpy.ops.import_scene.gltf(filepath=str(path))
    except RuntimeError as error:
        raise ValueError(f"{path}: Blender cannot import it ({_operator_error(error)})") from error
    armatures = [obj for obj in bpy.data.objects if obj.type == 'ARMATURE' and _key(obj) not in before]
    actions = {action: _unclashed(action.name, names_before) for action in bpy.data.actions
               if _key(action) not in before}
    scene = bpy.context.scene
    step = _key_step(actions)
    fps = round(scene.render.fps / scene.render.fps_base / step, 3)
    return _Loaded(armatures, actions, fps, step, scene.unit_settings.scale_length)


def _operator_error(error: RuntimeError) -> str:
    """An operator's report in one line; for an importer that crashed, its exception without the traceback."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip() and not line.startswith("Location:")]
    if any("Traceback" in line for line in lines):
        return f"the importer failed: {lines[-1]}"
    return " ".join(lines).removeprefix("Error: ")


def _unclashed(name: str, taken: set[str]) -> str:
    """The clip's own name when Blender renamed it for one the session had: "Walk.001" -> "Walk"."""
    stem, dot, number = name.rpartition(".")
    return stem if dot and number.isdigit() and len(number) == 3 and stem in taken else name


def _key_step(actions) -> float:
    """The spacing of sampled keys in scene frames (1: keys on every frame): the gap nearly all gaps of the curves
    with three keys or more share (an exporter keeps two keys on a channel that does not move), when there is one
    and it is at most 2 frames; else 1 (sparse hand-set keys, read on every frame)."""
    frames = [_key_frames(curve) for action in actions for curve in _fcurves(action)]
    gaps = np.round(np.concatenate([np.diff(f) for f in frames if len(f) > 2] or [np.zeros(0)]), 3)
    gaps = gaps[gaps > 0]
    if not gaps.size:
        return 1.0
    values, counts = np.unique(gaps, return_counts=True)
    step = float(values[counts.argmax()])
    return step if counts.max() >= 0.9 * gaps.size and step <= 2.0 else 1.0


def _key_frames(curve) -> np.ndarray:
    points = np.empty(2 * len(curve.keyframe_points))
    curve.keyframe_points.foreach_get("co", points)
    return points[0::2]


def _fcurves(action):
    for layer in action.layers:
        for strip in layer.strips:
            for bag in strip.channelbags:
                yield from bag.fcurves


def _owner(action, armatures):
    """The armature whose bones the action keys most; None for an action keying no bone (one that moves an empty
    or an object only is no body motion)."""
    keyed = {match.group(1).replace('\\"', '"') for curve in _fcurves(action)
             if (match := _BONE_PATH.match(curve.data_path))}
    shared = [len(keyed & set(obj.data.bones.keys())) for obj in armatures]
    return armatures[int(np.argmax(shared))] if shared and max(shared) > 0 else None


def _match(obj, bone_map) -> rigs.RigMatch:
    if isinstance(bone_map, rigs.BoneMap):
        match, missing = rigs.match_rig([bone.name for bone in obj.data.bones], bone_map)
        if match is None:
            raise rigs.UnknownRigError(f"Bone map '{bone_map.name}' does not fit armature '{obj.name}': missing bones "
                                       f"{', '.join(missing)}.")
        return match
    try:
        return rig.match_bones(obj, str(bone_map or ""))
    except rigs.UnknownRigError as error:
        message = str(error)
        raise rigs.UnknownRigError(message if obj.name in message else f"Armature '{obj.name}': {message}") from error


def _sample(scene, obj, action, match: rigs.RigMatch, step_frames: float) -> np.ndarray:
    """(T, 22, 3) world-space joint positions, Blender units, Z up, over the action's frame range. Channels the
    action leaves unkeyed keep the file's values, as Blender shows the action (the reading scene's depsgraph never
    writes its evaluated pose back, so one action cannot leak into the next)."""
    data = obj.animation_data or obj.animation_data_create()
    data.use_nla = False  # glTF imports stack every clip as an NLA track: only the action is read
    data.action = action
    if data.action_slot is None and len(data.action_suitable_slots):
        data.action_slot = data.action_suitable_slots[0]
    start, end = action.frame_range
    frames = start + step_frames * np.arange(int(math.floor((end - start) / step_frames + 1e-6)) + 1)
    tips = set(match.tips)  # leaf joints the rig has no bone for: at the tail of their parent joint's bone
    joints = np.empty((len(frames), len(match.bone_of_joint), 3))
    for t, frame in enumerate(frames):
        whole = math.floor(frame + 1e-6)
        scene.frame_set(whole, subframe=max(0.0, float(frame - whole)))
        evaluated = obj.evaluated_get(scene.view_layers[0].depsgraph)  # made by the first frame_set
        world = np.array(evaluated.matrix_world)
        bones = evaluated.pose.bones
        local = np.array([bones[name].tail if j in tips else bones[name].head
                          for j, name in enumerate(match.bone_of_joint)])
        joints[t] = local @ world[:3, :3].T + world[:3, 3]
    return rigs.place_spanned(joints, match.spanned) if match.spanned else joints


def _to_y_up(points: np.ndarray) -> np.ndarray:
    """Blender (Z up, facing -Y) -> MoScale (Y up, facing +Z): (x, y, z) -> (x, z, -y); undoes retarget.to_z_up."""
    return np.stack([points[..., 0], points[..., 2], -points[..., 1]], axis=-1)


def _key(block) -> tuple[str, int]:
    return type(block).__name__, block.session_uid


@contextmanager
def _borrowed_data():
    """Whatever the block adds to bpy.data is removed after it; the current scene's frames, frame rate, active
    object and selection are put back."""
    before = {_key(block) for block in bpy.data.user_map()}
    scene, view_layer = bpy.context.scene, bpy.context.view_layer
    settings = (scene.frame_start, scene.frame_end, scene.frame_current, scene.render.fps, scene.render.fps_base)
    active = view_layer.objects.active
    selected = {obj.name for obj in view_layer.objects if obj.select_get()}
    try:
        yield
    finally:
        bpy.data.batch_remove([block for block in bpy.data.user_map() if _key(block) not in before])
        view_layer.update()  # drops the removed objects from its object list
        scene.frame_start, scene.frame_end, scene.frame_current, scene.render.fps, scene.render.fps_base = settings
        for obj in view_layer.objects:
            obj.select_set(obj.name in selected)
        view_layer.objects.active = active
