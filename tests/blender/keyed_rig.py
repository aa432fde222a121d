"""A tiny hand-keyed rig with the bone names of Mesh2Motion's glTF rig (assets/rigs/targets/mesh2motion.json), saved as
.blend and exported as .glb: over frames 1-21 at 20 fps the pelvis moves 1 m along the character's forward and the
left knee bends 60 degrees. The armature object is turned a quarter to the left and scaled by a half (its bones twice
human size), so the reader has to work in world space: the character faces Blender's +X, MoScale's +X.

test_animation_files.py builds it in its own session; tests/test_extract_command.py runs this file as a script:

    python tests/blender/keyed_rig.py FOLDER       # FOLDER/walk.blend and FOLDER/walk.glb, in a factory session
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import bpy
from mathutils import Quaternion, Vector

ACTION = "Walk Forward"
FRAMES, FPS = 21, 20
TRAVEL_M, KNEE_DEGREES = 1.0, 60.0
SCALE = 0.5  # the object's scale; bones are 1 / SCALE human size, so the world is human size
TURN = math.pi / 2  # the object's rotation about Z: Blender's -Y (the rig's forward) becomes +X
PELVIS_HEIGHT_M = 0.917

# name, parent, head, tail: metres, Blender axes (Z up, the character facing -Y), the left side at +X
_CENTRE = [
    ("root", None, (0, 0, 0), (0, 0.918, 0)),
    ("DEF-hips", "root", (0, 0.05, 0.917), (0, 0.024, 1.017)),
    ("DEF-spine.001", "DEF-hips", (0, 0.016, 1.051), (0, 0, 1.174)),
    ("DEF-spine.002", "DEF-spine.001", (0, 0, 1.174), (0, 0.005, 1.315)),
    ("DEF-spine.003", "DEF-spine.002", (0, 0.005, 1.315), (0, 0.01, 1.478)),
    ("DEF-neck", "DEF-spine.003", (0, 0.011, 1.488), (0, -0.005, 1.569)),
    ("DEF-head", "DEF-neck", (0, -0.005, 1.569), (0, -0.008, 1.651)),
]
_LEFT = [
    ("DEF-shoulder.L", "DEF-spine.003", (0.019, -0.071, 1.458), (0.21, 0.041, 1.458)),
    ("DEF-upper_arm.L", "DEF-shoulder.L", (0.192, 0.065, 1.441), (0.466, 0.07, 1.441)),
    ("DEF-forearm.L", "DEF-upper_arm.L", (0.466, 0.07, 1.441), (0.739, 0.065, 1.441)),
    ("DEF-hand.L", "DEF-forearm.L", (0.739, 0.065, 1.441), (0.788, 0.065, 1.441)),
    ("DEF-thigh.L", "DEF-hips", (0.089, -0.001, 0.932), (0.089, 0.001, 0.532)),
    ("DEF-shin.L", "DEF-thigh.L", (0.089, 0.001, 0.532), (0.089, 0.036, 0.104)),
    ("DEF-foot.L", "DEF-shin.L", (0.089, 0.036, 0.104), (0.089, -0.113, 0.015)),
    ("DEF-toe.L", "DEF-foot.L", (0.089, -0.113, 0.015), (0.089, -0.287, 0.015)),
]


def _mirrored(bones):
    def side(name):
        return name.replace(".L", ".R") if name else name

    return [(side(n), side(p), (-h[0], h[1], h[2]), (-t[0], t[1], t[2])) for n, p, h, t in bones]


BONES = _CENTRE + _LEFT + _mirrored(_LEFT)


def build_rig(name: str = "Mesh2Motion Rig"):
    """The armature (active) with its action, and a skinned triangle (glTF keeps an armature only with a skin)."""
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = FPS, 1.0
    scene.frame_start, scene.frame_end = 1, FRAMES
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    scene.collection.objects.link(obj)
    obj.rotation_euler, obj.scale = (0.0, 0.0, TURN), (SCALE, SCALE, SCALE)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode='EDIT')
    for bone_name, parent, head, tail in BONES:
        bone = data.edit_bones.new(bone_name)
        bone.head, bone.tail = Vector(head) / SCALE, Vector(tail) / SCALE
        bone.parent = data.edit_bones[parent] if parent else None
    bpy.ops.object.mode_set(mode='OBJECT')
    _skin(obj)
    _key_walk(obj)
    return obj


def _skin(obj) -> None:
    mesh = bpy.data.meshes.new("Body")
    mesh.from_pydata([(0, 0, 1.8), (0.4, 0, 1.8), (0, 0, 2.2)], [], [(0, 1, 2)])
    body = bpy.data.objects.new("Body", mesh)
    bpy.context.scene.collection.objects.link(body)
    body.parent = obj
    body.vertex_groups.new(name="DEF-hips").add([0, 1, 2], 1.0, 'REPLACE')
    body.modifiers.new("Armature", 'ARMATURE').object = obj


def _key_walk(obj) -> None:
    pelvis, knee = obj.pose.bones["DEF-hips"], obj.pose.bones["DEF-shin.L"]
    forward = Vector((0.0, -TRAVEL_M / SCALE, 0.0))  # armature space: the rig faces -Y
    knee.rotation_mode = 'QUATERNION'
    for frame, share in ((1, 0.0), (FRAMES, 1.0)):
        pelvis.location = pelvis.bone.matrix_local.to_3x3().inverted() @ (forward * share)
        knee.rotation_quaternion = Quaternion((1.0, 0.0, 0.0), math.radians(KNEE_DEGREES) * share)
        pelvis.keyframe_insert("location", frame=frame)
        knee.keyframe_insert("rotation_quaternion", frame=frame)
    obj.animation_data.action.name = ACTION


def write_files(folder: Path) -> tuple[Path, Path]:
    """Save the current session as ``folder/walk.blend`` (a copy: the session keeps its file) and export
    ``folder/walk.glb`` (default glTF options)."""
    folder.mkdir(parents=True, exist_ok=True)
    blend, glb = folder / "walk.blend", folder / "walk.glb"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
    bpy.ops.export_scene.gltf(filepath=str(glb), export_format='GLB')
    return blend, glb


if __name__ == "__main__":
    bpy.ops.wm.read_factory_settings(use_empty=True)
    build_rig()
    for path in write_files(Path(sys.argv[1])):
        print(f"wrote {path}")
