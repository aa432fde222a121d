"""Does the motion do what was typed? Plain geometric tests on SMPL-22 joints (metres, Y up) that a viewer would
agree with, for the prompts an animator types first: how far and which way the pelvis travels, whether a hand
waves, whether both hands go up. Calibrated on the corpus's real clips (benchmarks/prompts.py prints the rates on
real walk / wave / raise clips next to the generated ones).
"""
from __future__ import annotations

import numpy as np

from moscale.motion.skeleton import FPS

PELVIS, LEFT_HIP, RIGHT_HIP, HEAD = 0, 1, 2, 15
SHOULDER = {"left": 16, "right": 17}
WRIST = {"left": 20, "right": 21}
RAISED_M = 0.05  # a wrist this far above its shoulder is up
MIN_RAISED_S = 0.4  # ... for at least this long (summed)
MIN_SWING_M = 0.04  # a wave's side-to-side swing, peak to peak
MIN_REVERSALS = 2  # direction changes of that swing


def _span(joints_TJ3: np.ndarray, start: int | None, stop: int | None) -> np.ndarray:
    joints = np.asarray(joints_TJ3, dtype=np.float64)[start:stop]
    if len(joints) < 2:
        raise ValueError("need at least two frames")
    return joints


def forward_axis(joints_J3: np.ndarray) -> np.ndarray:
    """Unit horizontal direction the body faces in one frame (perpendicular to the hips, SMPL: +Z at rest)."""
    across = joints_J3[RIGHT_HIP] - joints_J3[LEFT_HIP]
    forward = np.cross([0.0, 1.0, 0.0], across)
    forward[1] = 0
    return forward / max(np.linalg.norm(forward), 1e-9)


def pelvis_travel(joints_TJ3: np.ndarray, start: int | None = None, stop: int | None = None) -> dict[str, float]:
    """Horizontal pelvis displacement over [start, stop): total distance (m), along the first frame's facing (m,
    negative = backwards) and the path length (m)."""
    joints = _span(joints_TJ3, start, stop)
    root = joints[:, PELVIS] * np.array([1.0, 0.0, 1.0])
    shift = root[-1] - root[0]
    return {"distance": float(np.linalg.norm(shift)), "forward": float(shift @ forward_axis(joints[0])),
            "path": float(np.linalg.norm(np.diff(root, axis=0), axis=-1).sum())}


def hand_waves(joints_TJ3: np.ndarray, side: str = "right", start: int | None = None, stop: int | None = None,
               fps: float = FPS) -> bool:
    """The wrist is up (above its shoulder) for a while and swings side to side there at least twice."""
    joints = _span(joints_TJ3, start, stop)
    wrist, shoulder = joints[:, WRIST[side]], joints[:, SHOULDER[side]]
    raised = wrist[:, 1] - shoulder[:, 1] > RAISED_M
    if raised.sum() < MIN_RAISED_S * fps:
        return False
    # side-to-side: the wrist relative to the shoulder, across the body, while raised
    across = joints[:, RIGHT_HIP] - joints[:, LEFT_HIP]
    across[:, 1] = 0
    across /= np.maximum(np.linalg.norm(across, axis=-1, keepdims=True), 1e-9)
    lateral = ((wrist - shoulder) * across).sum(-1)[raised]
    if np.ptp(lateral) < MIN_SWING_M:
        return False
    # reversals of a smoothed swing that each cover at least half the minimum swing
    smooth = np.convolve(lateral, np.ones(3) / 3, mode="valid") if len(lateral) >= 3 else lateral
    reversals, anchor, direction = 0, smooth[0], 0
    for value in smooth[1:]:
        step = value - anchor
        if abs(step) >= MIN_SWING_M / 2:
            sign = 1 if step > 0 else -1
            if direction and sign != direction:
                reversals += 1
            direction, anchor = sign, value
        elif direction and (value - anchor) * direction > 0:
            anchor = value
    return reversals >= MIN_REVERSALS


def hands_up(joints_TJ3: np.ndarray, start: int | None = None, stop: int | None = None, fps: float = FPS) -> bool:
    """Both wrists above the head at the same time for at least MIN_RAISED_S."""
    joints = _span(joints_TJ3, start, stop)
    head = joints[:, HEAD, 1]
    both = (joints[:, WRIST["left"], 1] > head) & (joints[:, WRIST["right"], 1] > head)
    return bool(both.sum() >= MIN_RAISED_S * fps)
