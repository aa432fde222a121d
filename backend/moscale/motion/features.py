"""The HumanML3D 263-d motion feature codec (facts from HumanML3D, MIT; own implementation).

Per frame t (features have T-1 rows for T input frames; the last frame only feeds velocities):

    [0]        root angular velocity about +Y, *half* the angle in radians (arcsin of the y component of
               r[t+1] r[t]^-1, r = facing rotation world -> facing frame)
    [1:3]      root linear velocity XZ, p[t+1] - p[t] rotated into the facing frame of frame t+1
    [3]        root height
    [4:67]     joints 1..21 relative to the root's XZ (not its height), in the facing frame of frame t
    [67:193]   21 6D rotations from HumanML3D's chain IK (swing only, no twist; not a usable SMPL pose)
    [193:259]  22 joint velocities p[t+1] - p[t] rotated into the facing frame of frame t
    [259:263]  foot contacts (left ankle, left foot, right ankle, right foot): |p[t+1] - p[t]|^2 < threshold

The facing rotation r[t] comes from the hips and shoulders, Gaussian-smoothed over time (sigma 20 frames), and is
forced to identity at frame 0 (the clip is preprocessed to face +Z there).

Reproducing the published data (measured on clip 012314, see tests/test_features.py):

* Facing (HumanML3D issue 119). The published IK unpacks the face joints as (l_hip, r_hip, r_shoulder, l_shoulder),
  so its "across" vector is (left_hip - right_hip) + (right_shoulder - left_shoulder): hips and shoulders partly
  cancel and the facing used for every channel except the frame-0 alignment is noisy. The reference features are
  reproduced only with that swap: ``facing="humanml3d"`` (default). ``facing="corrected"`` uses the hips the right
  way round and also makes the turn quaternion's w >= 0 before the arcsin (HumanML3D issue 156: otherwise a facing
  crossing +-180 degrees between two frames turns the wrong way).
* Root recovery (the off-by-one suspected around HumanML3D issue 142). The published encoder rotates the root step t -> t+1 into
  the facing of frame t+1, and the published ``recover_from_ric`` puts step t at row t+1 before un-rotating with
  that row's facing, i.e. the same frame t+1: measured, it reproduces new_joints to 2.4e-7 m and is the exact
  inverse of the encoder. ``root_recovery="humanml3d"`` (default; ``"exact"`` is an alias) is that decoder.
  ``"shifted"`` un-rotates step t with frame t's facing, the off-by-one reading; it misses the reference by ~0.18 m
  on this turning clip and is kept for comparison only.

Re-encoding the reference joints: every channel matches to float32 precision (<= 1e-5) except within the Gaussian
radius (80 frames) of the clip end, where the smoothed facing (used by root velocities, ric, rot6d and local
velocities) needs the one frame the features drop; root height and contacts match everywhere. Restoring that
frame (``features_to_joints(..., with_last_frame=True)``) makes all rows match (rot6d <= 7.7e-6, rest <= 3.5e-7).
"""
from __future__ import annotations

from typing import Literal, Sequence

import numpy as np

from moscale.motion import kinematics
from moscale.motion import rotations as rot
from moscale.motion.skeleton import (
    BONE_LENGTHS_M, CONTACT_SLICE, FACE_JOINTS, FEATURE_DIM, LEFT_FOOT, NUM_JOINTS, PARENTS, RIC_SLICE,
    RIGHT_FOOT, ROOT_SLICE, ROT_SLICE, VEL_SLICE,
)

RootRecovery = Literal["humanml3d", "exact", "shifted"]
Facing = Literal["humanml3d", "corrected"]
FACING_SMOOTH_SIGMA = 20.0  # frames
# HumanML3D scales the root path by the ratio of *right* leg lengths (knee and ankle bones: l_idx1, l_idx2 = 5, 8).
RETARGET_LEG_JOINTS = (5, 8)
CHANNEL_GROUPS = {
    "root_angular_velocity": slice(0, 1),
    "root_linear_velocity": slice(1, 3),
    "root_height": slice(3, 4),
    "ric": RIC_SLICE,
    "rot6d": ROT_SLICE,
    "local_velocity": VEL_SLICE,
    "contacts": CONTACT_SLICE,
}
_UP_FREE = np.array([1.0, 0.0, 1.0])


def _check(array: np.ndarray, trailing: tuple[int, ...], name: str) -> np.ndarray:
    array = np.asarray(array, dtype=np.float64)
    if array.ndim < len(trailing) + 1 or array.shape[-len(trailing):] != trailing:
        raise ValueError(f"expected {name} of shape (..., T, {', '.join(map(str, trailing))}), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contain non-finite values")
    return array


