"""Which armature a button acts on: Edit Range edits the selected armature's take (never silently another
armature's), and the first Generate in an empty scene makes the SMPL character instead of failing."""
from __future__ import annotations

import bpy
import numpy as np
import pytest
from moscale.motion import Motion

from blender_helpers import apply_motion, build_armature, scene_state
from moscale_blender import character, keyframes, takes
from retarget_rigs import mixamo_like_bones


def select_only(obj) -> None:
    for other in bpy.context.view_layer.objects:
        other.select_set(False)
    bpy.context.view_layer.objects.active = obj
    if obj is not None:
        obj.select_set(True)


@pytest.fixture
def two_rigs(scene, clip_joints):
    smpl = character.create_smpl_character(bpy.context, clip_joints)
    (smpl_take,) = apply_motion(smpl, Motion(clip_joints[:60]))
    names, parents, heads, tails, rolls = mixamo_like_bones("mixamorig:")
    mixamo = build_armature("Mixamo", names, parents, heads, tails, rolls, scale=0.01)
    (mixamo_take,) = apply_motion(mixamo, Motion(clip_joints[60:140]))
    return smpl, smpl_take.action, mixamo, mixamo_take.action


def test_edit_range_acts_on_the_selected_armatures_take(two_rigs, use_model, clip_joints):
    smpl, smpl_action, mixamo, mixamo_action = two_rigs
    settings = bpy.context.scene.moscale
    settings.active_take_index = [t.action for t in settings.takes].index(smpl_action)  # SMPL's take is active
    select_only(mixamo)
    settings.edit_range, settings.edit_start, settings.edit_end = 'FRAMES', 20, 40
    request, plan = takes.plan_edit(bpy.context)
    assert plan.source_action == mixamo_action.name
    assert np.array_equal(request.source_joints, keyframes.stored_motion(mixamo_action)[0])

    smpl_keys = [tuple(fc.keyframe_points[5].co) for fc in keyframes.action_fcurves(smpl_action)]
    assert bpy.ops.moscale.edit() == {'FINISHED'}
    edited = settings.takes[settings.active_take_index]
    assert edited.armature == mixamo and edited.source_take == settings.takes[1].name
    assert mixamo.animation_data.action == edited.action and smpl.animation_data.action == smpl_action
    assert [tuple(fc.keyframe_points[5].co) for fc in keyframes.action_fcurves(smpl_action)] == smpl_keys


def test_edit_range_on_an_armature_without_takes_says_so(two_rigs, use_model):
    names, parents, heads, tails, rolls = mixamo_like_bones("")
    bare = build_armature("Bare", names, parents, heads, tails, rolls)
    select_only(bare)
    before = scene_state(bpy.context.scene)
    with pytest.raises(RuntimeError, match="Armature 'Bare' has no MoScale take to edit: generate one on it first"):
        bpy.ops.moscale.edit()
    assert scene_state(bpy.context.scene) == before


def test_first_generate_in_an_empty_scene_makes_the_smpl_character(scene, use_model):
    settings = scene.moscale
    assert settings.target == 'ACTIVE' and not any(o.type == 'ARMATURE' for o in scene.objects)
    settings.prompt, settings.seconds = "a person walks forward", 1.0
    assert bpy.ops.moscale.generate() == {'FINISHED'}
    rig = settings.smpl_character
    assert rig is not None and rig.animation_data.action == settings.takes[0].action
    assert bpy.context.active_object == rig  # made active: the next Generate animates it again
    assert bpy.ops.moscale.generate() == {'FINISHED'}
    assert len([o for o in bpy.data.objects if o.type == 'ARMATURE']) == 1 and len(settings.takes) == 2


def test_generate_with_other_armatures_but_none_selected_asks_for_one(scene, use_model):
    names, parents, heads, tails, rolls = mixamo_like_bones("")
    build_armature("Hero", names, parents, heads, tails, rolls)
    select_only(None)
    with pytest.raises(RuntimeError, match="No armature selected: select the character's armature"):
        bpy.ops.moscale.generate()


def test_edit_panel_names_the_take_it_will_edit(two_rigs):
    from blender_helpers import draw
    from moscale_blender import panels

    smpl, smpl_action, mixamo, mixamo_action = two_rigs
    settings = bpy.context.scene.moscale
    settings.active_take_index = [t.action for t in settings.takes].index(smpl_action)
    select_only(mixamo)
    layout = draw(panels.MOSCALE_PT_edit)
    mixamo_take = next(t for t in settings.takes if t.action == mixamo_action)
    assert ("label", f"Edits: {mixamo_take.name} on Mixamo") in layout.log


@pytest.mark.parametrize("operator", ["export_fbx", "export_bvh", "export_amass"])
def test_export_with_nothing_to_export_says_why(scene, tmp_path, operator):
    with pytest.raises(RuntimeError, match="Nothing to export: generate a take first"):
        getattr(bpy.ops.moscale, operator)(filepath=str(tmp_path / "out"))


def test_keys_follow_each_bones_rotation_mode(scene, clip_joints):
    names, parents, heads, tails, rolls = mixamo_like_bones("")
    obj = build_armature("Modes", names, parents, heads, tails, rolls)
    modes = {"LeftUpLeg": 'AXIS_ANGLE', "RightUpLeg": 'ZXY', "Spine": 'YZX', "LeftArm": 'QUATERNION'}
    for name, mode in modes.items():
        obj.pose.bones[name].rotation_mode = mode
    (take,) = apply_motion(obj, Motion(clip_joints[:80]))  # the evaluated rig is checked against the motion
    paths = {fc.data_path for fc in keyframes.action_fcurves(take.action)}
    assert {'pose.bones["LeftUpLeg"].rotation_axis_angle', 'pose.bones["RightUpLeg"].rotation_euler',
            'pose.bones["Spine"].rotation_euler', 'pose.bones["LeftArm"].rotation_quaternion'} <= paths
    assert {name: obj.pose.bones[name].rotation_mode for name in modes} == modes
    euler = keyframes.read_channel(take.action, 'pose.bones["RightUpLeg"].rotation_euler', 0)[:, 1]
    assert np.abs(np.diff(euler)).max() < 1.0  # continuous: no 360 degree flips between frames
