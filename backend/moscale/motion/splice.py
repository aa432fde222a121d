"""Joint-space splicing: a motion as a root trajectory (heading about +Y, XZ position) and a root-relative pose.

    heading_T, root_T3, pose_TJ3 = decompose(joints_TJ3)         # joints = rotate_y(pose, heading) + root
    out = splice(source, generated, 60, 100)                      # frames outside [60, 100) keep their bits
    tail = coast(joints, 20)                                      # 20 frames gliding to a stop

What edits, extensions and in-betweening (moscale.pipeline.editing) assemble their results with: the generated
trajectory is re-integrated from the source's root and bent onto it at the far seam, and near each seam turns,
steps and pose cross-fade from the source's own frames, so the seam carries the source's velocity.
"""
from __future__ import annotations

import numpy as np

from moscale.motion.kinematics import facing_directions

BLEND_FRAMES = 8  # frames inside the range, at each seam, that blend toward the source's continuation (0.4 s)



def wrap(angle: np.ndarray) -> np.ndarray:
    """Angles (radians) wrapped to [-pi, pi)."""
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi


def rotate_y(vectors_N3: np.ndarray, angle: np.ndarray | float) -> np.ndarray:
    """Rotate (..., 3) vectors about +Y by `angle` radians (shape broadcastable to vectors.shape[:-1]); +Z turns
    toward +X."""
    angle = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(angle)[..., None], np.sin(angle)[..., None]
    x, y, z = vectors_N3[..., 0:1], vectors_N3[..., 1:2], vectors_N3[..., 2:3]
    return np.concatenate([c * x + s * z, np.broadcast_to(y, (c * x).shape), c * z - s * x], axis=-1)


