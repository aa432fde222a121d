"""Read an armature's rest pose from bpy and resolve its bone map; the math is in ``moscale.retarget``."""
from __future__ import annotations

import functools

import bpy
import numpy as np
from moscale import retarget

from . import preferences


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


def match_bones(obj: bpy.types.Object, bone_map_path: str = "") -> retarget.RigMatch:
    """The armature's bone map: a custom JSON when given, else detected from the bone names.

    Raises ``retarget.UnknownRigError`` (the message lists missing bones) or ``ValueError`` for a bad map file.
    """
    names = [bone.name for bone in obj.data.bones]
    if bone_map_path:
        bone_map = retarget.BoneMap.from_json(bpy.path.abspath(bone_map_path))
        match, missing = retarget.match_rig(names, bone_map)
        if match is None:
            raise retarget.UnknownRigError(
                f"Bone map '{bone_map.name}' does not fit armature '{obj.name}': missing bones {', '.join(missing)}.")
        return match
    return retarget.detect_rig(names, _builtin_maps(str(preferences.bone_maps_folder())))


@functools.lru_cache(maxsize=4)
def _builtin_maps(folder: str) -> tuple[retarget.BoneMap, ...]:
    return tuple(retarget.load_bone_maps(folder))


def scene_fps(scene: bpy.types.Scene) -> float:
    return scene.render.fps / scene.render.fps_base


def retarget_motion(obj: bpy.types.Object, match: retarget.RigMatch, joints: np.ndarray, fps: float,
                    out_fps: float) -> retarget.RetargetResult:
    """Pose channels for ``joints`` (T, 22, 3, Y up, at ``fps``) on ``obj``, resampled to ``out_fps``."""
    result = retarget.retarget(joints, read_rest(obj), match, fps=fps)
    return retarget.resample(result, out_fps)