def preprocess_joints(
    joints_TJ3: np.ndarray,
    target_lengths: np.ndarray = BONE_LENGTHS_M,
    face_joints: Sequence[int] = FACE_JOINTS,
) -> np.ndarray:
    """HumanML3D preprocessing of (T, 22, 3) Y-up metre joints -> (T, 22, 3) float32.

    Retarget to the uniform skeleton (bone directions kept, lengths := ``target_lengths``, root position scaled by
    the ratio of leg lengths measured on frame 0), put the lowest joint of the clip on y=0, move the frame-0 root to
    XZ origin, and rotate about Y so the body faces +Z at frame 0.
    """
    joints = _check(joints_TJ3, (NUM_JOINTS, 3), "joints")
    if joints.ndim != 3:
        raise ValueError(f"expected joints of shape (T, 22, 3), got {joints.shape}")
    frame0_lengths = kinematics.bone_lengths(joints[:1], PARENTS)
    legs = list(RETARGET_LEG_JOINTS)
    scale = target_lengths[legs].sum() / frame0_lengths[legs].sum()
    joints = kinematics.retarget_bone_lengths(joints, target_lengths, PARENTS, root_scale=scale)
    joints[..., 1] -= joints[..., 1].min()
    joints -= joints[0, 0] * _UP_FREE
    to_front = kinematics.facing_rotations(joints[:1], face_joints)  # (1, 4)
    return rot.rotate(to_front[:, None], joints).astype(np.float32)


def _facing(joints: np.ndarray, face_joints: Sequence[int], facing: Facing) -> tuple[np.ndarray, Sequence[int]]:
    """(T, 4) facing rotations as the features use them (smoothed, identity at frame 0) and the face joints used."""
    if facing == "humanml3d":
        r_hip, l_hip, r_shoulder, l_shoulder = face_joints
        face_joints = (l_hip, r_hip, r_shoulder, l_shoulder)  # the published IK's unpacking (issue 119)
    elif facing != "corrected":
        raise ValueError(f"facing must be 'humanml3d' or 'corrected', got {facing!r}")
    rotations = kinematics.facing_rotations(joints, face_joints, FACING_SMOOTH_SIGMA)
    rotations[0] = rot.identity()
    return rotations, face_joints


FOOT_THRESHOLD = 0.002  # m^2: HumanML3D's contact rule on the squared per-frame displacement (20 fps)


def foot_contacts(joints_TJ3: np.ndarray, foot_threshold: float = FOOT_THRESHOLD) -> np.ndarray:
    """(T-1, 4) bool, left ankle, left toe, right ankle, right toe: the joint moves less than sqrt(threshold) from
    frame t to t + 1 (the contact channels of the features; moscale.motion.feet judges any clip's joints by it too)."""
    joints = np.asarray(joints_TJ3, dtype=np.float64)[:, list(LEFT_FOOT) + list(RIGHT_FOOT)]
    return ((np.diff(joints, axis=0) ** 2).sum(-1) < foot_threshold)


def joints_to_features(
    joints_TJ3: np.ndarray,
    foot_threshold: float = FOOT_THRESHOLD,
    facing: Facing = "humanml3d",
    face_joints: Sequence[int] = FACE_JOINTS,
) -> np.ndarray:
    """(T, 22, 3) preprocessed joints (see ``preprocess_joints``) -> (T-1, 263) float32 features.

    ``foot_threshold`` is on the squared per-frame displacement in m^2. ``facing="humanml3d"`` reproduces the
    published features (and what models trained on them expect); ``"corrected"`` fixes issues 119/156 (module doc).
    """
    joints = _check(joints_TJ3, (NUM_JOINTS, 3), "joints")
    if joints.ndim != 3 or len(joints) < 2:
        raise ValueError(f"expected joints of shape (T >= 2, 22, 3), got {joints.shape}")
    facing_rot, ik_face_joints = _facing(joints, face_joints, facing)  # (T, 4)
    num_frames = len(joints)

    turn = rot.multiply(facing_rot[1:], rot.conjugate(facing_rot[:-1]))  # (T-1, 4)
    if facing == "corrected":
        turn = np.where(turn[:, :1] < 0, -turn, turn)
    angular_velocity = np.arcsin(np.clip(turn[:, 2], -1.0, 1.0))
    root_velocity = rot.rotate(facing_rot[1:], joints[1:, 0] - joints[:-1, 0])[:, [0, 2]]
    root_height = joints[:-1, 0, 1]

    relative = joints - joints[:, :1] * _UP_FREE
    ric = rot.rotate(facing_rot[:, None], relative)[:-1, 1:].reshape(num_frames - 1, -1)

    chain_quats = kinematics.humanml3d_ik(joints, ik_face_joints, FACING_SMOOTH_SIGMA)
    rot6d = rot.quat_to_6d(chain_quats[:-1, 1:]).reshape(num_frames - 1, -1)

    displacement = joints[1:] - joints[:-1]  # (T-1, J, 3)
    local_velocity = rot.rotate(facing_rot[:-1, None], displacement).reshape(num_frames - 1, -1)
    contacts = foot_contacts(joints, foot_threshold).astype(np.float64)

    features = np.concatenate(
        [angular_velocity[:, None], root_velocity, root_height[:, None], ric, rot6d, local_velocity, contacts],
        axis=-1,
    )
    assert features.shape == (num_frames - 1, FEATURE_DIM)
    return features.astype(np.float32)


