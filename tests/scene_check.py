"""Open a file that `moscale export` wrote, in a fresh bpy, and describe it (run by test_export.py):

    python scene_check.py fbx FILE.fbx JOINTS.npy     re-import (anim_offset=0): bones, frame range, error vs joints
    python scene_check.py blend FILE.blend            objects, actions, the take the add-on stored (enabled from
                                                      the source tree: Blender 5 keeps add-on properties apart
                                                      from ID properties, readable only while registered)

JOINTS.npy: the motion (T, 22, 3), metres, Y up, at the file's frame rate. Prints one line `RESULT {json}`.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import bpy
import numpy as np


def to_z_up(points: np.ndarray) -> np.ndarray:
    """HumanML3D (Y up, facing +Z) to Blender (Z up): (x, y, z) -> (x, -z, y)."""
    return np.stack([points[..., 0], -points[..., 2], points[..., 1]], axis=-1)


def check_fbx(path: str, joints_path: str) -> dict:
    from moscale.motion.skeleton import JOINT_NAMES

    joints = to_z_up(np.load(joints_path))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=path)  # the importer's defaults, as a user imports
    (rig,) = [obj for obj in bpy.data.objects if obj.type == 'ARMATURE']
    first, last = (round(v) for v in rig.animation_data.action.frame_range)
    scene, error = bpy.context.scene, 0.0
    for i in range(len(joints)):
        scene.frame_set(first + i)
        evaluated = rig.evaluated_get(bpy.context.evaluated_depsgraph_get())
        heads = np.array([tuple(evaluated.matrix_world @ evaluated.pose.bones[n].head) for n in JOINT_NAMES])
        error = max(error, float(np.abs(heads - joints[i]).max()))
    return {"bones": len(rig.data.bones), "frame_range": [first, last], "armature_name": rig.name,
            "meshes": sum(obj.type == 'MESH' for obj in bpy.data.objects), "max_error_m": error,
            "scale": list(rig.matrix_world.to_scale())}


def check_blend(path: str) -> dict:
    """With the add-on enabled from the source tree, as a user opening the file with the extension would."""
    import addon_utils

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    addon_utils.enable("moscale_blender", default_set=False)
    bpy.ops.wm.open_mainfile(filepath=path)
    scene = bpy.context.scene
    takes = [dict(name=t.name, prompt=t.prompt, frames=t.frame_count, armature=t.armature.name)
             for t in scene.moscale.takes]
    armatures = [obj for obj in bpy.data.objects if obj.type == 'ARMATURE']
    return {"armatures": [obj.name for obj in armatures], "bones": [len(obj.data.bones) for obj in armatures],
            "meshes": [obj.name for obj in bpy.data.objects if obj.type == 'MESH'],
            "assigned_action": [obj.animation_data.action.name if obj.animation_data and obj.animation_data.action
                                else None for obj in armatures],
            "stored_motion": [bool(action.get("moscale_joints")) for action in bpy.data.actions],
            "fps": scene.render.fps, "frame_range": [scene.frame_start, scene.frame_end], "takes": takes}


if __name__ == "__main__":
    kind, *args = sys.argv[1:]
    print("RESULT " + json.dumps(check_fbx(*args) if kind == "fbx" else check_blend(*args)), flush=True)