def decompose(joints_TJ3: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(heading_T radians, root_T3 with y = 0, pose_TJ3): joints = rotate_y(pose, heading) + root. The heading is the
    unsmoothed hip/shoulder facing; the pose keeps absolute heights (like the features' root-relative positions)."""
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    forward_T3 = facing_directions(joints)
    heading_T = np.arctan2(forward_T3[:, 0], forward_T3[:, 2])
    root_T3 = joints[:, 0] * np.array([1.0, 0.0, 1.0])
    pose_TJ3 = rotate_y(joints - root_T3[:, None], -heading_T[:, None])
    return heading_T, root_T3, pose_TJ3


def compose(heading_T: np.ndarray, root_T3: np.ndarray, pose_TJ3: np.ndarray) -> np.ndarray:
    return rotate_y(pose_TJ3, heading_T[:, None]) + root_T3[:, None]


def smoothstep(x: np.ndarray) -> np.ndarray:
    """0 -> 1 with zero slope at both ends, for x in [0, 1] (cubic: a plain ease where curvature at the ends does not
    matter)."""
    return x * x * (3 - 2 * x)


def smootherstep(x: np.ndarray) -> np.ndarray:
    """0 -> 1 with zero first and second derivatives at both ends."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * x * (x * (6 * x - 15) + 10)


def _fall(distance: np.ndarray, blend: int) -> np.ndarray:
    """Weight of the source's own frames at `distance` frames from a seam's outside frame (steps sit at half frames):
    1 on the crossing step, falling smoothly to 0 after `blend` frames."""
    if blend == 0:
        return np.zeros(np.shape(distance))
    return 1.0 - smootherstep((np.asarray(distance, dtype=np.float64) - 0.5) / blend)


def _steps(heading_T: np.ndarray, root_T3: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame turns (radians) and steps (metres, in the heading of the frame they leave) of a root trajectory."""
    return np.diff(heading_T), rotate_y(np.diff(root_T3, axis=0), -heading_T[:-1])


def splice(source_TJ3: np.ndarray, generated_TJ3: np.ndarray, start: int, end: int, blend: int = BLEND_FRAMES,
           anchor_start: bool = True, anchor_end: bool = True) -> np.ndarray:
    """The source with frames [start, end) replaced by `generated` (same length; read on [start - 1, end]). Frames
    outside [start, end) are copied unchanged (same dtype, same bits).

    The generated root trajectory is re-integrated from the source's root at start - 1 and bent (away from the seams)
    to land on the source's root at `end`; within `blend` frames of a seam, turns, steps and the root-relative pose
    cross-fade from the source's own frames (its old content, or the coasting placeholder of an extension) to the
    generated ones, so each seam carries the source's velocity. A seam at the clip's edge (or with its anchor off) is
    free: the trajectory is integrated from the other one, or kept as generated when neither exists."""
    out = np.array(source_TJ3, copy=True)
    has_start, has_end = anchor_start and start >= 1, anchor_end and end < len(out)
    first, last = (start - 1 if has_start else start), (end if has_end else end - 1)
    s_head, s_root, s_pose = decompose(np.asarray(source_TJ3)[first:last + 1])
    g_head, g_root, g_pose = decompose(np.asarray(generated_TJ3)[first:last + 1])
    s_head, g_head = np.unwrap(s_head), np.unwrap(g_head)
    length = end - start

    def source_weight(distance_from_start: np.ndarray) -> np.ndarray:
        weight = np.zeros(len(distance_from_start))
        if has_start:
            weight = np.maximum(weight, _fall(distance_from_start, blend))
        if has_end:
            weight = np.maximum(weight, _fall(length + 1 - distance_from_start, blend))
        return weight

    k = np.arange(last - first) + 0.5 + (first - (start - 1))  # step midpoints, in frames after frame start - 1
    weight = source_weight(k)
    (s_turn, s_step), (g_turn, g_step) = _steps(s_head, s_root), _steps(g_head, g_root)
    turn = (1 - weight) * g_turn + weight * s_turn
    step = (1 - weight[:, None]) * g_step + weight[:, None] * s_step
    if has_start:
        heading = s_head[0] + np.concatenate([[0.0], np.cumsum(turn)])
        if has_end:  # bend the path, away from the seams, so that it lands on the source's heading and root
            share = (1 - weight) * np.sin(np.pi * k / (length + 1)) ** 2  # ~0 within the seams' blends
            share /= share.sum()
            heading = heading + np.concatenate([[0.0], np.cumsum(share)]) * wrap(s_head[-1] - heading[-1])
        root = s_root[0] + np.concatenate([np.zeros((1, 3)), np.cumsum(rotate_y(step, heading[:-1]), axis=0)])
        if has_end:
            root = root + np.concatenate([[0.0], np.cumsum(share)])[:, None] * (s_root[-1] - root[-1])
    elif has_end:  # only an end seam (a lead-in): integrate backwards from the source's root at `end`
        heading = s_head[-1] - np.concatenate([np.cumsum(turn[::-1])[::-1], [0.0]])
        moves = rotate_y(step, heading[:-1])
        root = s_root[-1] - np.concatenate([np.cumsum(moves[::-1], axis=0)[::-1], np.zeros((1, 3))])
    else:
        heading, root = g_head, g_root
    inside = np.arange(start, end) - first
    weight = source_weight(np.arange(start, end) - (start - 1.0))[:, None, None]
    pose = (1 - weight) * g_pose[inside] + weight * s_pose[inside]
    out[start:end] = compose(heading[inside], root[inside], pose)
    return out


def coast(joints_TJ3: np.ndarray, frames: int, decay_frames: float = 4.0) -> np.ndarray:
    """`frames` new frames (frames, 22, 3) after the last one: its last turn and step continue and its pose keeps
    moving, with Gaussian decays (pose twice as fast), so the body glides to a stop. The placeholder that extension,
    lead-ins and in-betweening regenerate, and what their seams blend from."""
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    tail = joints[-2:] if len(joints) > 1 else np.concatenate([joints, joints])
    head, root, pose = decompose(tail)
    turn, step = _steps(np.unwrap(head), root)
    factor = np.exp(-0.5 * (np.arange(1, frames + 1) / decay_frames) ** 2)
    heading = head[1] + turn[0] * np.cumsum(factor)
    leaving = np.concatenate([[head[1]], heading[:-1]])
    path = root[1] + np.cumsum(rotate_y(factor[:, None] * step[0], leaving), axis=0)
    pose_factor = np.exp(-0.5 * (np.arange(1, frames + 1) / (decay_frames / 2)) ** 2)
    return compose(heading, path, pose[1] + np.cumsum(pose_factor)[:, None, None] * (pose[1] - pose[0]))


def seam_jumps(joints_TJ3: np.ndarray, start: int, end: int) -> list[float]:
    """Joint velocity change across each seam of a [start, end) edit (metres per frame, max over joints): at the start
    |v(s-1 -> s) - v(s-2 -> s-1)|, at the end |v(e -> e+1) - v(e-1 -> e)|; seams without two outside frames are
    skipped. Compare with `acceleration_profile` of real motion."""
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    jumps = []
    for a, b, c in ((start - 2, start - 1, start), (end - 1, end, end + 1)):
        if a >= 0 and c < len(joints):
            jumps.append(float(np.linalg.norm(joints[c] - 2 * joints[b] + joints[a], axis=-1).max()))
    return jumps


def acceleration_profile(joints_TJ3: np.ndarray) -> np.ndarray:
    """(T - 2,) the same velocity change at every frame of a motion (max over joints, metres per frame)."""
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    return np.linalg.norm(np.diff(joints, n=2, axis=0), axis=-1).max(axis=1)


def canonical_frame(joints_TJ3: np.ndarray) -> tuple[float, np.ndarray]:
    """(heading radians, origin) that put frame 0's root at XZ 0 facing +Z and the lowest joint on y = 0."""
    heading, root, _ = decompose(joints_TJ3[:1])
    origin = root[0] + np.array([0.0, float(np.asarray(joints_TJ3)[..., 1].min()), 0.0])
    return float(heading[0]), origin


def place_after(first_TJ3: np.ndarray, second_TJ3: np.ndarray, gap: int) -> np.ndarray:
    """`second` moved rigidly (about +Y and along XZ) to start with the heading `first` ends with, where `first`'s last
    step, repeated over the gap, would take its root."""
    head_a, root_a, _ = decompose(first_TJ3[-2:] if len(first_TJ3) > 1 else first_TJ3)
    head_b, root_b, _ = decompose(np.asarray(second_TJ3)[:1])
    step = root_a[-1] - root_a[0]
    moved = rotate_y(np.asarray(second_TJ3, dtype=np.float64) - root_b[0], np.full(1, head_a[-1] - head_b[0]))
    return (moved + root_a[-1] + (gap + 1) * step).astype(np.float32)
