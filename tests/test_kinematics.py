"""Rotations and kinematics: round trips on random poses and on the reference clip."""
from pathlib import Path

import numpy as np
import pytest

from moscale.motion import kinematics as K
from moscale.motion import rotations as R
from moscale.motion.skeleton import BONE_LENGTHS_M, FACE_JOINTS, KINEMATIC_CHAINS, PARENTS, RAW_OFFSETS, rest_offsets_m

FIXTURES = Path(__file__).parent / "fixtures" / "humanml3d"


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def random_quats(rng, shape):
    return R.normalize(rng.normal(size=tuple(shape) + (4,)))


def same_rotation(q1, q2, atol=1e-10):
    return np.allclose(np.abs((R.normalize(q1) * R.normalize(q2)).sum(-1)), 1.0, atol=atol)


# --- rotations ---------------------------------------------------------------------------------------------------

def test_multiply_composes_rotations(rng):
    a, b, v = random_quats(rng, (10,)), random_quats(rng, (10,)), rng.normal(size=(10, 3))
    assert np.allclose(R.rotate(R.multiply(a, b), v), R.rotate(a, R.rotate(b, v)))
    assert np.allclose(R.rotate(R.multiply(R.inverse(a), a), v), v)
    assert np.allclose(R.inverse(a), R.conjugate(a))


def test_matrix_round_trip(rng):
    quats = random_quats(rng, (100,))
    matrices = R.to_matrix(quats)
    assert np.allclose(matrices @ np.swapaxes(matrices, -1, -2), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(matrices), 1.0)
    v = rng.normal(size=(100, 3))
    assert np.allclose((matrices @ v[..., None])[..., 0], R.rotate(quats, v))
    assert same_rotation(R.from_matrix(matrices), quats)
    # near-180-degree rotations take the other branches of from_matrix
    flips = R.from_axis_angle(np.array([[np.pi, 0, 0], [0, np.pi, 0], [0, 0, np.pi - 1e-9]]))
    assert same_rotation(R.from_matrix(R.to_matrix(flips)), flips)


def test_axis_angle_round_trip(rng):
    axis_angle = rng.normal(size=(100, 3))
    axis_angle *= (rng.uniform(0, np.pi, size=100) / np.linalg.norm(axis_angle, axis=-1))[:, None]
    assert np.allclose(R.to_axis_angle(R.from_axis_angle(axis_angle)), axis_angle)
    assert np.allclose(R.from_axis_angle(np.zeros(3)), [1, 0, 0, 0])
    assert np.allclose(R.to_axis_angle(np.array([1.0, 0, 0, 0])), 0)
    quarter = R.from_axis_angle(np.array([0, np.pi / 2, 0]))
    assert np.allclose(R.rotate(quarter, [0, 0, 1.0]), [1, 0, 0])  # right-handed, Y up: +Z -> +X


def test_6d_round_trip(rng):
    quats = random_quats(rng, (100,))
    cont6d = R.quat_to_6d(quats)
    assert cont6d.shape == (100, 6)
    matrices = R.to_matrix(quats)
    assert np.allclose(cont6d[:, :3], matrices[:, :, 0]) and np.allclose(cont6d[:, 3:], matrices[:, :, 1])
    assert same_rotation(R.quat_from_6d(cont6d), quats)
    assert np.allclose(R.matrix_from_6d(cont6d * 3.0), matrices)  # scale-invariant


def test_between_vectors(rng):
    a, b = rng.normal(size=(100, 3)), rng.normal(size=(100, 3))
    q = R.between(a, b)
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)
    assert np.allclose(R.rotate(q, unit(a)), unit(b))
    assert np.all(q[:, 0] >= 0)
    opposite = R.between(np.array([[0, 1.0, 0], [1.0, 0, 0]]), np.array([[0, -2.0, 0], [-1.0, 0, 0]]))
    assert np.allclose(R.rotate(opposite, [[0, 1.0, 0], [1.0, 0, 0]]), [[0, -1, 0], [-1, 0, 0]])
    assert np.allclose(R.between([0, 0, 1.0], [0, 0, 3.0]), [1, 0, 0, 0])


