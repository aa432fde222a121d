"""Switching takes never loses the user's own action. With a take present, the animator assigns another action of
their own and presses Activate (or Duplicate) on a take: the take plays, and the user's action is kept as an
'original' take with a fake user, as Generate and Edit Range keep it. Before, it ended with 0 users and was gone after
save and reopen."""
from __future__ import annotations

import bpy
import pytest
from moscale.motion import Motion

from blender_helpers import apply_motion
from moscale_blender import keyframes


def keys_of(action) -> dict:
    return {(fc.data_path, fc.array_index): [tuple(point.co) for point in fc.keyframe_points]
            for fc in keyframes.action_fcurves(action)}


def key_own_action(rig, name: str, bone: str) -> tuple[bpy.types.Action, dict]:
    """A new action keyed by hand on ``rig`` (assigned, one user, no fake user), and its keys."""
    keyframes.assign(rig, None)
    pose_bone = rig.pose.bones[bone]
    pose_bone.rotation_mode = 'QUATERNION'
    for frame, z in ((1, 0.0), (30, 0.6), (60, -0.4)):
        pose_bone.rotation_quaternion = (1.0, 0.0, 0.0, z)
        pose_bone.keyframe_insert("rotation_quaternion", frame=frame)
    action = rig.animation_data.action
    action.name = name
    assert action.users == 1 and not action.use_fake_user
    return action, keys_of(action)


@pytest.mark.parametrize("press", ["activate", "duplicate"])
def test_a_take_button_keeps_the_users_assigned_action_through_save_and_reopen(scene, clip_joints, tmp_path, press):
    (take,) = apply_motion(None, Motion(clip_joints[:60]))  # the SMPL character's take
    rig, take_action = take.armature, take.action
    users_action, keys = key_own_action(rig, "My Wave", "right_shoulder")

    operator = bpy.ops.moscale.take_activate if press == "activate" else bpy.ops.moscale.take_duplicate
    assert operator(index=0) == {'FINISHED'}
    settings = bpy.context.scene.moscale
    playing = settings.takes[settings.active_take_index]
    assert rig.animation_data.action == playing.action
    assert playing.action == take_action if press == "activate" else playing.kind == 'DUPLICATE'
    (kept,) = [t for t in settings.takes if t.kind == 'ORIGINAL']
    assert kept.action == users_action and users_action.use_fake_user

    rig_name, path = rig.name, tmp_path / "switched.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.open_mainfile(filepath=str(path))
    action = bpy.data.actions.get("My Wave")
    assert action is not None and keys_of(action) == keys
    settings = bpy.context.scene.moscale
    (kept,) = [t for t in settings.takes if t.kind == 'ORIGINAL']
    assert kept.action == action
    assert bpy.ops.moscale.take_activate(index=list(settings.takes).index(kept)) == {'FINISHED'}  # it plays again
    assert bpy.data.objects[rig_name].animation_data.action == action


def test_switching_among_takes_and_originals_adds_no_more_originals(scene, clip_joints):
    (take,) = apply_motion(None, Motion(clip_joints[:60]))
    rig = take.armature
    key_own_action(rig, "My Wave", "right_shoulder")
    settings = bpy.context.scene.moscale
    for index in (0, 1, 0, 1, 0):  # the take, then the kept original, back and forth
        assert bpy.ops.moscale.take_activate(index=index) == {'FINISHED'}
        assert rig.animation_data.action == settings.takes[index].action
    assert [t.kind for t in settings.takes] == ['GENERATE', 'ORIGINAL']
