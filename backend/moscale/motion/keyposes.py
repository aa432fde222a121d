"""Key poses: a take bent so that it passes through poses given at frames (motion warping in joint space).

    keyed = warp_to_poses(joints_TJ3, {0: pose_a, 60: pose_b})     # poses (22, 3) in metres, frames at 20 fps

Each key's difference from the take (its root heading, its root position on the floor and its root-relative pose) is
spread over the neighbouring frames with a smooth step, so the key frame is the given pose exactly and the motion
around it leans into it: between two keys the difference moves from one key's to the next's; before the first key
and after the last the root keeps the nearest key's difference (the whole take moves with it) while the pose's fades
out within `reach` frames. The model then regenerates the frames between keys as in-betweens around this placeholder
(`moscale.pipeline.control`). A take already carried along a path is bent onto its keys with `root_reach`: each key
moves the root only near it, so the rest of the take stays on the path.
"""
from __future__ import annotations

import numpy as np

from moscale.motion.splice import acceleration_profile, compose, decompose, smootherstep, wrap

REACH_FRAMES = 20  # 1 s: how far a key's pose difference reaches into free frames before the first / after the last key


def _difference(take_head, take_root, take_pose, key_TJ3: np.ndarray, frame: int):
    head, root, pose = decompose(key_TJ3[None])
    return wrap(head[0] - take_head[frame]), root[0] - take_root[frame], pose[0] - take_pose[frame]


def warp_to_poses(joints_TJ3: np.ndarray, keys: dict[int, np.ndarray], reach: int = REACH_FRAMES,
                  root_reach: int | None = None) -> np.ndarray:
    """The take bent through `keys` ({frame: (22, 3) joints}); frames at keys equal the key poses (to float rounding
    of the heading decomposition, ~1e-12 m; callers copy the keys in afterwards for exact bits). With `root_reach`
    (frames) each key's root heading and position difference reaches only that far on either side, fading out, the
    rest of the take staying where it is (a take already on a path, bent onto keys beside it)."""
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    n = len(joints)
    frames = sorted(int(f) for f in keys)
    if not frames:
        return joints.copy()
    head, root, pose = decompose(joints)
    head = np.unwrap(head)
    diffs = [_difference(head, root, pose, np.asarray(keys[f], dtype=np.float64), f) for f in frames]
    d_head, d_root, d_pose = np.zeros(n), np.zeros((n, 3)), np.zeros_like(pose)
    t = np.arange(n)
    first, last = frames[0], frames[-1]
    # before the first key: the root keeps its difference, the pose's fades out going back in time
    for side, key, diff in ((t <= first, first, diffs[0]), (t >= last, last, diffs[-1])):
        fade = 1 - smootherstep(np.abs(t[side] - key) / max(reach, 1))
        d_head[side], d_root[side] = diff[0], diff[1]
        d_pose[side] = fade[:, None, None] * diff[2]
    for (a, da), (b, db) in zip(zip(frames[:-1], diffs[:-1]), zip(frames[1:], diffs[1:])):
        inside = (t > a) & (t <= b)  # a middle key's own frame too (w = 1 there: its difference exactly)
        w = smootherstep((t[inside] - a) / (b - a))
        d_head[inside] = (1 - w) * da[0] + w * db[0]
        d_root[inside] = (1 - w)[:, None] * da[1] + w[:, None] * db[1]
        d_pose[inside] = (1 - w)[:, None, None] * da[2] + w[:, None, None] * db[2]
    if root_reach is not None:
        d_head, d_root = _local(t, frames, [d[0] for d in diffs], root_reach), _local(t, frames, [d[1] for d in diffs],
                                                                                     root_reach)
    return compose(head + d_head, root + d_root, pose + d_pose)


def _local(t: np.ndarray, frames: list[int], values: list, reach: int) -> np.ndarray:
    """Each key's value at its frame, fading out over `reach` frames to either side (over the gap to the next key
    where that is shorter: between close keys it passes from one value to the next)."""
    out = np.zeros((len(t),) + np.shape(values[0]))
    for i, (key, value) in enumerate(zip(frames, values)):
        left = min(reach, key - frames[i - 1]) if i > 0 else reach
        right = min(reach, frames[i + 1] - key) if i + 1 < len(frames) else reach
        span = np.where(t <= key, max(left, 1), max(right, 1))
        weight = 1 - smootherstep(np.abs(t - key) / span)
        out += weight.reshape((-1,) + (1,) * np.ndim(value)) * np.asarray(value)
    return out


def key_errors(joints_TJ3: np.ndarray, keys: dict[int, np.ndarray]) -> list[float]:
    """Largest joint distance (metres) from each key pose at its frame."""
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    return [float(np.linalg.norm(joints[f] - np.asarray(p, dtype=np.float64), axis=-1).max())
            for f, p in sorted(keys.items())]


def key_jumps(joints_TJ3: np.ndarray, keys: dict[int, np.ndarray], around: int = 2) -> tuple[float, float]:
    """(largest frame-to-frame joint move within `around` frames of any key, the take's median frame-to-frame move),
    metres, max over joints."""
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    moves = np.linalg.norm(np.diff(joints, axis=0), axis=-1).max(axis=-1)  # transition t -> t + 1 at index t
    near = set()
    for f in keys:
        near.update(i for i in range(int(f) - around, int(f) + around) if 0 <= i < len(moves))
    return float(max(moves[sorted(near)])) if near else 0.0, float(np.median(moves))


def key_velocity_changes(joints_TJ3: np.ndarray, keys: dict[int, np.ndarray], around: int = 2) -> tuple[float, float]:
    """(largest velocity change within `around` frames of any key, the 95th percentile of the take's velocity changes
    away from the keys), metres per frame, max over joints: a key that pops out of the motion changes its speed more
    than the motion does elsewhere, while a key on a moving limb only moves as fast as the limb."""
    changes = acceleration_profile(joints_TJ3)  # frame t + 1 at index t
    near = np.zeros(len(changes), dtype=bool)
    for f in keys:
        near[max(int(f) - around - 1, 0): max(int(f) + around, 0)] = True
    if not near.any() or near.all():
        return 0.0, 0.0
    return float(changes[near].max()), float(np.percentile(changes[~near], 95))