def test_continuity_slerp_best_fit(rng):
    quats = random_quats(rng, (20, 3))
    signs = rng.choice([-1.0, 1.0], size=(20, 3, 1))
    fixed = R.make_continuous(quats * signs)
    assert np.all((fixed[1:] * fixed[:-1]).sum(-1) >= 0)
    assert same_rotation(fixed, quats)

    a, b = random_quats(rng, (5,)), random_quats(rng, (5,))
    assert same_rotation(R.slerp(a, b, 0.0), a) and same_rotation(R.slerp(a, b, 1.0), b)
    half = R.slerp(a, b, 0.5)
    assert same_rotation(R.slerp(a, half, 1.0), half)
    angle = lambda p, q: R.to_axis_angle(R.multiply(q, R.conjugate(p)))
    assert np.allclose(np.linalg.norm(angle(a, half), axis=-1), np.linalg.norm(angle(half, b), axis=-1))

    truth = random_quats(rng, (4,))
    source = rng.normal(size=(4, 5, 3))
    target = R.rotate(truth[:, None], source)
    assert same_rotation(R.best_fit_rotation(source, target), truth)
    noisy = target + rng.normal(scale=1e-3, size=target.shape)
    assert same_rotation(R.best_fit_rotation(source, noisy), truth, atol=1e-4)


# --- kinematics --------------------------------------------------------------------------------------------------

def random_motion(rng, frames=30):
    local = random_quats(rng, (frames, len(PARENTS)))
    root = rng.normal(size=(frames, 3))
    return K.forward_kinematics(local, root, rest_offsets_m(), PARENTS)


def test_fk_places_bones(rng):
    joints = random_motion(rng)
    lengths = np.linalg.norm(joints[:, 1:] - joints[:, list(PARENTS[1:])], axis=-1)
    assert np.allclose(lengths, BONE_LENGTHS_M[1:])
    assert np.allclose(K.bone_lengths(joints), BONE_LENGTHS_M)
    rest = K.forward_kinematics(R.identity((1, 22)), np.zeros((1, 3)), rest_offsets_m())
    assert rest[0, 15, 1] > rest[0, 0, 1] > rest[0, 10, 1]  # head above pelvis above foot in the T-pose


def test_fk_ik_round_trip_random_poses(rng):
    joints = random_motion(rng)
    local, root = K.inverse_kinematics(joints)
    assert local.shape == joints.shape[:2] + (4,)
    offsets = K.rest_offsets_from_joints(joints)
    assert np.abs(K.forward_kinematics(local, root, offsets) - joints).max() <= 1e-6
    # with the true rest offsets the rest pose is the T-pose
    local, root = K.inverse_kinematics(joints, rest_offsets=rest_offsets_m())
    assert np.abs(K.forward_kinematics(local, root, rest_offsets_m()) - joints).max() <= 1e-6
    leaves = [j for j in range(22) if j not in PARENTS]
    assert np.allclose(local[:, leaves], [1, 0, 0, 0])
    assert np.all((local[1:] * local[:-1]).sum(-1) >= 0)


def test_ik_on_reference_clip():
    joints = np.load(FIXTURES / "new_joints" / "012314.npy").astype(np.float64)
    local, root = K.inverse_kinematics(joints)
    rebuilt = K.forward_kinematics(local, root, K.rest_offsets_from_joints(joints))
    # the stored joints are float32, so their bone lengths wobble by ~1e-6 m around the medians FK uses
    assert np.abs(rebuilt - joints).max() <= 3e-6
    assert np.allclose(K.bone_lengths(joints), BONE_LENGTHS_M, atol=1e-4)


def test_ik_rejects_bad_input():
    with pytest.raises(ValueError):
        K.inverse_kinematics(np.zeros((4, 21, 3)))
    bad = np.zeros((4, 22, 3))
    bad[1, 3, 0] = np.nan
    with pytest.raises(ValueError):
        K.inverse_kinematics(bad)


