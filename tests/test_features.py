"""The 263-d codec against HumanML3D's reference clip 012314, both decoder variants, and preprocessing."""
from pathlib import Path

import numpy as np
import pytest

from moscale.motion import features as F
from moscale.motion import kinematics as K
from moscale.motion import rotations as R
from moscale.motion.skeleton import BONE_LENGTHS_M, FACE_JOINTS, FEATURE_DIM, rest_offsets_m

FIXTURES = Path(__file__).parent / "fixtures" / "humanml3d"
SMOOTH_RADIUS = 80  # frames: int(4 * sigma + 0.5) with sigma = 20


@pytest.fixture(scope="module")
def reference():
    features = np.load(FIXTURES / "new_joint_vecs" / "012314.npy")
    joints = np.load(FIXTURES / "new_joints" / "012314.npy")
    return features, joints


def test_decoder_reproduces_reference_joints(reference):
    features, joints = reference
    decoded = F.features_to_joints(features)
    assert decoded.shape == joints.shape and decoded.dtype == np.float32
    assert np.abs(decoded - joints).max() <= 1e-4  # measured 2.4e-7
    assert np.abs(F.features_to_joints(features, root_recovery="exact") - joints).max() <= 1e-4


def test_shifted_root_recovery_misses_reference(reference):
    """The off-by-one reading (step t un-rotated with frame t's facing) is not what produced the data."""
    features, joints = reference
    shifted = F.features_to_joints(features, root_recovery="shifted")
    assert np.abs(shifted - joints).max() > 0.05  # measured 0.18 m: the clip turns
    relative = lambda j: j - j[:, :1]
    assert np.abs(relative(shifted) - relative(joints)).max() <= 1e-4  # only the root path differs
    assert np.allclose(shifted[0], joints[0], atol=1e-6)  # both start at the origin
    straight = features.copy()
    straight[:, 0] = 0.0  # no turning: the variants agree
    assert np.allclose(F.features_to_joints(straight, root_recovery="shifted"), F.features_to_joints(straight), atol=1e-6)


def test_encoder_reproduces_reference_features(reference):
    features, joints = reference
    encoded = F.joints_to_features(joints)
    assert encoded.shape == (len(joints) - 1, FEATURE_DIM) and encoded.dtype == np.float32
    errors = F.channel_errors(encoded, features[:-1])
    # root height and contacts do not depend on the smoothed facing: exact everywhere
    assert errors["root_height"] <= 1e-6 and errors["contacts"] == 0.0
    # every channel matches away from the end; near it the smoothed facing misses the dropped last frame
    head = len(encoded) - SMOOTH_RADIUS - 1
    head_errors = F.channel_errors(encoded[:head], features[:head])
    assert max(head_errors.values()) <= 1e-5, head_errors  # rot6d 7.7e-6, the rest <= 3.5e-7
    assert errors["ric"] <= 1e-2 and errors["rot6d"] <= 2e-2, errors  # measured 6.8e-3 / 1.3e-2


def test_encoder_matches_all_rows_with_the_dropped_frame_restored(reference):
    features, joints = reference
    full = F.features_to_joints(features, with_last_frame=True)  # (171, 22, 3)
    assert np.abs(full[:-1] - joints).max() <= 1e-4
    errors = F.channel_errors(F.joints_to_features(full), features)
    assert max(errors.values()) <= 1e-5, errors


def test_corrected_facing_differs_from_published(reference):
    features, joints = reference
    corrected = F.joints_to_features(joints, facing="corrected")
    errors = F.channel_errors(corrected, features[:-1])
    assert errors["ric"] > 1e-2  # the published features use the swapped hips (HumanML3D issue 119)
    assert np.abs(F.features_to_joints(corrected) - joints[:-1]).max() <= 1e-5  # still a lossless code


