"""Foot-contact evaluation: action groups from the manifest, reports against the real clips of the same action."""
import json

import numpy as np
import pytest

from moscale.evaluation import contact
from test_feet import REAL_FEATURES


def test_action_groups_from_the_manifest(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps([
        {"name": "a", "source": "bandai", "action": "walk", "windows": ["a_w00", "a_w01"]},
        {"name": "b", "source": "cmu", "action": "jump", "windows": ["b_w00"]}]))
    names = ["a_w01", "paraphrase_b_w00", "compound_heldout_00003", "unknown_w00"]
    assert contact.action_groups(tmp_path, names) == ["bandai/walk", "cmu/jump", "compound", "other"]
    assert contact.action_groups(tmp_path / "missing", ["a_w00"]) == ["other"]


def test_report_flags_clips_that_skate_more_than_real_ones():
    real = [contact.clip_stats(REAL_FEATURES[i:i + 60]) for i in range(0, 100, 10)]
    groups = ["walk"] * len(real)
    same = contact.contact_report(real, real, groups)["skating_cm_s"]
    assert same["above_real_p95"] <= 0.1 and same["median"] == same["real_median"]
    sliding = [dict(r, skating_cm_s=r["skating_cm_s"] + 50) for r in real]
    worse = contact.contact_report(real, sliding, groups)
    assert worse["skating_cm_s"]["above_real_p95"] == 1.0
    assert worse["skating_cm_s"]["median"] > same["real_p95"]
    table = contact.contact_table([{"name": "model", "contact": worse}])
    assert "| model | Foot skating (cm/s) |" in table and "100 %" in table


def test_small_actions_are_pooled():
    assert contact.pooled(["walk"] * 3 + ["kick"]) == ["walk"] * 3 + ["other"]
    real = [{"skating_cm_s": 1.0, "penetration_cm": 0.0, "floating_cm": 1.0, "jerk": 1.0}] * 4
    gen = [dict(r, skating_cm_s=np.nan) for r in real]  # no contact frame: left out, not counted as good
    assert contact.contact_report(real, gen, ["walk"] * 4)["skating_cm_s"]["above_real_p95"] is None


def test_locked_features_re_encode_the_joints():
    """The eval scores foot-locked clips through their re-encoded joints: unlocked, that is the features back."""
    from moscale.evaluation.generation import locked_features
    from moscale.motion.features import features_to_joints
    from moscale.motion import Motion

    features = REAL_FEATURES[:80].astype(np.float64)
    motion = Motion(features_to_joints(features), features=features)
    again = locked_features(motion, facing="humanml3d")
    assert again.shape == features.shape
    np.testing.assert_allclose(features_to_joints(again.astype(np.float64)), motion.joints, atol=2e-3)
    assert np.array_equal(again[:, 259:263], features[:, 259:263].astype(np.float32))


def test_skating_is_judged_from_the_joints_not_from_what_the_model_claims():
    """A foot sliding over the floor while the contact channels say it is in the air is still skating (the rule that
    made the real clips' channels, applied to the clip's joints); the claimed measure sees no contact at all."""
    from test_feet import standing_clip

    from moscale.motion.features import joints_to_features
    from moscale.motion.skeleton import CONTACT_SLICE

    joints, _ = standing_clip(frames=61, slide_cm_s=30.0)
    features = joints_to_features(joints.astype(np.float64), facing="humanml3d")
    honest = contact.clip_stats(features)
    features[:, CONTACT_SLICE] = 0  # the model claims both feet are in the air
    claimed_air = contact.clip_stats(features)
    assert honest["skating_cm_s"] == claimed_air["skating_cm_s"] > 10
    assert honest["claimed_skating_cm_s"] == pytest.approx(honest["skating_cm_s"], rel=0.05)
    assert np.isnan(claimed_air["claimed_skating_cm_s"])
