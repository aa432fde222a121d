"""Ground paths: a take's pelvis carried along a drawn line on the floor.

    path = GroundPath.from_points([[0, 0], [0, 4], [3, 4]])     # metres, (x, z) on the floor, Y up
    followed = follow_path(joints_TJ3, path, fps=20)              # the same motion, travelling along the path
    carried = carry(long_take_TJ3, path, fps=20, cut=True)        # ... cut where it reaches the path's end

The method (docs/control.md has the measurements that chose it) is a warp of the generated root, not a steered sampler:
the motion's own horizontal travel is smoothed into a travel line (the gait's side-to-side sway taken out); each
frame's distance along that line becomes its distance along the path (scaled so that the whole line is as long as
the path, or the take cut where it reaches the path's end). The body is carried there and turned by the angle between
the path's direction at that point and the travel line's direction at that frame. So the prompt's pace profile
(starts, stops, speed changes) is kept, the sway rides on the path, and the facing keeps its relation to the direction
of travel: a forward walk faces along the path, a backwards walk faces against it, a side step faces across it.

A body cannot turn on a point, so the line the pelvis follows is the path with its corners rounded (`rounded`: at
most 10 cm inside a corner), and a take too fast for a bend slows into it (`bend_speeds`: at most 10 m/s^2 sideways,
1 g; a 90-degree corner is passed at 1.5 m/s, so walks keep their pace and runs slow down). Heights and the pose are
untouched; the feet are pinned again afterwards (`moscale.motion.feet.lock_feet`), since turning the body around the
pelvis moves a planted foot.

Keyed poses on a path (`moscale.pipeline.control`) anchor frames to distances along the line (`carry(...,
anchors=)`: between two anchors the motion's own pace is scaled to meet the next), and `Carried.unbend` takes a pose
placed on the path back into the motion's own frame at a frame: the carry's inverse there.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from moscale.motion import feet
from moscale.motion.kinematics import facing_directions
from moscale.motion.measures import PELVIS, pelvis_track, smooth
from moscale.motion.splice import rotate_y, wrap

MAX_POINTS = 100_000
MIN_PATH_M = 0.1  # shorter paths are a click, not a path
MAX_PATH_M = 1_000.0
TRAVEL_SMOOTH_S = 0.4  # s, Gaussian sigma on the pelvis's horizontal track: the travel line without the gait's sway
TURN_SMOOTH_M = 0.35  # m of path over which a corner's change of direction is spread at least (a turn takes ~a step)
TURN_SMOOTH_S = 0.4  # ... and at least this long at the take's pace (a run turns a corner over more path than a walk)
MIN_TRAVEL_M = 0.3  # a take whose travel line is shorter does not travel: it cannot be carried along a path
SAMPLE_M = 0.01  # spacing of the resampled path
# A body cannot turn on a point: the pelvis follows the drawn path with its corners rounded, and slows into a bend
# where its pace would need more sideways pull than a person turns with (docs/control.md: a run carried round a sharp
# 90-degree corner at 3.8 m/s changed direction within 3 frames, the take's largest jerk).
ROUND_SIGMA_M = 0.25  # m, Gaussian sigma along the path that rounds its corners ...
ROUND_MAX_M = 0.10  # ... less where the rounded line would leave the drawn one by more than this (target: 15 cm)
TURN_ACCEL = 10.0  # m/s^2, the most sideways acceleration round a bend (v^2 * curvature): faster takes slow into it
SLOW_ACCEL = 4.0  # m/s^2, the most deceleration into a bend and acceleration out of it
BEND_MIN_SPEED = 0.5  # m/s, the slowest a bend asks for (a hairpin's rounded tip is a cusp: no radius to speak of)
PROGRESS_SMOOTH_S = 0.1  # s, Gaussian sigma on each frame's distance along the path (slowing starts without a kink)


@dataclass(frozen=True)
class GroundPath:
    """A polyline on the floor: points (N, 2) as (x, z) metres in the motion's frame, consecutive duplicates removed."""

    points: np.ndarray

    @classmethod
    def from_points(cls, points) -> "GroundPath":
        try:
            array = np.asarray(points, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"path points must be a list of [x, z] pairs of numbers ({error})") from None
        if array.ndim != 2 or array.shape[1] != 2:
            raise ValueError(f"path points must be [x, z] pairs, got an array of shape {array.shape}")
        if len(array) > MAX_POINTS:
            raise ValueError(f"path has {len(array)} points; at most {MAX_POINTS}")
        if not np.isfinite(array).all():
            raise ValueError("path points must be finite numbers (found NaN or infinity)")
        keep = np.concatenate([[True], np.linalg.norm(np.diff(array, axis=0), axis=1) > 1e-6])
        array = array[keep]
        length = float(np.linalg.norm(np.diff(array, axis=0), axis=1).sum()) if len(array) > 1 else 0.0
        if length < MIN_PATH_M:
            raise ValueError(f"path is {length:.3f} m long; a path must be at least {MIN_PATH_M} m (two points apart)")
        if length > MAX_PATH_M:
            raise ValueError(f"path is {length:.0f} m long; at most {MAX_PATH_M:.0f} m")
        return cls(array)

    @classmethod
    def load(cls, path: str | Path) -> "GroundPath":
        """Read `{"points": [[x, z], ...]}` (metres) from a JSON file."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: no such path file") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: not a JSON path file ({error})") from None
        if not isinstance(data, dict) or "points" not in data:
            raise ValueError(f'{path}: expected {{"points": [[x, z], ...]}} in metres')
        try:
            return cls.from_points(data["points"])
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None

    @property
    def length_m(self) -> float:
        return float(self.cumulative()[-1])

    def cumulative(self) -> np.ndarray:
        """(N,) distance along the path at each point."""
        return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(self.points, axis=0), axis=1))])

    def at(self, distance_T: np.ndarray) -> np.ndarray:
        """(T, 2) points at these distances along the path (clamped to its ends)."""
        along = self.cumulative()
        d = np.clip(distance_T, 0.0, along[-1])
        return np.stack([np.interp(d, along, self.points[:, 0]), np.interp(d, along, self.points[:, 1])], axis=-1)

    def direction(self, distance_T: np.ndarray, spread_m: float = TURN_SMOOTH_M) -> np.ndarray:
        """(T,) unwrapped heading angle of the path (radians, 0 = +Z, +pi/2 = +X) at these distances, a corner's turn
        spread over `spread_m` of path."""
        count = max(2, int(math.ceil(self.length_m / SAMPLE_M)) + 1)
        samples = np.linspace(0.0, self.length_m, count)
        points = self.at(samples)
        tangent = np.gradient(points, samples, axis=0)
        angle = np.unwrap(np.arctan2(tangent[:, 0], tangent[:, 1]))
        angle = _smooth_samples(angle, spread_m / (samples[1] - samples[0]) / 2)
        return np.interp(np.clip(distance_T, 0, self.length_m), samples, angle)

    def rounded(self, sigma_m: float = ROUND_SIGMA_M, within_m: float = ROUND_MAX_M) -> "GroundPath":
        """The path with its corners rounded: resampled every SAMPLE_M and Gaussian-smoothed along its length (sigma
        `sigma_m`, less where the rounded line would leave the path by more than `within_m`). Its ends stay put."""
        count = max(2, int(math.ceil(self.length_m / SAMPLE_M)) + 1)
        spacing = self.length_m / (count - 1)
        points = self.at(np.linspace(0.0, self.length_m, count))
        sigma, rounded = min(sigma_m, self.length_m / 8), points  # the smoothing keeps the ends where 4 sigma fit
        for _ in range(4):  # a corner's cut grows with sigma (0.4 sigma at 90 degrees): shrink it until it fits
            rounded = _smooth_samples(points, sigma / spacing)
            away = _distance_within(rounded, points, int(4 * sigma / spacing) + 1, within_m)
            if away <= within_m:
                break
            sigma *= 0.95 * within_m / away
        else:
            rounded = points
        keep = np.concatenate([[True], np.linalg.norm(np.diff(rounded, axis=0), axis=1) > 1e-9])
        return GroundPath(rounded[keep])

    def project(self, points_T2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(distance to the polyline, distance along it of the nearest point), each (T,), for (x, z) points."""
        a, b = self.points[:-1][None], self.points[1:][None]  # (1, S, 2)
        p = np.asarray(points_T2, dtype=np.float64)[:, None]
        ab = b - a
        t = np.clip(((p - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0, 1)
        distance = np.linalg.norm(p - (a + t[..., None] * ab), axis=-1)
        nearest = distance.argmin(axis=1)
        rows = np.arange(len(distance))
        along = self.cumulative()[nearest] + t[rows, nearest] * np.linalg.norm(ab[0, nearest], axis=-1)
        return distance[rows, nearest], along

    def slice(self, begin_m: float, end_m: float) -> "GroundPath":
        """The part of the path between two distances along it."""
        along = self.cumulative()
        inside = self.points[(along > begin_m) & (along < end_m)]
        return GroundPath.from_points(np.concatenate([self.at(np.array([begin_m])), inside, self.at(np.array([end_m]))]))


def _smooth_samples(values_N: np.ndarray, sigma: float) -> np.ndarray:
    """`measures.smooth` (Gaussian along axis 0, odd reflection at both ends) as a convolution, for the long, finely
    sampled arrays of a path."""
    values = np.asarray(values_N, dtype=np.float64)
    pad = min(len(values) - 1, int(4 * sigma + 0.5))
    if pad < 1 or sigma <= 0:
        return values.copy()
    taps = np.arange(-pad, pad + 1)
    kernel = np.exp(-0.5 * (taps / sigma) ** 2)
    kernel /= kernel.sum()
    flat = values.reshape(len(values), -1)
    padded = np.concatenate([2 * flat[:1] - flat[pad:0:-1], flat, 2 * flat[-1:] - flat[-2:-pad - 2:-1]])
    smoothed = [np.convolve(padded[:, column], kernel, mode="valid") for column in range(flat.shape[1])]
    return np.stack(smoothed, axis=-1).reshape(values.shape)


def _distance_within(points_N2: np.ndarray, reference_N2: np.ndarray, band: int, tolerance: float) -> float:
    """The largest distance from a point to the nearest of the reference points within `band` indices of it (both
    sampled along the same path: an upper bound on the distance to the reference line, within half a sample); only
    points further than `tolerance` from their own reference point are searched (the others are near enough)."""
    candidates = np.flatnonzero(np.linalg.norm(points_N2 - reference_N2, axis=1) > tolerance)
    index = np.clip(candidates[:, None] + np.arange(-band, band + 1), 0, len(reference_N2) - 1)  # (C, 2 band + 1)
    distance = np.linalg.norm(points_N2[candidates, None] - reference_N2[index], axis=-1)
    return float(distance.min(axis=1).max(initial=0.0))


def bend_speeds(path: GroundPath) -> tuple[np.ndarray, np.ndarray]:
    """(distances along `path`, the fastest the pelvis may pass there in m/s): sideways acceleration at most
    TURN_ACCEL on its curvature, reached and left with at most SLOW_ACCEL. For a finely sampled (rounded) path."""
    along = path.cumulative()
    tangent = np.gradient(path.points, along, axis=0)
    curvature = np.abs(np.gradient(np.unwrap(np.arctan2(tangent[:, 0], tangent[:, 1])), along))
    squared = np.minimum(TURN_ACCEL / np.maximum(curvature, 1e-9), 1e4)  # (m/s)^2
    ramp = 2 * SLOW_ACCEL * along
    squared = np.minimum.accumulate((squared + ramp)[::-1])[::-1] - ramp  # slowing down before a bend
    squared = np.minimum.accumulate(squared - ramp) + ramp  # speeding up after it
    return along, np.maximum(np.sqrt(np.maximum(squared, 0.0)), BEND_MIN_SPEED)


def travel_line(joints_TJ3: np.ndarray, fps: float) -> np.ndarray:
    """(T, 2) the pelvis's horizontal track (x, z) with the gait's sway smoothed out."""
    return pelvis_track(joints_TJ3, fps, TRAVEL_SMOOTH_S)


def travel_length(joints_TJ3: np.ndarray, fps: float) -> float:
    """Metres along the motion's travel line (`travel_line`: the pelvis's horizontal track without the gait's sway)."""
    return float(np.linalg.norm(np.diff(travel_line(joints_TJ3, fps), axis=0), axis=1).sum())


def travel_directions(line_T2: np.ndarray, fps: float, moving_mps: float = 0.2) -> np.ndarray:
    """(T,) unwrapped direction of travel (radians, as `GroundPath.direction`); frames that hardly move take the
    direction of the nearest moving frames."""
    velocity = np.gradient(line_T2, axis=0) * fps
    angle = np.arctan2(velocity[:, 0], velocity[:, 1])
    moving = np.linalg.norm(velocity, axis=1) > moving_mps
    frames = np.arange(len(angle))
    if moving.sum() >= 2:
        return np.interp(frames, frames[moving], np.unwrap(angle[moving]))
    if moving.any():
        return np.full(len(angle), angle[moving][0])
    return np.zeros(len(angle))


@dataclass(frozen=True)
class Carried:
    """A motion carried along a path (`carry`), with what the warp measured on the way: each frame was moved from its
    own travel line's point `line_T2` to `placed_T2` on the pelvis's line and turned by `turn_T` about +Y."""

    joints: np.ndarray  # (T, 22, 3) the carried motion (cut where it reaches the path's end, when asked)
    stretch: float  # the pelvis's (rounded) line over the motion's own travel (1: walked at the motion's own pace)
    along_T: np.ndarray  # (T,) each frame's distance along the pelvis's (rounded) line, metres
    line_T2: np.ndarray  # (T, 2) the motion's own travel line (x, z) before the carry
    placed_T2: np.ndarray  # (T, 2) where each frame's travel line point went, on the pelvis's line
    turn_T: np.ndarray  # (T,) radians each frame was turned by

    def unbend(self, pose_J3: np.ndarray, frame: int) -> np.ndarray:
        """A pose where it stands on the path at `frame`, taken back to the motion's own frame (before the carry):
        what the motion would have to hold at that frame for the carry to put it there."""
        placed, line = self.placed_T2[frame], self.line_T2[frame]
        moved = np.asarray(pose_J3, dtype=np.float64) - np.array([placed[0], 0.0, placed[1]])
        return rotate_y(moved, -self.turn_T[frame]) + np.array([line[0], 0.0, line[1]])


def path_progress(steps_T: np.ndarray, line: GroundPath, fps: float, cut: bool,
                  anchors: dict[int, float] | None = None) -> np.ndarray:
    """(n,) each frame's distance along `line`, from the motion's own steps along its travel line (m, T - 1 of them):
    the motion's pace (with `cut`; else scaled to cover the line), slowed where a bend asks for it (`bend_speeds`).
    With `cut`, the frames after the one that reaches the line's end are left out; whatever is left is scaled to end
    exactly there. `anchors` ({frame: distance}, keyed poses) pin frames to distances: between two, the motion's own
    pace is scaled to go from one to the next (slowing into bends); after the last, on to the line's end as above."""
    if anchors:
        return _anchored_progress(steps_T, line, fps, cut, anchors)
    distances, speeds = bend_speeds(line)
    end = float(distances[-1])
    if not cut:  # the pace the take will have on the line, so that a bend slows what will pass it too fast
        steps_T = steps_T * (end / max(float(steps_T.sum()), 1e-9))
    along = np.zeros(len(steps_T) + 1)
    for t, step in enumerate(steps_T):
        along[t + 1] = along[t] + min(step, float(np.interp(along[t], distances, speeds)) / fps)
        if cut and along[t + 1] >= end:
            along = along[: t + 2]
            break
    along = smooth(along * (end / along[-1]), PROGRESS_SMOOTH_S * fps)  # the ends stay put
    return np.clip(along, 0.0, end)


def _anchored_progress(steps_T: np.ndarray, line: GroundPath, fps: float, cut: bool,
                       anchors: dict[int, float]) -> np.ndarray:
    """`path_progress` through anchors ({frame: distance along `line`}, frames in order, distances not decreasing)."""
    points = {0: 0.0, **{int(f): float(d) for f, d in anchors.items()}}  # a key on frame 0 moves the start
    frames = sorted(points)
    parts = [np.array([points[frames[0]]])]
    for a, b in zip(frames[:-1], frames[1:]):
        parts.append(_progress_between(steps_T[a:b], line, points[a], points[b], fps, False)[1:])
    if frames[-1] < len(steps_T):  # on from the last anchor to the line's end (cut where it gets there, with `cut`)
        parts.append(_progress_between(steps_T[frames[-1]:], line, points[frames[-1]], line.length_m, fps, cut)[1:])
    along = np.concatenate(parts)
    smoothed = smooth(along, PROGRESS_SMOOTH_S * fps)  # no kink in the pace at an anchor ...
    fixed = [f for f in frames if f < len(along)] + [len(along) - 1]
    smoothed += np.interp(np.arange(len(along)), fixed, along[fixed] - smoothed[fixed])  # ... and each exactly there
    return np.clip(smoothed, 0.0, line.length_m)


def _progress_between(steps_T: np.ndarray, line: GroundPath, begin: float, end: float, fps: float,
                      cut: bool) -> np.ndarray:
    """(n,) distances from `begin` to `end` along `line` over these steps (`path_progress` on that part of it)."""
    if end - begin < MIN_PATH_M:  # (nearly) standing between two anchors: the motion's own pace, scaled
        travelled = np.concatenate([[0.0], np.cumsum(steps_T)])
        share = travelled / travelled[-1] if travelled[-1] > 1e-9 else np.linspace(0.0, 1.0, len(travelled))
        return begin + (end - begin) * (share[:2] if cut else share)  # cut: the end is reached at once
    count = max(2, int(math.ceil((end - begin) / SAMPLE_M)) + 1)
    part = GroundPath(line.at(np.linspace(begin, end, count)))
    return begin + path_progress(steps_T, part, fps, cut)


def carry(joints_TJ3: np.ndarray, path: GroundPath, fps: float, *, cut: bool = False, min_frames: int = 2,
          anchors: dict[int, float] | None = None) -> Carried:
    """The motion carried along `path` (see the module doc): its pelvis starts over the path's first point and ends
    over its last, facing along it as it faced along its own travel, round the path's corners rounded and slowing into
    sharp ones. With `cut` the motion is cut (at no fewer than `min_frames`) where it reaches the path's end: it was
    made longer than needed, so that the path is walked at its own pace. `anchors` ({frame: metres along the path's
    rounded line, `GroundPath.rounded`}) put those frames' travel line there (keyed poses; `path_progress`). Raises if
    the motion does not travel."""
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    line = travel_line(joints, fps)
    steps = np.linalg.norm(np.diff(line, axis=0), axis=1)
    travelled = float(steps.sum())
    if travelled < MIN_TRAVEL_M:
        raise ValueError(f"the motion travels {travelled:.2f} m, too little to follow a path: give the path a "
                         f"prompt that moves (walks, runs, crawls, ...)")
    follow = path.rounded()
    along = path_progress(steps, follow, fps, cut, anchors)
    n = max(len(along), min(min_frames, len(joints)))
    if n > len(along):  # the end reached within fewer than min_frames: those frames, slower
        along = path_progress(steps[: n - 1], follow, fps, False, anchors)
    joints, line = joints[:n], line[:n]
    pace = follow.length_m / max((len(joints) - 1) / fps, 1e-6)
    turn = follow.direction(along, max(TURN_SMOOTH_M, TURN_SMOOTH_S * pace)) - travel_directions(line, fps)
    placed = follow.at(along)
    relative = joints - np.stack([line[:, 0], np.zeros(len(line)), line[:, 1]], axis=-1)[:, None]
    carried = rotate_y(relative, turn[:, None])
    carried[..., 0] += placed[:, None, 0]
    carried[..., 2] += placed[:, None, 1]
    return Carried(carried, follow.length_m / max(float(steps[: n - 1].sum()), 1e-9), along, line, placed, turn)


def follow_path(joints_TJ3: np.ndarray, path: GroundPath, fps: float) -> np.ndarray:
    """The motion carried along `path` (`carry`'s joints)."""
    return carry(joints_TJ3, path, fps).joints


def path_stats(joints_TJ3: np.ndarray, path: GroundPath, fps: float, offset_deg: float = 0.0) -> dict[str, float]:
    """What a path take is judged by: pelvis distance from the path (mean and max, m), the facing's angle to the path's
    direction at the nearest point (median, degrees; `offset_deg` is the facing the prompt asks for relative to the
    travel: 180 backwards, +-90 sideways) and how far the travel line ends from the path's end (m)."""
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    distance, along = path.project(joints[:, PELVIS][:, [0, 2]])
    facing = facing_directions(joints)
    facing_angle = np.arctan2(facing[:, 0], facing[:, 2])
    error = np.degrees(np.abs(wrap(facing_angle - path.direction(along, spread_m=1e-3) - np.radians(offset_deg))))
    line = travel_line(joints, fps)
    return dict(mean_m=float(distance.mean()), max_m=float(distance.max()), heading_error_deg=float(np.median(error)),
                end_m=float(np.linalg.norm(line[-1] - path.points[-1])))


def round_a_circle(joints_TJ3: np.ndarray, fps: float, radius_m: float, side: int) -> np.ndarray:
    """A walk carried round a circle of `radius_m` (side +1: to the left, counterclockwise seen from above; -1: to the
    right), as many laps as its own travel makes, its feet pinned again where they were planted: the corpus's circle
    walks (`moscale.data.corpus`), since almost no recorded walk turns a full circle."""
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    contacts = feet.contacts_from_joints(joints, fps)
    travelled = travel_length(joints, fps)
    angle = np.linspace(0.0, travelled / radius_m, max(int(travelled / (10 * SAMPLE_M)), 2) + 1)
    # the motion starts facing +Z; +X is its left
    circle = GroundPath.from_points(np.stack([side * radius_m * (1 - np.cos(angle)), radius_m * np.sin(angle)], -1))
    carried = follow_path(joints, circle, fps)
    return feet.lock_feet(carried, contacts & feet.near_floor(carried)).astype(np.float64)
