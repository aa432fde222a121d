"""Motion: construction checks, feature decoding, resampling, save -> load round trips."""
from pathlib import Path

import numpy as np
import pytest

from moscale.motion import features as F
from moscale.motion import Motion

FIXTURES = Path(__file__).parent / "fixtures" / "humanml3d"


@pytest.fixture(scope="module")
def reference():
    return np.load(FIXTURES / "new_joint_vecs" / "012314.npy"), np.load(FIXTURES / "new_joints" / "012314.npy")


@pytest.fixture
def motion(reference):
    return Motion(reference[1][:40], prompt="a person walks", metadata={"id": "012314"})


def test_basic_properties(motion):
    assert motion.num_frames == 40 and motion.fps == 20 and motion.seconds == 2.0
    assert motion.joints.dtype == np.float32


def test_rejects_bad_data(reference):
    with pytest.raises(ValueError):
        Motion(np.zeros((5, 21, 3)))
    with pytest.raises(ValueError):
        Motion(np.zeros((5, 22, 3)), fps=0)
    bad = reference[1][:5].copy()
    bad[2, 4, 1] = np.inf
    with pytest.raises(ValueError, match="non-finite"):
        Motion(bad)
    with pytest.raises(ValueError):
        Motion(reference[1][:5], features=np.zeros((5, 262)))
    with pytest.raises(ValueError):
        Motion.from_features(np.zeros((5, 22, 3)))


def test_from_features(reference):
    features, joints = reference
    mean, std = np.load(FIXTURES / "Mean.npy"), np.load(FIXTURES / "Std.npy")
    decoded = Motion.from_features(F.normalize(features, mean, std), mean, std, prompt="walk", id="012314")
    assert decoded.prompt == "walk" and decoded.metadata == {"id": "012314"}
    assert np.abs(decoded.joints - joints).max() <= 1e-4
    assert np.allclose(decoded.features, features, atol=1e-4)
    assert np.abs(Motion.from_features(features).joints - joints).max() <= 1e-4


def test_resample(motion):
    same = motion.resample(20)
    assert np.array_equal(same.joints, motion.joints) and same.joints is not motion.joints
    double = motion.resample(40)
    assert double.num_frames == 79 and double.fps == 40
    assert np.array_equal(double.joints[::2], motion.joints)
    assert np.allclose(double.joints[1], 0.5 * (motion.joints[0] + motion.joints[1]), atol=1e-6)
    half = motion.resample(10)
    assert half.num_frames == 20 and np.array_equal(half.joints, motion.joints[::2])
    odd = motion.resample(30)
    assert odd.num_frames == 59 and np.allclose(odd.joints[3], motion.joints[2], atol=1e-6)
    assert np.allclose(odd.resample(30).joints, odd.joints)


def test_npy_round_trip(tmp_path, motion, reference):
    motion.save(tmp_path / "clip.npy")
    loaded = Motion.load(tmp_path / "clip.npy")
    assert np.array_equal(loaded.joints, motion.joints)
    np.save(tmp_path / "vecs.npy", reference[0])
    from_vecs = Motion.load(tmp_path / "vecs.npy")
    assert from_vecs.features is not None and np.abs(from_vecs.joints - reference[1]).max() <= 1e-4
    np.save(tmp_path / "wrong.npy", np.zeros((4, 66)))
    with pytest.raises(ValueError, match="shape"):
        Motion.load(tmp_path / "wrong.npy")


def test_npz_round_trip(tmp_path, reference):
    original = Motion.from_features(reference[0][:30], prompt="walk", id="012314")
    original.save(tmp_path / "clip.npz")
    loaded = Motion.load(tmp_path / "clip.npz")
    assert np.array_equal(loaded.joints, original.joints)
    assert np.array_equal(loaded.features, original.features)
    # the file it came from is where an edit of it writes into (as for .bvh and .npy)
    assert (loaded.fps, loaded.prompt, loaded.metadata) == (20.0, "walk", {"id": "012314",
                                                                          "source": str(tmp_path / "clip.npz")})


def test_bvh_round_trip(tmp_path, motion):
    pytest.importorskip("moscale.motion.bvh")
    motion.save(tmp_path / "clip.bvh")
    loaded = Motion.load(tmp_path / "clip.bvh")
    assert loaded.fps == pytest.approx(20.0) and loaded.num_frames == motion.num_frames
    assert np.abs(loaded.joints - motion.joints).max() <= 1e-4  # 6 decimals in the file


def test_unknown_suffix(tmp_path, motion):
    with pytest.raises(ValueError, match="file type"):
        motion.save(tmp_path / "clip.txt")
    with pytest.raises(ValueError, match="file type"):
        Motion.load(tmp_path / "clip.txt")
