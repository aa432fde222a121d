"""The panel's Keyed Poses on a rig made by Blender's own Rigify, with the bundled model: the animator keys two poses
on the rig's controls, Generate makes a take that passes through them, the take's F-curves hold the animator's own
values at those frames bit for bit, and the animator's action is kept as it was."""
from __future__ import annotations

import bpy
import numpy as np
import pytest

from blender_helpers import scene_state
from moscale_blender import keyframes, rig
from test_control_path import use_bundled_model

KEYED = (5, 30)


@pytest.fixture
def bundled(scene):
    yield from use_bundled_model(scene)


def key_poses(obj) -> None:
    """Two poses keyed on the controls (arms in FK, as an animator posing them switches them): the torso moved and
    turned, the arms raised, one at each keyed frame."""
    bones = obj.pose.bones
    for side in ("L", "R"):
        bones[f"upper_arm_parent.{side}"]["IK_FK"] = 1.0
    poses = {
        KEYED[0]: {"torso": dict(location=(0.0, 0.0, 0.0), rotation_quaternion=(0.995, 0.0, 0.0, 0.0998)),
                   "upper_arm_fk.L": dict(rotation_quaternion=(0.924, 0.0, 0.0, -0.383)),
                   "upper_arm_fk.R": dict(rotation_quaternion=(1.0, 0.0, 0.0, 0.0))},
        KEYED[1]: {"torso": dict(location=(0.05, 0.0, -0.6), rotation_quaternion=(0.980, 0.0, 0.0, -0.199)),
                   "upper_arm_fk.L": dict(rotation_quaternion=(1.0, 0.0, 0.0, 0.0)),
                   "upper_arm_fk.R": dict(rotation_quaternion=(0.866, 0.0, 0.0, 0.5))},
    }
    for frame, pose in poses.items():
        for name, channels in pose.items():
            for channel, value in channels.items():
                setattr(bones[name], channel, value)
                bones[name].keyframe_insert(channel, frame=frame)


def channel_keys(action) -> dict:
    """(data path, index) -> {frame: value} of every key."""
    keys = {}
    for fcurve in keyframes.action_fcurves(action):
        co = np.empty(2 * len(fcurve.keyframe_points), dtype=np.float32)
        fcurve.keyframe_points.foreach_get("co", co)
        keys[(fcurve.data_path, fcurve.array_index)] = dict(zip(co[0::2].tolist(), co[1::2].tolist()))
    return keys


def test_keyed_poses_on_a_rigify_rig(bundled, rigify_rig):
    scene = bpy.context.scene
    settings = scene.moscale
    settings.prompt, settings.seconds, settings.seed, settings.keyed_poses = "a person waves", 2.0, 0, True
    key_poses(rigify_rig)
    user_action = rigify_rig.animation_data.action
    user = channel_keys(user_action)
    match = rig.match_bones(rigify_rig)
    posed = {frame: rig.evaluated_joints(rigify_rig, match, scene, frame) for frame in KEYED}

    assert bpy.ops.moscale.generate() == {'FINISHED'}
    take = settings.takes[settings.active_take_index]
    assert take.kind == 'GENERATE' and rigify_rig.animation_data.action == take.action
    (original,) = [t for t in settings.takes if t.kind == 'ORIGINAL']
    assert original.action == user_action and channel_keys(user_action) == user  # the animator's action, untouched

    made = channel_keys(take.action)
    for (path, index), keys in user.items():
        for frame in KEYED:
            assert made[(path, index)][float(frame)] == keys[float(frame)], (path, index, frame)  # bit for bit
    frames = [rig.evaluated_joints(rigify_rig, match, scene, f)
              for f in range(take.frame_start, take.frame_start + take.frame_count)]
    steps = np.linalg.norm(np.diff(frames, axis=0), axis=-1).max(axis=-1)
    for frame in KEYED:
        error = np.linalg.norm(frames[frame - take.frame_start] - posed[frame], axis=-1)
        around = steps[frame - take.frame_start - 2: frame - take.frame_start + 2]
        print(f"frame {frame}: DEF joints from the keyed pose max {error.max():.3f}, mean {error.mean():.3f}; "
              f"steps around {np.round(around, 3)}, median step {np.median(steps):.3f}")
        assert error.max() <= 0.05
        assert around.max() <= 3 * np.median(steps) + 0.01

    # again, with the armature now playing the take: the poses come from its original action, with its switches
    settings.seed = 1
    assert bpy.ops.moscale.generate() == {'FINISHED'}
    again = channel_keys(settings.takes[settings.active_take_index].action)
    assert again != made
    assert all(again[channel][float(frame)] == keys[float(frame)] for channel, keys in user.items() for frame in KEYED)
    assert rigify_rig.pose.bones["upper_arm_parent.L"]["IK_FK"] == 1.0 and channel_keys(user_action) == user


def test_keyed_poses_need_keys_inside_the_take(bundled, rigify_rig):
    settings = bpy.context.scene.moscale
    settings.prompt, settings.seconds, settings.keyed_poses = "a person waves", 1.0, True
    before = scene_state(bpy.context.scene)
    with pytest.raises(RuntimeError, match="Keyed Poses: armature 'rig' has no keys of its own"):
        bpy.ops.moscale.generate()
    rigify_rig.pose.bones["torso"].keyframe_insert("location", frame=80)  # after the take's 20 frames
    with pytest.raises(RuntimeError, match="no keys inside the take's frames 1-20"):
        bpy.ops.moscale.generate()
    assert scene_state(bpy.context.scene)["takes"] == before["takes"]
