"""Export BVH from every rig the add-on recognises, read it back with Blender's own importer (its defaults), and
every bone's head comes back where it was in the world. Before, a Rigify rig's file lost DEF-spine (its placeholder
root `__0` had no CHANNELS line, so the importer skipped the next line) and a Mixamo rig (object turned 90 degrees
about X, scaled 0.01, bones in centimetres) came back lying on its back at 100 times its size."""
from __future__ import annotations

import bpy
import numpy as np
import pytest
from moscale.motion import Motion
from moscale.motion.skeleton import JOINT_NAMES

from blender_helpers import apply_motion, fbx_like_rig, import_bvh_with_defaults, world_heads
from moscale_blender import export
from retarget_rigs import mixamo_like_bones

FRAMES = 40
CHECKED_FRAMES = (1, 8, 15, 22, 29, 36, 40)
TOLERANCE_M = 1e-4  # the file's 6 decimals (micrometres) carried down chains of up to ~15 bones
UNREAL_NAMES = {"pelvis": "pelvis", "left_hip": "thigh_l", "right_hip": "thigh_r", "spine1": "spine_01",
                "left_knee": "calf_l", "right_knee": "calf_r", "spine2": "spine_02", "left_ankle": "foot_l",
                "right_ankle": "foot_r", "spine3": "spine_03", "left_foot": "ball_l", "right_foot": "ball_r",
                "neck": "neck_01", "left_collar": "clavicle_l", "right_collar": "clavicle_r", "head": "head",
                "left_shoulder": "upperarm_l", "right_shoulder": "upperarm_r", "left_elbow": "lowerarm_l",
                "right_elbow": "lowerarm_r", "left_wrist": "hand_l", "right_wrist": "hand_r"}


def mixamo_rig() -> bpy.types.Object:
    return fbx_like_rig("Mixamo", *mixamo_like_bones("mixamorig:"))


def unreal_rig() -> bpy.types.Object:
    """The Mixamo-like proportions with the UE mannequin's names, under a `root` bone on the floor."""
    names, parents, heads, tails, rolls = mixamo_like_bones("")
    names = ["root"] + [UNREAL_NAMES[joint] for joint in JOINT_NAMES] + [f"{n}_leaf" for n in names[22:]]
    parents = [-1] + [p + 1 for p in parents]
    heads = np.concatenate([np.zeros((1, 3)), heads])
    tails = np.concatenate([[[0.0, 30.0, 0.0]], tails])
    return fbx_like_rig("Unreal Mannequin", names, parents, heads, tails, np.concatenate([[0.0], rolls]))


def take_on(kind: str, request, clip_joints) -> bpy.types.Object:
    """The rig of ``kind`` (active, selected) with a MoScale take of the reference clip's first FRAMES frames."""
    motion = Motion(clip_joints[:FRAMES])
    if kind == "smpl":
        (take,) = apply_motion(None, motion)
        return take.armature
    rig = request.getfixturevalue("rigify_rig") if kind == "rigify" else {"mixamo": mixamo_rig,
                                                                          "unreal": unreal_rig}[kind]()
    apply_motion(rig, motion)
    return rig


def below_scaled_bones(rig) -> set[str]:
    """Bones under a bone the pose scales at some CHECKED_FRAMES (Rigify's stretchy IK controls): BVH has no scale
    channels, so no BVH file puts their heads where they were."""
    scaled = set()
    for frame in CHECKED_FRAMES:
        bpy.context.scene.frame_set(frame)
        evaluated = rig.evaluated_get(bpy.context.evaluated_depsgraph_get())
        scaled |= {bone.name for bone in evaluated.pose.bones
                   if np.abs(np.array(bone.matrix.to_scale()) - 1.0).max() > 1e-4}
    return {bone.name for bone in rig.data.bones if any(parent.name in scaled for parent in bone.parent_recursive)}