def turning_walk(frames=60, turn=2.5):
    """A T-pose body walking forward along a curve while turning left by ``turn`` radians."""
    rest = K.forward_kinematics(R.identity((1, 22)), np.zeros((1, 3)), rest_offsets_m())[0]
    angles = np.linspace(0.0, turn, frames)
    facing = R.y_rotation(angles)
    step = R.rotate(facing, np.array([0.0, 0.0, 0.05]))
    root = np.cumsum(step, axis=0) - step[0]
    return R.rotate(facing[:, None], rest) + root[:, None] + np.array([0.0, 1.0, 0.0])


@pytest.mark.parametrize("facing", ["humanml3d", "corrected"])
@pytest.mark.parametrize("root_recovery", ["humanml3d", "shifted"])
def test_round_trip_both_ways(facing, root_recovery):
    joints = turning_walk()
    encoded = F.joints_to_features(joints, facing=facing)
    decoded = F.features_to_joints(encoded, root_recovery=root_recovery, with_last_frame=True)
    error = np.abs(decoded - joints).max()
    if root_recovery == "humanml3d":
        assert error <= 1e-5
        reencoded = F.joints_to_features(decoded, facing=facing)
        assert np.abs(reencoded - encoded).max() <= 1e-4
    else:
        assert error > 1e-2  # the shifted decoder drifts on a turning path


def test_corrected_facing_turns_through_180_degrees():
    """Issue 156: with the published arcsin the facing jumps when it crosses +-180 degrees between frames."""
    joints = turning_walk(turn=4.5)
    assert np.any(K.facing_directions(joints, FACE_JOINTS)[:, 2] < -0.99)  # the walk really faces -Z
    corrected = F.features_to_joints(F.joints_to_features(joints, facing="corrected"))
    assert np.abs(corrected - joints[:-1]).max() <= 1e-5
    published = F.features_to_joints(F.joints_to_features(joints, facing="humanml3d"))
    assert np.abs(published - joints[:-1]).max() > 1e-2


def test_preprocess_joints_normalises_pose(reference):
    _, joints = reference
    turn = R.y_rotation(2.0)
    moved = R.rotate(turn, joints.astype(np.float64)) * 1.7 + np.array([3.0, -0.4, -2.0])
    out = F.preprocess_joints(moved)
    assert out.dtype == np.float32 and out.shape == joints.shape
    assert np.allclose(K.bone_lengths(out), BONE_LENGTHS_M, atol=1e-5)
    assert abs(out[..., 1].min()) <= 1e-6
    assert np.allclose(out[0, 0, [0, 2]], 0.0, atol=1e-6)
    forward = K.facing_directions(out[:1], FACE_JOINTS)[0]
    assert np.allclose(forward, [0, 0, 1], atol=1e-6)
    # the reference clip is already preprocessed (up to rounding of the target lengths): scaling and moving it
    # is undone, including the root path (scaled by the leg ratio 1/1.7)
    assert np.abs(out - joints).max() <= 2e-3


def test_preprocess_then_encode_is_translation_and_rotation_invariant():
    joints = turning_walk()
    a = F.joints_to_features(F.preprocess_joints(joints))
    moved = R.rotate(R.y_rotation(-1.0), joints) + np.array([5.0, 2.0, 1.0])
    b = F.joints_to_features(F.preprocess_joints(moved))
    assert np.abs(a - b).max() <= 1e-4


def test_normalize_round_trip(reference):
    features, _ = reference
    mean, std = np.load(FIXTURES / "Mean.npy"), np.load(FIXTURES / "Std.npy")
    normed = F.normalize(features, mean, std)
    assert normed.dtype == np.float32
    assert np.allclose(F.denormalize(normed, mean, std), features, atol=1e-5)


def test_bad_shapes_raise():
    with pytest.raises(ValueError):
        F.features_to_joints(np.zeros((10, 262)))
    with pytest.raises(ValueError):
        F.joints_to_features(np.zeros((1, 22, 3)))
    with pytest.raises(ValueError):
        F.features_to_joints(np.full((3, 263), np.nan))
    with pytest.raises(ValueError):
        F.features_to_joints(np.zeros((3, 263)), root_recovery="nope")
