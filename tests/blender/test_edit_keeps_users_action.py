"""Edit Range never loses the user's own action. With a take present, the animator assigns another action of their
own and presses Edit Range: the edit becomes the armature's action, and the user's action is kept as an 'original'
take (with a fake user), as Generate keeps it. Before, it ended with 0 users and was gone after save and reopen."""
from __future__ import annotations

import bpy
from moscale.motion import Motion

from blender_helpers import apply_motion
from moscale_blender import keyframes

ACTION = "My Wave"


def keys_of(action) -> dict:
    return {(fc.data_path, fc.array_index): [tuple(point.co) for point in fc.keyframe_points]
            for fc in keyframes.action_fcurves(action)}


def test_edit_range_keeps_the_users_assigned_action_through_save_and_reopen(use_model, clip_joints, tmp_path):
    (take,) = apply_motion(None, Motion(clip_joints[:60]))  # the SMPL character's take
    rig = take.armature
    bpy.context.view_layer.objects.active = rig
    rig.select_set(True)
    keyframes.assign(rig, None)
    arm = rig.pose.bones["right_shoulder"]
    arm.rotation_mode = 'QUATERNION'
    for frame, z in ((1, 0.0), (30, 0.6), (60, -0.4)):  # the animator's own action, keyed by hand
        arm.rotation_quaternion = (1.0, 0.0, 0.0, z)
        arm.keyframe_insert("rotation_quaternion", frame=frame)
    users_action = rig.animation_data.action
    users_action.name = ACTION
    keys = keys_of(users_action)
    assert users_action.users == 1 and not users_action.use_fake_user

    settings = bpy.context.scene.moscale
    settings.edit_prompt, settings.edit_range, settings.edit_start, settings.edit_end = "waves", 'FRAMES', 20, 40
    assert bpy.ops.moscale.edit() == {'FINISHED'}
    edited = settings.takes[settings.active_take_index]
    assert edited.kind == 'EDIT' and rig.animation_data.action == edited.action
    (kept,) = [t for t in settings.takes if t.kind == 'ORIGINAL']
    assert kept.action == users_action and users_action.use_fake_user and users_action.users >= 1

    rig_name, path = rig.name, tmp_path / "edited.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.open_mainfile(filepath=str(path))
    action = bpy.data.actions.get(ACTION)
    assert action is not None and keys_of(action) == keys
    settings = bpy.context.scene.moscale
    (kept,) = [t for t in settings.takes if t.kind == 'ORIGINAL']
    assert kept.action == action
    bpy.ops.moscale.take_activate(index=list(settings.takes).index(kept))  # and it plays again
    assert bpy.data.objects[rig_name].animation_data.action == action
