"""Cycles: takes that loop (the last frame flows into the first) and takes in place (the travel taken out).

    offset = cycle_offset(joints_TJ3)                 # where the loop's next repetition starts (x, z metres)
    stats = loop_seam(joints_TJ3, offset)             # seam jump against the take's ordinary frame-to-frame change
    still = in_place(joints_TJ3, fps=20, loop=True)   # the pelvis kept over its start, sway and pose kept

A loop repeats by translation only (a game engine's root motion, Blender's F-curve Cycles modifier with offset on the
location channels): the repetition after the last frame is the first frame moved by `offset`, with the same heading.
The seam itself is made in `moscale.pipeline.control`: the end of the take is bent and blended into that moved copy
of its start.
"""
from __future__ import annotations

import numpy as np

from moscale.motion.measures import PELVIS, pelvis_track
from moscale.motion.splice import acceleration_profile

TRAVEL_SMOOTH_S = 0.5  # s, sigma of the travel line in-place removes: the sway of a gait (~1 Hz) stays in the take


def cycle_offset(joints_TJ3: np.ndarray) -> np.ndarray:
    """(2,) the (x, z) translation from the take's first frame to the repetition that follows its last: the pelvis's
    travel over the take plus one more ordinary step (the loop's frame N sits one step past frame N - 1)."""
    pelvis = np.asarray(joints_TJ3, dtype=np.float64)[:, PELVIS][:, [0, 2]]
    step = pelvis[-1] - pelvis[-2] if len(pelvis) > 1 else np.zeros(2)
    return pelvis[-1] + step - pelvis[0]


def repeated(joints_TJ3: np.ndarray, offset_2: np.ndarray, times: int = 2) -> np.ndarray:
    """The take played `times` times in a row, each repetition moved by `offset` on the floor."""
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    shift = np.array([offset_2[0], 0.0, offset_2[1]])
    return np.concatenate([joints + i * shift for i in range(times)])


def loop_seam(joints_TJ3: np.ndarray, offset_2: np.ndarray) -> dict[str, float]:
    """How well the take loops: the jump from its last frame into its repeated first (max over joints, metres) against
    the median of its ordinary frame-to-frame changes, and the velocity change across the seam against the median
    velocity change between ordinary frames (metres per frame)."""
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    twice = repeated(joints, offset_2, 2)
    n = len(joints)
    moves = np.linalg.norm(np.diff(twice, axis=0), axis=-1).max(axis=-1)  # (2n - 1,) per transition
    changes = acceleration_profile(twice)  # (2n - 2,) around each frame
    ordinary = np.concatenate([moves[: n - 2], moves[n: 2 * n - 2]])
    around = changes[n - 3: n + 1]  # the velocity changes at frames n - 2 .. n + 1 (those touching the seam)
    ordinary_changes = np.concatenate([changes[: n - 4], changes[n + 2:]])
    return dict(seam_jump_m=float(moves[n - 1]), median_step_m=float(np.median(ordinary)),
                max_step_m=float(ordinary.max()),
                seam_velocity_change_m=float(around.max()),
                median_velocity_change_m=float(np.median(ordinary_changes)),
                p95_velocity_change_m=float(np.percentile(ordinary_changes, 95)))


def in_place(joints_TJ3: np.ndarray, fps: float, loop_offset: np.ndarray | None = None) -> np.ndarray:
    """The take with its travel removed: every joint moved back by the pelvis's smoothed horizontal travel since the
    first frame, so the pelvis stays over its start (keeping the gait's sway) and the feet move with the body (a
    treadmill cycle, as game engines drive root motion themselves). A loop (its `loop_offset` given) is smoothed as
    the repeating cycle it is, so its last frame still flows into its first."""
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    n = len(joints)
    if loop_offset is not None:
        thrice = repeated(joints, loop_offset, 3)
        line = pelvis_track(thrice, fps, TRAVEL_SMOOTH_S)[n: 2 * n]
    else:
        line = pelvis_track(joints, fps, TRAVEL_SMOOTH_S)
    drift = line - line[:1]
    return joints - np.stack([drift[:, 0], np.zeros(n), drift[:, 1]], axis=-1)[:, None]


def in_place_radius(joints_TJ3: np.ndarray) -> float:
    """The farthest the pelvis gets from its first position on the floor (metres)."""
    pelvis = np.asarray(joints_TJ3, dtype=np.float64)[:, PELVIS][:, [0, 2]]
    return float(np.linalg.norm(pelvis - pelvis[0], axis=1).max())
