"""BVH is Y up everywhere: the add-on's Export BVH and the command line's .bvh both come back where they were when
Blender's own importer reads them with its defaults (which assume Y up). Before, the add-on wrote Blender's
Z-up armature space, and the character imported lying on its back (5.5 m off)."""
from __future__ import annotations

import bpy
import numpy as np
import pytest
from moscale.motion import Motion
from moscale.motion.skeleton import JOINT_NAMES

from blender_helpers import import_bvh_with_defaults, world_heads
from moscale_blender import export, takes

FRAMES = 40


def test_addon_bvh_export_imports_standing_where_it_was(scene, clip_joints, tmp_path):
    plan = takes.GeneratePlan("", "", "walk", FRAMES / 20, 0, 5.0, "fast")
    (take,) = takes.apply_generate(bpy.context, plan, [Motion(clip_joints[:FRAMES])])
    rig = take.armature
    names = [bone.name for bone in rig.data.bones]
    frames = range(take.frame_start, take.frame_start + FRAMES, 7)
    before = np.stack([world_heads(rig, frame, names) for frame in frames])
    path = export.export_bvh(bpy.context, export.export_target(bpy.context), tmp_path / "take.bvh")

    imported = import_bvh_with_defaults(path)
    after = np.stack([world_heads(imported, frame, names) for frame in frames])
    assert np.abs(after - before).max() < 1e-4  # metres: the file's 6 decimals
    head = names.index(next(name for name in names if "head" in name.lower()))
    assert after[0, head, 2] > 1.3  # standing at the first frame: the head 1.4 m above the floor (Z up)


def test_cli_bvh_imports_standing_where_the_motion_is(addon, clip_joints, tmp_path):
    path = tmp_path / "walk.bvh"
    Motion(clip_joints[:FRAMES]).save(path)  # what `moscale generate/convert/export -o walk.bvh` writes
    imported = import_bvh_with_defaults(path)
    # The motion is Y up facing +Z; Blender is Z up with the front facing -Y: (x, y, z) -> (x, -z, y).
    expected = clip_joints[:FRAMES] @ np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]).T
    for frame in (1, 20, FRAMES):
        heads = world_heads(imported, frame, JOINT_NAMES)
        assert np.abs(heads - expected[frame - 1]).max() == pytest.approx(0.0, abs=1e-4)
