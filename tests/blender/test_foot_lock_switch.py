"""The panel's Foot Lock switch reaches the backend: the keyed motion is the backend's with and without it."""
from __future__ import annotations

import bpy
import numpy as np

from moscale_blender import jobs, keyframes


def test_foot_lock_switch(scene, use_model):
    settings = scene.moscale
    settings.target, settings.seconds, settings.seed, settings.prompt = 'SMPL', 2.0, 5, "a person stands still"
    assert settings.foot_lock is True  # on by default
    assert bpy.ops.moscale.generate() == {'FINISHED'}
    settings.foot_lock = False
    assert bpy.ops.moscale.generate() == {'FINISHED'}
    locked, raw = (keyframes.stored_motion(take.action)[0] for take in settings.takes)
    pipe = jobs.get_pipeline(str(use_model), "cpu")
    for joints, lock in ((locked, True), (raw, False)):
        expected = pipe.generate("a person stands still", seconds=2.0, seed=5, guidance=settings.guidance,
                                 schedule="fast", foot_lock=lock)
        np.testing.assert_allclose(joints, expected.joints, atol=1e-5)
    assert not np.allclose(locked, raw)  # a random-weight model's feet slide: the lock changed them


def test_foot_lock_off_leaves_a_users_rig_unpinned(scene, use_model):
    """With Foot Lock off the rig's feet are keyed as retargeted (moscale.motion.rig_feet pins them only with it on)."""
    from feet_check import mixamo_style_rig
    from moscale_blender import rig
    from blender_helpers import apply_motion

    obj = mixamo_style_rig()
    pipe = jobs.get_pipeline(str(use_model), "cpu")
    match = rig.match_bones(obj)
    fps = scene.render.fps / scene.render.fps_base
    for lock in (True, False):
        motion = pipe.generate("a person walks forward", seconds=3.0, seed=2, foot_lock=lock)
        (take,) = apply_motion(obj, motion)
        keys = rig.take_keys(obj, match, motion.joints, motion.fps, fps, pin_feet=lock)
        other = rig.take_keys(obj, match, motion.joints, motion.fps, fps, pin_feet=not lock)
        bone = match.bone_of_joint[4]  # the left knee bone: re-aimed by the pin
        path = f'pose.bones["{bone}"].rotation_quaternion'
        expected = np.stack([c[3] for c in keys.channels if c[0] == path], axis=-1)  # (T, 4)
        unexpected = np.stack([c[3] for c in other.channels if c[0] == path], axis=-1)
        written = np.stack([keyframes.read_channel(take.action, path, i)[:, 1] for i in range(4)], axis=-1)
        np.testing.assert_allclose(written, expected, atol=1e-5)
        assert np.abs(written - unexpected).max() > 1e-3