def recover_root(
    features_T263: np.ndarray, root_recovery: RootRecovery = "humanml3d"
) -> tuple[np.ndarray, np.ndarray]:
    """(..., T, 263) -> facing rotations (..., T, 4) and root positions (..., T, 3) by integrating the root channels."""
    features = np.asarray(features_T263, dtype=np.float64)
    half_angle = np.concatenate(
        [np.zeros(features.shape[:-2] + (1,)), np.cumsum(features[..., :-1, 0], axis=-1)], axis=-1
    )
    facing = rot.y_rotation(2.0 * half_angle)  # (..., T, 4)
    velocity = np.zeros(features.shape[:-1] + (3,))
    velocity[..., [0, 2]] = features[..., ROOT_SLICE][..., 1:3]
    if root_recovery in ("humanml3d", "exact"):
        step_facing = facing[..., 1:, :]  # step t -> t+1 lives in the facing of frame t+1, as encoded
    elif root_recovery == "shifted":
        step_facing = facing[..., :-1, :]  # the off-by-one reading (issue 142); not the published decoder
    else:
        raise ValueError(f"root_recovery must be 'humanml3d', 'exact' or 'shifted', got {root_recovery!r}")
    steps = rot.rotate(rot.conjugate(step_facing), velocity[..., :-1, :])
    root = np.concatenate([np.zeros(steps.shape[:-2] + (1, 3)), np.cumsum(steps, axis=-2)], axis=-2)
    root[..., 1] = features[..., 3]
    return facing, root


def features_to_joints(
    features_T263: np.ndarray,
    root_recovery: RootRecovery = "humanml3d",
    with_last_frame: bool = False,
) -> np.ndarray:
    """(..., T, 263) unnormalised features -> (..., T, 22, 3) float32 joints (HumanML3D's recover_from_ric).

    ``root_recovery="humanml3d"`` (default, alias ``"exact"``) is the published decoder, which reproduces the
    reference joints and inverts ``joints_to_features``; ``"shifted"`` is the off-by-one variant (module docstring).
    ``with_last_frame=True`` appends the frame the encoder dropped, rebuilt from the last row's local velocities
    (T+1 frames; then ``features_to_joints(joints_to_features(j), with_last_frame=True) == j``).
    """
    features = _check(features_T263, (FEATURE_DIM,), "features")
    facing, root = recover_root(features, root_recovery)
    ric = features[..., RIC_SLICE].reshape(features.shape[:-1] + (NUM_JOINTS - 1, 3))
    joints = rot.rotate(rot.conjugate(facing)[..., None, :], ric) + (root * _UP_FREE)[..., None, :]
    joints = np.concatenate([root[..., None, :], joints], axis=-2)
    if with_last_frame:
        last_velocity = features[..., -1, VEL_SLICE].reshape(features.shape[:-2] + (NUM_JOINTS, 3))
        last = joints[..., -1, :, :] + rot.rotate(rot.conjugate(facing[..., -1:, :]), last_velocity)
        joints = np.concatenate([joints, last[..., None, :, :]], axis=-3)
    return joints.astype(np.float32)


def normalize(features: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(features - mean) / std, float32; mean and std are (263,)."""
    return ((np.asarray(features, np.float64) - mean) / std).astype(np.float32)


def denormalize(features: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """features * std + mean, float32."""
    return (np.asarray(features, np.float64) * std + mean).astype(np.float32)


def channel_errors(features_a: np.ndarray, features_b: np.ndarray) -> dict[str, float]:
    """Max absolute difference per channel group (see ``CHANNEL_GROUPS``) between two (T, 263) arrays."""
    diff = np.abs(np.asarray(features_a, np.float64) - np.asarray(features_b, np.float64))
    return {name: float(diff[..., group].max()) for name, group in CHANNEL_GROUPS.items()}
