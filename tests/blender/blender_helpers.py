"""Helpers shared by the add-on tests (imported by name; conftest.py holds only fixtures)."""
from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np

REPO = Path(__file__).resolve().parents[2]
ADDON = "moscale_blender"


def raise_error(error: BaseException) -> None:
    raise error


def scene_state(scene) -> dict:
    """Everything a cancelled or refused operator must leave alone."""
    settings = scene.moscale
    return {
        "objects": sorted(obj.name for obj in bpy.data.objects),
        "actions": sorted(action.name for action in bpy.data.actions),
        "armatures": sorted(arm.name for arm in bpy.data.armatures),
        "meshes": sorted(mesh.name for mesh in bpy.data.meshes),
        "assigned": {obj.name: (obj.animation_data.action.name if obj.animation_data and obj.animation_data.action
                                else None) for obj in bpy.data.objects},
        "takes": [(take.name, take.action.name if take.action else None) for take in settings.takes],
        "active_take": settings.active_take_index,
        "frames": (scene.frame_start, scene.frame_end),
    }


def world_heads(obj, frame: int, names) -> np.ndarray:
    """(len(names), 3) evaluated world-space bone heads at ``frame``."""
    bpy.context.scene.frame_set(frame)
    evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    matrix = evaluated.matrix_world
    return np.array([tuple(matrix @ evaluated.pose.bones[name].head) for name in names])


def build_armature(name: str, names, parents, heads, tails, rolls, location=(0.0, 0.0, 0.0), rotation=(0.0, 0.0, 0.0),
                   scale=1.0):
    """An armature object from edit-bone data (armature space), made active and selected."""
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    bpy.context.scene.collection.objects.link(obj)
    obj.location, obj.rotation_euler, obj.scale = location, rotation, (scale, scale, scale)
    bpy.context.view_layer.objects.active = obj
    obj.select_set(True)
    bpy.ops.object.mode_set(mode='EDIT')
    bones = []
    for i, bone_name in enumerate(names):
        bone = data.edit_bones.new(bone_name)
        bone.head, bone.tail, bone.roll = heads[i], tails[i], float(rolls[i])
        if parents[i] >= 0:
            bone.parent = bones[parents[i]]
        bones.append(bone)
    bpy.ops.object.mode_set(mode='OBJECT')
    return obj
