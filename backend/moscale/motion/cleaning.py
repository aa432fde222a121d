"""Cleaning a captured take: the T-pose some takes start in, a robust floor, a root that jitters, and resampling
to the model's frame rate (the corpus builder runs these on every source clip)."""
from __future__ import annotations

import math

import numpy as np

from moscale.motion.skeleton import FPS

_ARM = {"left": (16, 18, 20), "right": (17, 19, 21)}  # shoulder, elbow, wrist


def leading_tpose_frames(joints_T223: np.ndarray, fps: float, max_seconds: float = 0.5,
                         blend_seconds: float = 0.25) -> int:
    """How many leading frames to drop: a T-pose (both arms straight and horizontal) at the start of the take,
    plus the few frames in which the capture software blends out of it (joints moving faster than
    max(3 x the clip's median, 2.5 m/s) relative to the root). 0 when the take does not start in a T-pose."""
    joints = np.asarray(joints_T223, dtype=np.float64)
    limit = min(len(joints) - 1, int(round(max_seconds * fps)))
    tpose = 0
    while tpose < limit and _is_tpose(joints[tpose]):
        tpose += 1
    if tpose == 0:
        return 0
    relative = joints - joints[:, :1]
    speed = np.linalg.norm(np.diff(relative, axis=0), axis=-1).max(axis=1) * fps  # (T-1,) m/s
    threshold = max(3.0 * float(np.median(speed)), 2.5)
    window = speed[tpose - 1: tpose - 1 + int(round(blend_seconds * fps))]
    fast = np.nonzero(window > threshold)[0]
    return int(tpose + fast[-1]) if len(fast) else tpose  # fast[k]: the step into frame tpose + k is still a jump


def _is_tpose(pose_223: np.ndarray) -> bool:
    for shoulder, elbow, wrist in _ARM.values():
        arm = pose_223[wrist] - pose_223[shoulder]
        reach = np.linalg.norm(pose_223[elbow] - pose_223[shoulder]) + np.linalg.norm(pose_223[wrist] - pose_223[elbow])
        length = np.linalg.norm(arm)
        if length < 0.9 * reach or abs(arm[1]) > 0.25 * length:
            return False
    return True


def floor_height(joints_T223: np.ndarray) -> float:
    """Robust floor: the 1st percentile over frames of the lowest joint (a few glitched frames do not count)."""
    return float(np.percentile(np.asarray(joints_T223)[..., 1].min(axis=1), 1.0))


def root_jitter(joints_T223: np.ndarray, fps: float = FPS) -> float:
    """Median magnitude of the pelvis's horizontal acceleration in m/s^2. Real takes stay below ~10 (runs and jumps
    included); a root that jumps back and forth between frames (CMU 07_12, 09_10) scores above 30."""
    pelvis = np.asarray(joints_T223, dtype=np.float64)[:, 0, [0, 2]]
    if len(pelvis) < 3:
        return 0.0
    return float(np.median(np.linalg.norm(np.diff(pelvis, 2, axis=0), axis=-1)) * fps * fps)


def resample(joints_TJ3: np.ndarray, source_fps: float, target_fps: float = FPS) -> np.ndarray:
    """Linear interpolation of positions onto a target_fps grid starting at the first frame."""
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    if len(joints) < 2 or abs(source_fps - target_fps) < 1e-9:
        return joints.copy()
    duration = (len(joints) - 1) / source_fps
    count = int(math.floor(duration * target_fps + 1e-6)) + 1
    position = np.arange(count) * (source_fps / target_fps)  # fractional source frame
    lower = np.minimum(np.floor(position).astype(int), len(joints) - 2)
    weight = (position - lower)[:, None, None]
    return joints[lower] * (1.0 - weight) + joints[lower + 1] * weight
