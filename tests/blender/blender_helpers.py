"""Helpers shared by the add-on tests (imported by name; conftest.py holds only fixtures)."""
from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

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


def channel_keys(action) -> dict:
    """(data path, index) -> {frame: value} of every key of ``action``."""
    from moscale_blender import keyframes

    keys = {}
    for fcurve in keyframes.action_fcurves(action):
        co = np.empty(2 * len(fcurve.keyframe_points), dtype=np.float32)
        fcurve.keyframe_points.foreach_get("co", co)
        keys[(fcurve.data_path, fcurve.array_index)] = dict(zip(co[0::2].tolist(), co[1::2].tolist()))
    return keys


def world_heads(obj, frame: int, names) -> np.ndarray:
    """(len(names), 3) evaluated world-space bone heads at ``frame``."""
    bpy.context.scene.frame_set(frame)
    evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    matrix = evaluated.matrix_world
    return np.array([tuple(matrix @ evaluated.pose.bones[name].head) for name in names])


def import_bvh_with_defaults(path, fps: float = 20) -> bpy.types.Object:
    """Blender's BVH importer exactly as a user runs it (File > Import > BVH, nothing changed) into an empty scene."""
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.context.scene.render.fps, bpy.context.scene.render.fps_base = int(fps), 1.0
    assert bpy.ops.import_anim.bvh(filepath=str(path)) == {'FINISHED'}
    (rig,) = [obj for obj in bpy.data.objects if obj.type == 'ARMATURE']
    return rig


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


def as_fbx_imports(points_z_up_cm: np.ndarray) -> np.ndarray:
    """Armature-space points of a rig as an FBX from Mixamo or Unreal imports: Y up inside an object turned +90
    degrees about X (which stands it up in Blender's Z-up world). (x, y, z) -> (x, z, -y)."""
    return points_z_up_cm @ np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def fbx_like_rig(name: str, names, parents, heads, tails, rolls) -> bpy.types.Object:
    """A rig with an FBX import's object transform: rotated 90 degrees about X, scale 0.01, bones in centimetres."""
    return build_armature(name, names, parents, as_fbx_imports(heads), as_fbx_imports(tails), rolls,
                          rotation=(math.pi / 2, 0.0, 0.0), scale=0.01)


class RecordingLayout:
    """Stands in for UILayout (headless Blender has no regions to draw into): checks every property path and operator
    id a draw call uses and records what it shows. `log` holds ("prop", name), ("operator", idname), ("label", text),
    ("progress", factor) and ("list", prop); `buttons` holds (idname, text, the operator properties the draw set)."""

    def __init__(self, log: list | None = None, buttons: list | None = None):
        self.log = [] if log is None else log
        self.buttons = [] if buttons is None else buttons

    def _child(self, *args, **kwargs) -> RecordingLayout:
        return RecordingLayout(self.log, self.buttons)

    row = column = box = split = _child

    def prop(self, data, name, **kwargs):
        assert name in data.bl_rna.properties, f"{type(data).__name__} has no property {name!r}"
        self.log.append(("prop", name))

    def operator(self, idname, text="", **kwargs):
        category, name = idname.split(".")
        assert hasattr(getattr(bpy.ops, category), name) and getattr(getattr(bpy.ops, category), name).get_rna_type()
        properties = SimpleNamespace()
        self.log.append(("operator", idname))
        self.buttons.append((idname, text, properties))
        return properties

    def label(self, text="", **kwargs):
        self.log.append(("label", text))

    def progress(self, factor=0.0, type='BAR', text=""):
        self.log.append(("progress", factor))

    def template_list(self, list_type, list_id, data, prop, active_data, active_prop, **kwargs):
        assert hasattr(bpy.types, list_type) and prop in data.bl_rna.properties and active_prop in active_data.bl_rna.properties
        self.log.append(("list", prop))


class _Drawer:
    """The `self` of a draw method: its layout, and `source`'s attributes (a preferences' properties) for the rest."""

    def __init__(self, layout: RecordingLayout, source=None):
        self.layout = layout
        self._source = source

    def __getattr__(self, name):
        return getattr(self._source, name)


def draw(drawable, source=None) -> RecordingLayout:
    """The layout that `drawable.draw` (a panel or preferences class) fills in the current context."""
    layout = RecordingLayout()
    drawable.draw(_Drawer(layout, source), bpy.context)
    return layout


def apply_motion(obj, motion, prompt: str = "a person walks", guidance: float = 2.0, context=None) -> list:
    """The Generate path after the backend: a finished job whose result is `motion`, applied to `obj` (None: the
    scene's SMPL character) as a new take. Returns the new takes."""
    from moscale_blender import jobs, takes  # not at import: conftest enables the add-on first

    plan = takes.GeneratePlan(obj.name if obj is not None else "", "", prompt, motion.seconds, 0, guidance, "fast")
    job = jobs.Job("generate", lambda progress, cancel: [motion], plan).run()
    assert job.state == jobs.DONE
    return takes.apply_result(context or bpy.context, job)