def round_trip(rig, path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(before, after, names): world-space evaluated heads of the bones BVH can carry at CHECKED_FRAMES, on ``rig``
    and on the rig Blender's importer makes from the exported file. Every deform bone is among them."""
    skipped = below_scaled_bones(rig)
    assert not any(rig.data.bones[name].use_deform for name in skipped)
    names = [bone.name for bone in rig.data.bones if bone.name not in skipped]
    before = np.stack([world_heads(rig, frame, names) for frame in CHECKED_FRAMES])
    export.export_bvh(bpy.context, export.export_target(bpy.context), path)
    imported = import_bvh_with_defaults(path)
    after = np.stack([world_heads(imported, frame, names) for frame in CHECKED_FRAMES])
    return before, after, names


@pytest.mark.parametrize("kind", ["smpl", "mixamo", "rigify", "unreal"])
def test_every_rig_kind_comes_back_where_it_was(kind, scene, request, clip_joints, tmp_path):
    rig = take_on(kind, request, clip_joints)
    assert not export._moves_in_world(rig)  # the object's matrix is read once (Rigify's drivers move bones only)
    before, after, names = round_trip(rig, tmp_path / f"{kind}.bvh")
    error = np.linalg.norm(after - before, axis=-1)
    worst = np.unravel_index(error.argmax(), error.shape)
    print(f"{kind}: {len(names)} bones, max {1000 * error.max():.4f} mm ({names[worst[1]]}, frame "
          f"{CHECKED_FRAMES[worst[0]]}), height {before[0, :, 2].max():.3f} m")
    assert error.max() < TOLERANCE_M
    assert 1.3 < before[0, :, 2].max() < 2.2  # a person standing at human size (metres, Z up)


def test_rigify_file_names_every_channel_line(rigify_rig, clip_joints, tmp_path):
    """The many-rooted Rigify rig exports under a placeholder root: it says CHANNELS 0, as Blender writes it."""
    apply_motion(rigify_rig, Motion(clip_joints[:10]))
    path = export.export_bvh(bpy.context, export.export_target(bpy.context), tmp_path / "rigify.bvh")
    lines = [line.split() for line in path.read_text().splitlines()]
    assert lines[1] == ["ROOT", "__0"] and lines[4] == ["CHANNELS", "0"]
    offsets = [i for i, line in enumerate(lines) if line[0] == "OFFSET"]
    assert all(lines[i + 1][0] == "CHANNELS" for i in offsets if lines[i - 2][0] in ("ROOT", "JOINT"))


@pytest.mark.parametrize("mover", ["parent", "own keys"])
def test_an_armature_object_that_moves_is_baked_frame_by_frame(mover, scene, clip_joints, tmp_path):
    """The object's world transform changes every frame (a parent turns and travels, or the take's action keys the
    object itself)."""
    rig = mixamo_rig()
    apply_motion(rig, Motion(clip_joints[:FRAMES]))
    carrier = rig
    if mover == "parent":
        carrier = bpy.data.objects.new("Carrier", None)
        bpy.context.scene.collection.objects.link(carrier)
        rig.parent = carrier
    base_location, base_rotation = tuple(carrier.location), tuple(carrier.rotation_euler)
    for frame, (x, turn) in ((1, (0.0, 0.0)), (FRAMES, (2.0, 1.2))):
        carrier.location = (base_location[0] + x, base_location[1] + 0.5, base_location[2] + 0.1 * x)
        carrier.rotation_euler = (base_rotation[0], base_rotation[1], base_rotation[2] + turn)
        carrier.keyframe_insert("location", frame=frame)
        carrier.keyframe_insert("rotation_euler", frame=frame)
    bpy.context.view_layer.objects.active = rig
    assert export._moves_in_world(rig)
    before, after, _ = round_trip(rig, tmp_path / "carried.bvh")
    assert np.linalg.norm(before[-1, 0] - before[0, 0]) > 1.0  # it did move
    assert np.abs(after - before).max() < TOLERANCE_M


def test_a_non_uniform_scale_is_refused_with_what_to_do(scene, clip_joints, tmp_path):
    rig = mixamo_rig()
    apply_motion(rig, Motion(clip_joints[:10]))
    rig.scale = (0.01, 0.02, 0.01)
    message = r"'Mixamo': BVH cannot carry its object transform \(.*non-uniform scale\)\); apply its scale"
    with pytest.raises(export.ExportError, match=message):
        export.export_bvh(bpy.context, export.export_target(bpy.context), tmp_path / "stretched.bvh")
    assert not (tmp_path / "stretched.bvh").exists()
