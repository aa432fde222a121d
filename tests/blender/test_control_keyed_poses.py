"""The panel's Keyed Poses on a rig made by Blender's own Rigify, with the bundled model: the animator keys two poses
on the rig's controls, Generate makes a take that passes through them, the take's F-curves hold the animator's own
values at those frames bit for bit, and the animator's action is kept as it was."""
from __future__ import annotations

import bpy
import numpy as np
import pytest

from blender_helpers import channel_keys, scene_state
from moscale_blender import keyframes, rig
from test_control_path import use_bundled_model

KEYED = (5, 30)
UPPER = [0, 3, 6, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]  # SMPL joints above the hips: the bones the tests key


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
        print(f"frame {frame}: DEF joints from the keyed pose max {error.max():.3f} (upper body "
              f"{error[UPPER].max():.4f}), mean {error.mean():.3f}; steps around {np.round(around, 3)}, median step "
              f"{np.median(steps):.3f}")
        # the keyed bones: the keyed pose; the legs (the rig's IK feet, not keyed) are where the rig's own foot pins
        # hold them: the wave's plant through a keyed frame is pinned where that frame has the foot, and the keyed
        # frames are not moved (retarget.joint_frames' held_frames), so they stand as keyed but for the root scale
        # (the keys are read at the standard skeleton's leg length, the take is retargeted at its own mean: the
        # crouch at frame 30 lands 1.5-1.9 cm off; the rig's pins at the plant's average foot left 4.9-6.4 cm)
        assert error[UPPER].max() <= 1e-3 and error.max() <= 0.03
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


def test_a_loop_returns_to_the_pose_keyed_on_its_first_frame(bundled, rigify_rig):
    """A loop whose first frame is keyed: the cycle comes back to the keyed pose. The user's values are keyed on the
    first frame and again on the repetition's (the locations moved by the cycle's travel), the cycle's end eases into
    them, and the evaluated rig steps across the seam no more than it does in the middle of the take."""
    scene = bpy.context.scene
    settings = scene.moscale
    settings.prompt, settings.seconds, settings.seed = "a person walks forward", 2.0, 0
    settings.keyed_poses, settings.loop = True, True
    key_poses(rigify_rig)
    action = rigify_rig.animation_data.action
    for fcurve in keyframes.action_fcurves(action):  # only the first pose, moved onto the loop's first frame
        points = fcurve.keyframe_points
        for index in reversed(range(len(points))):
            if points[index].co[0] != KEYED[0]:
                points.remove(points[index])
        for point in fcurve.keyframe_points:
            point.co[0] = point.handle_left[0] = point.handle_right[0] = scene.frame_start
        fcurve.update()
    user = channel_keys(action)
    match = rig.match_bones(rigify_rig)
    posed = rig.evaluated_joints(rigify_rig, match, scene, scene.frame_start)

    assert bpy.ops.moscale.generate() == {'FINISHED'}
    take = settings.takes[settings.active_take_index]
    start, period = take.frame_start, take.frame_count
    made = channel_keys(take.action)
    for channel, keys in user.items():
        assert made[channel][float(start)] == keys[float(start)], channel  # the keyed values, bit for bit
        if not channel[0].endswith("location"):  # (the locations repeat moved by the cycle's travel: below)
            assert made[channel][float(start + period)] == keys[float(start)], channel  # ... and one cycle on
    frames = np.array([rig.evaluated_joints(rigify_rig, match, scene, f) for f in range(start, start + 2 * period)])
    error = np.linalg.norm(frames[0] - posed, axis=-1)
    back = np.linalg.norm(frames[period] - frames[0] - np.median(frames[period] - frames[0], axis=0), axis=-1)
    steps = np.linalg.norm(np.diff(frames, axis=0), axis=-1).max(axis=-1)
    print(f"keyed first frame: DEF joints from the keyed pose max {error.max():.4f} m (upper body "
          f"{error[UPPER].max():.2e}); one cycle on, off the keyed pose moved by the travel: {back.max():.4f} m; "
          f"step into the repetition {steps[period - 1]:.3f} m, median step {np.median(steps):.3f} m")
    assert error[UPPER].max() <= 1e-4  # the keyed bones: the keyed pose (the legs follow the take's pinned feet)
    # the rig keeps the keyed frame, feet too, and pins the cycle across its seam (retarget.joint_frames' held_frames
    # and cycle): the legs within 0.1 mm, one cycle on 0.0 mm (pinned as a take of its own: 1.7 cm and 2.0 cm)
    assert error.max() <= 0.01 and back.max() <= 0.01
    assert steps[period - 1] <= np.median(steps)  # no jump at the seam

