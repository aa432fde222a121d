"""The Export box: FBX/BVH of the active take through Blender's exporters, the scene left as it was, existing files
kept unless confirmed, and the panel rows (the Install PyTorch row too, for the light build)."""
from __future__ import annotations

import bpy
import pytest
from moscale.motion import Motion

from blender_helpers import draw, world_heads
from moscale_blender import export, panels, takes, torch_install


@pytest.fixture
def take(scene, clip_joints):
    """A take on the SMPL character (40 frames of the reference clip), made the way Generate makes one."""
    plan = takes.GeneratePlan("", "", "walk", 2.0, 0, 5.0, "fast")
    (made,) = takes.apply_generate(bpy.context, plan, [Motion(clip_joints[:40])])
    return made


def scene_state(scene, rig) -> dict:
    animation = rig.animation_data
    return {"selected": sorted(obj.name for obj in scene.objects if obj.select_get()),
            "active": bpy.context.view_layer.objects.active.name, "frames": (scene.frame_start, scene.frame_end),
            "current": scene.frame_current, "action": animation.action.name if animation.action else None,
            "names": sorted(obj.name for obj in bpy.data.objects)}


def test_nothing_to_export_without_a_take_or_an_action(scene):
    with pytest.raises(export.ExportError, match="generate a take first"):
        export.export_target(bpy.context)
    assert not bpy.ops.moscale.export_fbx.poll() and not bpy.ops.moscale.export_bvh.poll()
    assert ("label", "Nothing to export: generate a take first, or select an armature that has an action.") in draw(
        panels.MOSCALE_PT_export).log


def test_exports_leave_the_scene_as_it_was(take, tmp_path):
    scene, rig = bpy.context.scene, take.armature
    helper = bpy.data.objects.new("Helper", None)
    scene.collection.objects.link(helper)
    rig.select_set(False)
    helper.select_set(True)
    bpy.context.view_layer.objects.active = helper
    scene.frame_start, scene.frame_end, scene.frame_current = 5, 250, 17
    other = bpy.data.actions.new("Other")
    takes.keyframes.assign(rig, other)
    before, actions = scene_state(scene, rig), set(bpy.data.actions)

    target = export.export_target(bpy.context)
    assert (target.armature, target.action, target.frame_start, target.frame_end) == (rig, take.action, 1, 40)
    for preset in ("UNITY", "UNREAL"):
        path = export.export_fbx(bpy.context, target, tmp_path / f"{preset}.fbx", preset)
        assert path.stat().st_size > 10_000
    assert export.export_bvh(bpy.context, target, tmp_path / "take.bvh").read_text().startswith("HIERARCHY")
    assert scene_state(scene, rig) == before
    assert set(bpy.data.actions) == actions  # the FBX's copy of the take, keyed from frame 0, is gone again
    assert export.deformed_meshes(rig) == [bpy.data.objects["SMPL Character Mannequin"]]


def test_an_fbx_clip_starts_at_time_zero_wherever_the_take_starts(scene, clip_joints, tmp_path):
    """Imported with Blender's FBX importer and its defaults, as an animator imports one, a take keyed at frames
    31-70 plays at frames 1-40 (it came back a frame late, at 32-71, from a take at 1-40 it came back at 2-41)."""
    scene.frame_start = scene.frame_current = 31
    plan = takes.GeneratePlan("", "", "walk", 2.0, 0, 5.0, "fast")
    (take,) = takes.apply_generate(bpy.context, plan, [Motion(clip_joints[:40])])
    assert (take.frame_start, take.frame_count) == (31, 40)
    names = ("pelvis", "left_ankle", "right_wrist")
    keyed = [world_heads(take.armature, 31 + row, names) for row in range(40)]
    path = export.export_fbx(bpy.context, export.export_target(bpy.context), tmp_path / "late.fbx")
    bpy.ops.wm.read_homefile(use_empty=True)
    assert bpy.ops.import_scene.fbx(filepath=str(path)) == {'FINISHED'}
    (imported,) = [obj for obj in bpy.data.objects if obj.type == 'ARMATURE']
    assert tuple(round(v) for v in imported.animation_data.action.frame_range) == (1, 40)
    for row in (0, 13, 39):
        assert abs(world_heads(imported, 1 + row, names) - keyed[row]).max() < 1e-4


def test_pose_mode_is_kept(take, tmp_path):
    rig = take.armature
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode='POSE')
    export.export_bvh(bpy.context, export.export_target(bpy.context), tmp_path / "take.bvh")
    assert bpy.context.mode == 'POSE' and bpy.context.view_layer.objects.active == rig
    bpy.ops.object.mode_set(mode='OBJECT')


def test_an_existing_file_needs_confirmation(take, tmp_path):
    path = tmp_path / "take.fbx"
    path.write_text("keep me")
    with pytest.raises(RuntimeError, match="exists: confirm it in the file browser"):
        bpy.ops.moscale.export_fbx(filepath=str(path))
    assert path.read_text() == "keep me"
    # the file browser sets this when the user confirmed; a script says check_existing=False
    assert bpy.ops.moscale.export_fbx(filepath=str(path), confirmed_in_browser=True) == {'FINISHED'}
    assert path.stat().st_size > 10_000
    bvh = tmp_path / "take.bvh"
    bvh.write_text("keep me")
    assert bpy.ops.moscale.export_bvh(filepath=str(bvh), check_existing=False) == {'FINISHED'}
    assert bvh.read_text().startswith("HIERARCHY")


def test_file_extension_is_added(take, tmp_path):
    assert bpy.ops.moscale.export_bvh(filepath=str(tmp_path / "walk")) == {'FINISHED'}
    assert (tmp_path / "walk.bvh").is_file()


def test_unknown_preset_is_refused(take, tmp_path):
    with pytest.raises(export.ExportError, match="Unknown FBX preset"):
        export.export_fbx(bpy.context, export.export_target(bpy.context), tmp_path / "x.fbx", "GODOT")


def test_export_panel_offers_both_presets_and_bvh(take):
    layout = draw(panels.MOSCALE_PT_export)
    assert ("label", "Take 1: frames 1-40") in layout.log
    buttons = {(idname, text, getattr(properties, "preset", None)) for idname, text, properties in layout.buttons}
    assert buttons == {("moscale.export_fbx", "FBX Unity", "UNITY"), ("moscale.export_fbx", "FBX Unreal", "UNREAL"),
                       ("moscale.export_bvh", "BVH", None), ("moscale.export_amass", "AMASS .npz", None)}


def test_main_panel_offers_pytorch_when_it_is_missing(scene, monkeypatch):
    assert ("operator", "moscale.install_torch") not in draw(panels.MOSCALE_PT_main).log
    monkeypatch.setattr(torch_install, "torch_available", lambda: False)
    layout = draw(panels.MOSCALE_PT_main)
    variants = {properties.variant for idname, _, properties in layout.buttons if idname == "moscale.install_torch"}
    assert variants == {"CPU", "CUDA"}
    assert any(kind == "label" and "PyTorch is missing" in text for kind, text in layout.log)
    assert ("operator", "moscale.generate") in layout.log
