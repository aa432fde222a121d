"""SMPL-22 skeleton facts (HumanML3D conventions: Y up, metres, 20 fps, body faces +Z at frame 0)."""
from __future__ import annotations

import numpy as np

FPS = 20
MAX_FRAMES = 196  # one training window: 9.8 s at 20 fps

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)
NUM_JOINTS = len(JOINT_NAMES)
JOINT_INDEX = {name: i for i, name in enumerate(JOINT_NAMES)}
# The joint each joint becomes in a left/right mirror image (left_hip <-> right_hip, ...; the spine stays)
MIRROR_INDEX: tuple[int, ...] = tuple(
    JOINT_INDEX[name.replace("left_", "@").replace("right_", "left_").replace("@", "right_")] for name in JOINT_NAMES)

PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)

KINEMATIC_CHAINS: tuple[tuple[int, ...], ...] = (
    (0, 2, 5, 8, 11),
    (0, 1, 4, 7, 10),
    (0, 3, 6, 9, 12, 15),
    (9, 14, 17, 19, 21),
    (9, 13, 16, 18, 20),
)

# Unit direction of each joint's offset from its parent in the rest pose (HumanML3D's t2m_raw_offsets).
RAW_OFFSETS = np.array(
    [
        [0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, -1, 0], [0, 1, 0], [0, -1, 0],
        [0, -1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 1, 0], [1, 0, 0], [-1, 0, 0], [0, 0, 1],
        [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0],
    ],
    dtype=np.float64,
)

# Target bone lengths in metres for joints 1..21 (HumanML3D's uniform skeleton, measured on clip 012314).
BONE_LENGTHS_M = np.array(
    [0.0, .1031, .1099, .1316, .3936, .3902, .1432, .4324, .4256, .0574, .1434, .1494, .2194,
     .1375, .1434, .1030, .1316, .1230, .2568, .2631, .2660, .2699],
    dtype=np.float64,
)

LEFT_FOOT = (7, 10)   # (ankle, foot)
RIGHT_FOOT = (8, 11)
FACE_JOINTS = (2, 1, 17, 16)  # right hip, left hip, right shoulder, left shoulder
LEG_JOINTS = (2, 5, 8)  # right hip, knee, ankle: HumanML3D scales root motion by this leg when retargeting

# Feature layout of the 263-d HumanML3D vector.
FEATURE_DIM = 263
ROOT_SLICE = slice(0, 4)            # angular velocity (Y), linear velocity (XZ, facing frame), height
RIC_SLICE = slice(4, 67)            # 21 root-relative joint positions
ROT_SLICE = slice(67, 193)          # 21 6D rotations (IK without twist)
VEL_SLICE = slice(193, 259)         # 22 local joint velocities
CONTACT_SLICE = slice(259, 263)     # 4 foot contacts


def rest_offsets_m() -> np.ndarray:
    """(22, 3) rest-pose offsets of each joint from its parent in metres (uniform skeleton, T-pose)."""
    return RAW_OFFSETS * BONE_LENGTHS_M[:, None]


def leg_length_m() -> float:
    """Hip-to-ankle length of the uniform skeleton (thigh + shin)."""
    return float(BONE_LENGTHS_M[5] + BONE_LENGTHS_M[8])


def children(joint: int) -> list[int]:
    return [j for j, p in enumerate(PARENTS) if p == joint]
