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