def test_retarget_keeps_directions(rng):
    joints = random_motion(rng)
    target = BONE_LENGTHS_M * 1.3
    out = K.retarget_bone_lengths(joints, target, root_scale=2.0)
    assert np.allclose(K.bone_lengths(out), target)
    assert np.allclose(out[:, 0], 2.0 * joints[:, 0])
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)
    parents = list(PARENTS[1:])
    assert np.allclose(unit(out[:, 1:] - out[:, parents]), unit(joints[:, 1:] - joints[:, parents]))


def test_gaussian_smooth_matches_scipy(rng):
    ndimage = pytest.importorskip("scipy.ndimage")
    values = rng.normal(size=(50, 3))
    assert np.allclose(K.gaussian_smooth(values, 20), ndimage.gaussian_filter1d(values, 20, axis=0, mode="nearest"))


def test_facing_and_humanml3d_ik(rng):
    rest = K.forward_kinematics(R.identity((1, 22)), np.zeros((1, 3)), rest_offsets_m())
    turn = R.y_rotation(np.linspace(0, 1.5, 12))  # body turning left about +Y
    joints = R.rotate(turn[:, None], rest)
    assert np.allclose(K.facing_directions(rest, FACE_JOINTS), [[0, 0, 1]])
    facing = K.facing_rotations(joints, FACE_JOINTS)
    assert same_rotation(facing, R.conjugate(turn))
    quats = K.humanml3d_ik(joints, FACE_JOINTS, smooth_sigma=None)
    assert np.allclose(quats[0, 0], [1, 0, 0, 0]) and same_rotation(quats[1:, 0], R.conjugate(turn[1:]))
    # chain FK in HumanML3D's convention (rotation stored at the child, chains start at the root) rebuilds bones
    for chain in KINEMATIC_CHAINS:
        accumulated = quats[:, 0]
        for parent, joint in zip(chain[:-1], chain[1:]):
            accumulated = R.multiply(accumulated, quats[:, joint])
            bone = R.rotate(accumulated, RAW_OFFSETS[joint] * BONE_LENGTHS_M[joint])
            assert np.allclose(joints[:, parent] + bone, joints[:, joint])


def test_lowpass_keeps_motion_and_removes_jitter():
    """The decoder-jitter filter: zero phase, 1 Hz motion through untouched, 8 Hz jitter gone, trends kept to the
    ends of the clip (a ramp, i.e. a steady walk, is not bent at the first or last frame)."""
    from moscale.motion.kinematics import JITTER_CUTOFF_HZ, filter_jitter, lowpass

    t = np.arange(200) / 20.0
    slow, fast = np.sin(2 * np.pi * 1.0 * t), np.sin(2 * np.pi * 8.0 * t + 0.3)
    out = lowpass(slow + 0.1 * fast, JITTER_CUTOFF_HZ, 20.0)
    np.testing.assert_allclose(out[20:-20], slow[20:-20], atol=0.01)  # gain 0.999 at 1 Hz, 0.03 at 8 Hz, no lag
    ramp = np.stack([0.05 * np.arange(60), np.full(60, 0.9), -0.1 * np.arange(60)], axis=1)
    np.testing.assert_allclose(lowpass(ramp, JITTER_CUTOFF_HZ, 20.0), ramp, atol=1e-5)
    joints = np.random.default_rng(0).normal(size=(40, 22, 3)).astype(np.float32)
    smoothed = filter_jitter(joints)
    assert smoothed.dtype == np.float32 and smoothed.shape == joints.shape
    assert np.abs(np.diff(smoothed, n=3, axis=0)).mean() < 0.35 * np.abs(np.diff(joints, n=3, axis=0)).mean()
    assert np.array_equal(lowpass(joints[:2], JITTER_CUTOFF_HZ, 20.0), joints[:2])  # too short to filter: as is
