"""Geometric measurements of a clip (SMPL-22 joints (T, 22, 3), metres, Y up): how fast and which way the pelvis
travels relative to the body's facing, how far the body turns, its height (standing, crouching, sitting, kneeling,
lying), which wrist is up, and when the feet leave the floor. Pure numpy; thresholds are named constants.

Conventions. The heading is the facing angle about +Y in degrees (``kinematics.facing_directions``' hips and
shoulders): 0 faces +Z (the rest pose), +90 faces +X. The body's left is +X at rest, so a positive heading change
is a turn to the LEFT (counter-clockwise seen from above, a right-handed rotation about +Y); negative = right. A
travel direction is atan2(left, forward) of the pelvis's steps in the body's own frame: 0 forward, +90 to the left,
-90 to the right, +-180 backwards. Lengths are "standard-body metres" where it matters (``standard_scale``: the clip
scaled so its leg, hip -> knee -> ankle, is the uniform skeleton's 0.82 m; the corpus's clips already are).

Thresholds come from real clips resampled to 20 fps and scaled to the standard body (Bandai-Namco 1 and 2, CMU
01-14, ReActIdle, DeepMimic), quoted as median [5th, 95th percentile] over whole clips at each constant. On them:
walks are walks (99%), runs are not (95%), walk-back goes backward, walk-left/right diagonally forward, walk-turn-
left turns left (100%) and -right right (99%: 3 of 234 turn left), waves, raises and idle clips stay in place
(100%, one idle take of 22 wanders), the raised hand is the labelled one or none (82-87% found: some styles stop at
the shoulder), the stool clips sit down and stand up, jumps are found in every jump clip and no run or walk.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from moscale.motion import cleaning
from moscale.motion.kinematics import bone_lengths, gaussian_smooth
from moscale.motion.skeleton import JOINT_INDEX, PARENTS, leg_length_m

PELVIS, HEAD = JOINT_INDEX["pelvis"], JOINT_INDEX["head"]
LEFT_HIP, RIGHT_HIP = JOINT_INDEX["left_hip"], JOINT_INDEX["right_hip"]
KNEES = (JOINT_INDEX["left_knee"], JOINT_INDEX["right_knee"])
FEET = {"left": (JOINT_INDEX["left_ankle"], JOINT_INDEX["left_foot"]),
        "right": (JOINT_INDEX["right_ankle"], JOINT_INDEX["right_foot"])}
SHOULDERS = {"left": JOINT_INDEX["left_shoulder"], "right": JOINT_INDEX["right_shoulder"]}
WRISTS = {"left": JOINT_INDEX["left_wrist"], "right": JOINT_INDEX["right_wrist"]}
SIDES = ("left", "right")

# smoothing
TRACK_SMOOTH_S = 0.25  # s, Gaussian sigma on the pelvis's horizontal track: takes out the ~1 Hz sway of a gait
HEADING_SMOOTH_S = 0.15  # s, sigma on the unwrapped facing angle (hips and shoulders twist against each other)
HEADING_MIN_FLAT = 0.5  # the hip/shoulder axis must be at least this horizontal (|xz| / |xyz|) to give a heading

# travel
MOVING_MPS = 0.2  # a frame whose smoothed pelvis moves faster than this is a travelling frame
STILL_MPS = 0.15  # mean speed below this: not travelling (idle, waves, raises: mean 0.01-0.02, 95th pct <= 0.08)
IN_PLACE_RADIUS_M = 0.35  # ... and the smoothed pelvis stays this near its mean (waves 0.02 [0.01, 0.08]; idle <= 0.37)
MIN_TRAVEL_M = 0.5  # a direction is only named for a path at least this long
STRAIGHT_DEG = 15.0  # travel within this of the facing (or its back) is straight (walks 2.5 [-2.7, 4.7] deg)
SIDEWAYS_DEG = 22.5  # ... within this of +-90 sideways, diagonal in between (walk-left +30 [19, 50] deg)

# gait, from the moving speed (standard body) and, between WALK_MAX_MPS and RUN_MIN_MPS, the cadence
WALK_MAX_MPS = 1.5  # slower: a walk (walks 1.26 [0.75, 1.57] m/s moving speed, runs 2.80 [1.55, 3.64])
RUN_MIN_MPS = 2.2  # faster: a run
RUN_CADENCE = 2.6  # steps/s: in between, a run at this cadence or more (walks 1.93 [1.64, 2.45], runs 2.86 [2.5, 3.2])
JOG_MAX_MPS = 2.6  # a run slower than this is a jog
SPRINT_MIN_MPS = 3.4  # a run this fast is a sprint (Bandai dash 3.31 [2.63, 4.41]: runs and dashes overlap)
WALK_SLOW_MPS = 1.0  # a walk slower than this is slow (CMU 'slow walk' 1.00 [0.93, 1.19], walks 1.42) ...
WALK_FAST_MPS = 1.6  # ... this fast or faster is quick (CMU 'walk, exaggerated stride' 1.69)
WEIGHT_SHIFT_M = 0.04  # in place with the pelvis drifting this far: shifting weight (idle 0.11 / 0.06, raises 0.02)

# turning
TURN_MIN_DEG = 30.0  # |net heading change| below this is no turn (walks [-9, 12] deg, walk-turn-left +92 [81, 105])
CIRCLE_MIN_DEG = 300.0  # a heading sweep this large while travelling is a circle
CIRCLE_MIN_PATH_M = 2.0  # ... along a path at least this long
SPIN_MIN_DEG = 270.0  # |heading change| this large with the pelvis in place is a spin
SPIN_DEG_PER_M = 200.0  # ... or turning this fast per metre of path (a circle of 1 m radius: 57 deg/m)

# posture (standard-body metres above the floor; standing pelvis ~0.9, head joint ~1.4)
LYING_HEAD_M = 0.45  # head below this ...
LYING_PELVIS_M = 0.3  # ... and pelvis below this: lying
KNEE_ON_FLOOR_M = 0.15  # a knee this low is on the floor: kneeling
SIT_THIGH_DEG = 55.0  # sitting: both thighs at least this far from vertical ...
SEAT_OFFSET_M = 0.2  # ... and the pelvis this far from the feet horizontally (carried by a seat) ...
FEET_UP_M = 0.1  # ... or the lowest foot joint this far off the floor (feet on a rung, dangling)
FLOOR_SIT_PELVIS_M = 0.3  # pelvis this low ...
UPRIGHT_M = 0.35  # ... with the head this far above it: sitting on the floor
CROUCH_PELVIS_M = 0.68  # pelvis lower than this (and not sitting, kneeling, lying): crouching (standing ~0.9)
POSTURE_SMOOTH_S = 0.25  # s, Gaussian sigma on the heights a posture is read from (a gait bobs the pelvis)
MIN_POSTURE_S = 0.5  # shorter stretches of a posture are merged into their neighbours
SEAT_MAX_PELVIS_M = 0.85  # ... (the feet-up seat only below this: a tucked jump lifts the feet too)
POSTURES = ("standing", "crouching", "sitting", "kneeling", "lying")

# arms
RAISED_M = 0.05  # a wrist this far above its shoulder is raised (as moscale.evaluation.behaviour)
OVERHEAD_M = 0.1  # a wrist this far above the head joint (the base of the skull) is overhead
SHOULDER_LEVEL_M = 0.1  # a wrist less than this below its shoulder is at shoulder height (it hangs ~0.5 below)
MIN_RAISED_S = 0.4  # ... for at least this long (summed over the span)

# feet
FOOT_REST_PERCENTILE = 5.0  # a foot joint's resting height: this percentile of its height over the clip
FOOT_OFF_M = 0.06  # a foot whose lowest joint is this far above its resting height is off the floor
MIN_FLIGHT_S = 0.3  # both feet off for this long is a jump (runs: 0.1-0.25 s; standing jumps 0.35-0.6 s)
MAX_FLIGHT_S = 1.2  # ... and no longer (a 1.5 m high jump)
JUMP_LIFT_M = 0.1  # ... the lower foot rises at least this high
JUMP_MIN_ACCEL = 5.0  # m/s^2: ... and the pelvis falls this fast (flights: 7-15; seats, steps, ladders: ~0)
HOP_HELD_M = 0.1  # hop on one leg: the free foot is this far off the floor ...
HOP_HELD_FRACTION = 0.7  # ... for this fraction of the span, while the standing foot is
HOP_STANCE_FRACTION = 0.4  # ... that far up for at most this fraction (a run lifts both feet ~60% of the time)
MIN_HOP_S = 0.1  # ... while the standing foot leaves the floor for this long ...
MIN_HOPS = 2  # ... at least this many times
STEP_LIFT_M = 0.05  # a step: the foot leaves the floor by this much ...
MIN_STEP_S = 0.1  # ... for at least this long


def _joints(joints_TJ3: np.ndarray) -> np.ndarray:
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (22, 3) or len(joints) < 2:
        raise ValueError(f"expected SMPL-22 joints of shape (T >= 2, 22, 3), got {joints.shape}")
    return joints


def standard_scale(joints_TJ3: np.ndarray) -> float:
    """Factor that scales the clip's leg (hip -> knee -> ankle, median over frames) to the uniform skeleton's."""
    lengths = bone_lengths(_joints(joints_TJ3), PARENTS)
    leg = (lengths[list(KNEES)] + lengths[[FEET["left"][0], FEET["right"][0]]]).mean()
    return float(leg_length_m() / max(leg, 1e-6))


def floor_height(joints_TJ3: np.ndarray) -> float:
    """Floor in metres: the corpus's rule (``cleaning.floor_height``, the 1st percentile of the lowest joint)."""
    return cleaning.floor_height(_joints(joints_TJ3))


def heights(joints_TJ3: np.ndarray) -> np.ndarray:
    """(T, 22) standard-body metres of every joint above the floor (pelvis ~0.9 standing, head joint ~1.4)."""
    joints = _joints(joints_TJ3)
    return (joints[..., 1] - floor_height(joints)) * standard_scale(joints)


# ----------------------------------------------------------------------------------------------- travel
def smooth(values_T: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Gaussian smoothing along axis 0 with odd reflection at both ends, so a clip that ends mid-turn or mid-stride
    keeps its trend (edge padding would flatten the last ~sigma frames)."""
    values = np.asarray(values_T, dtype=np.float64)
    pad = min(len(values) - 1, int(4 * sigma_frames + 0.5))
    if pad < 1:
        return values.copy()
    padded = np.concatenate([2 * values[:1] - values[pad:0:-1], values, 2 * values[-1:] - values[-2:-pad - 2:-1]])
    return gaussian_smooth(padded, sigma_frames)[pad:pad + len(values)]


def pelvis_track(joints_TJ3: np.ndarray, fps: float, sigma_s: float = TRACK_SMOOTH_S) -> np.ndarray:
    """(T, 2) smoothed horizontal pelvis position (x, z) in metres (Gaussian sigma `sigma_s` seconds)."""
    return smooth(_joints(joints_TJ3)[:, PELVIS][:, [0, 2]], sigma_s * fps)


def heading_deg(joints_TJ3: np.ndarray, fps: float) -> np.ndarray:
    """(T,) unwrapped facing angle about +Y in degrees (0 = +Z, +90 = +X: a rise is a turn to the left). Frames
    whose hip/shoulder axis is far from horizontal (lying on the side) take the heading of their neighbours."""
    joints = _joints(joints_TJ3)
    across = (joints[:, RIGHT_HIP] - joints[:, LEFT_HIP]
              + joints[:, SHOULDERS["right"]] - joints[:, SHOULDERS["left"]])
    flat = np.hypot(across[:, 0], across[:, 2])
    # forward = up x across = (across_z, 0, -across_x)
    yaw = np.arctan2(across[:, 2], -across[:, 0])
    reliable = flat > HEADING_MIN_FLAT * np.maximum(np.linalg.norm(across, axis=-1), 1e-9)
    frames = np.arange(len(yaw))
    if reliable.sum() >= 2:
        yaw = np.interp(frames, frames[reliable], np.unwrap(yaw[reliable]))
    else:
        yaw = np.unwrap(yaw)
    return np.degrees(smooth(yaw, HEADING_SMOOTH_S * fps))


@dataclass(frozen=True)
class Travel:
    """How the pelvis moves over a span: metres, seconds, m/s; directions in the body's frame (see module doc)."""

    duration_s: float
    path_m: float  # length of the smoothed horizontal track
    displacement_m: float  # start to end, straight
    mean_speed_mps: float  # path / duration
    moving_speed_mps: float  # median speed over the travelling frames (0 when there are none)
    moving_fraction: float  # share of frames that travel
    forward_m: float  # steps projected on the body's facing at each step (negative: backwards)
    left_m: float  # ... on the body's left (negative: to the right)
    direction_deg: float  # atan2(left, forward): 0 forward, +90 left, -90 right, +-180 backwards
    radius_m: float  # the farthest the smoothed pelvis gets from its mean position


def travel(joints_TJ3: np.ndarray, fps: float) -> Travel:
    """Pelvis travel over the clip (pass a slice for a span)."""
    track = pelvis_track(joints_TJ3, fps)
    yaw = np.radians(heading_deg(joints_TJ3, fps))
    steps = np.diff(track, axis=0)  # (T-1, 2) x, z
    mid = 0.5 * (yaw[1:] + yaw[:-1])
    forward = (steps * np.stack([np.sin(mid), np.cos(mid)], -1)).sum(-1)
    left = (steps * np.stack([np.cos(mid), -np.sin(mid)], -1)).sum(-1)
    speed = np.linalg.norm(steps, axis=-1) * fps
    moving = speed > MOVING_MPS
    duration = (len(track) - 1) / fps
    path = float(np.linalg.norm(steps, axis=-1).sum())
    return Travel(
        duration_s=duration, path_m=path, displacement_m=float(np.linalg.norm(track[-1] - track[0])),
        mean_speed_mps=path / duration, moving_speed_mps=float(np.median(speed[moving])) if moving.any() else 0.0,
        moving_fraction=float(moving.mean()), forward_m=float(forward.sum()), left_m=float(left.sum()),
        direction_deg=float(np.degrees(np.arctan2(left.sum(), forward.sum()))),
        radius_m=float(np.linalg.norm(track - track.mean(axis=0), axis=-1).max()))


def stays_in_place(moved: Travel) -> bool:
    """The pelvis stays within IN_PLACE_RADIUS_M of its mean position and never travels for long."""
    return moved.radius_m <= IN_PLACE_RADIUS_M and moved.mean_speed_mps < STILL_MPS


def moving_frames(joints_TJ3: np.ndarray, fps: float) -> np.ndarray:
    """(T-1,) bool: the smoothed pelvis moves faster than MOVING_MPS from frame t to t + 1."""
    return np.linalg.norm(np.diff(pelvis_track(joints_TJ3, fps), axis=0), axis=-1) * fps > MOVING_MPS


def shifts_weight(moved: Travel) -> bool:
    """In place, yet the pelvis drifts at least WEIGHT_SHIFT_M from its mean position."""
    return stays_in_place(moved) and moved.radius_m >= WEIGHT_SHIFT_M


def gait(moved: Travel, cadence_steps_per_s: float) -> str:
    """'still', 'walk', 'jog', 'run' or 'sprint' from the moving speed (and the cadence between WALK_MAX_MPS and
    RUN_MIN_MPS)."""
    speed = moved.moving_speed_mps
    if stays_in_place(moved) or moved.moving_fraction == 0.0:
        return "still"
    if speed < WALK_MAX_MPS or (speed < RUN_MIN_MPS and cadence_steps_per_s < RUN_CADENCE):
        return "walk"
    return "jog" if speed < JOG_MAX_MPS else "run" if speed < SPRINT_MIN_MPS else "sprint"


def walk_pace(moved: Travel) -> str:
    """'slow', 'normal' or 'fast' for a walk's moving speed (WALK_SLOW_MPS, WALK_FAST_MPS)."""
    speed = moved.moving_speed_mps
    return "slow" if speed < WALK_SLOW_MPS else "fast" if speed >= WALK_FAST_MPS else "normal"


def direction_name(moved: Travel) -> str | None:
    """'forward' / 'backward' (within STRAIGHT_DEG of the axis), 'left' / 'right' (within SIDEWAYS_DEG of +-90),
    'forward-left', 'forward-right', 'backward-left', 'backward-right' in between; None for a path under
    MIN_TRAVEL_M or one that comes back to where it started."""
    if moved.path_m < MIN_TRAVEL_M or np.hypot(moved.forward_m, moved.left_m) < 0.5 * MIN_TRAVEL_M:
        return None
    angle = abs(moved.direction_deg)
    side = "left" if moved.direction_deg > 0 else "right"
    if angle <= STRAIGHT_DEG:
        return "forward"
    if angle >= 180.0 - STRAIGHT_DEG:
        return "backward"
    if abs(angle - 90.0) <= SIDEWAYS_DEG:
        return side
    return ("forward-" if angle < 90.0 else "backward-") + side


# ----------------------------------------------------------------------------------------------- turning
@dataclass(frozen=True)
class Turn:
    """Heading change over a span, degrees: + = to the left (counter-clockwise from above), - = to the right."""

    net_deg: float  # last frame's heading minus the first's
    total_deg: float  # sum of |frame-to-frame change|: turning back and forth adds up
    swept_deg: float  # max - min of the heading: the widest turn at any point


def turning(joints_TJ3: np.ndarray, fps: float) -> Turn:
    heading = heading_deg(joints_TJ3, fps)
    return Turn(net_deg=float(heading[-1] - heading[0]), total_deg=float(np.abs(np.diff(heading)).sum()),
                swept_deg=float(np.ptp(heading)))


def turn_side(turn: Turn) -> str | None:
    """'left' or 'right' for a net turn of at least TURN_MIN_DEG, else None."""
    if abs(turn.net_deg) < TURN_MIN_DEG:
        return None
    return "left" if turn.net_deg > 0 else "right"


def is_circle(turn: Turn, moved: Travel) -> bool:
    """Travelling while the heading sweeps at least CIRCLE_MIN_DEG one way, along a path of CIRCLE_MIN_PATH_M or
    more that turns less than SPIN_DEG_PER_M per metre (faster turning is a spin that drifts)."""
    return (abs(turn.net_deg) >= CIRCLE_MIN_DEG and moved.path_m >= CIRCLE_MIN_PATH_M
            and abs(turn.net_deg) < SPIN_DEG_PER_M * moved.path_m and not stays_in_place(moved))


def is_spin(turn: Turn, moved: Travel) -> bool:
    """A turn of at least SPIN_MIN_DEG one way with the pelvis in place, or turning SPIN_DEG_PER_M or more per
    metre travelled."""
    return abs(turn.net_deg) >= SPIN_MIN_DEG and (moved.radius_m <= IN_PLACE_RADIUS_M
                                                  or abs(turn.net_deg) >= SPIN_DEG_PER_M * moved.path_m)


# ----------------------------------------------------------------------------------------------- feet
def foot_lift(joints_TJ3: np.ndarray) -> np.ndarray:
    """(T, 2) standard-body metres each foot (left, right) is off the floor: the lower of its ankle and toe, each
    measured from the resting height of its kind (FOOT_REST_PERCENTILE of its height over the clip, the lower of
    the two feet: a foot held up all along stays up)."""
    joints = _joints(joints_TJ3)
    heights = joints[:, list(FEET["left"]) + list(FEET["right"]), 1].reshape(len(joints), 2, 2)  # (T, side, joint)
    rest = np.percentile(heights, FOOT_REST_PERCENTILE, axis=0).min(axis=0)  # (2,) ankle, toe
    return (heights - rest).min(axis=2) * standard_scale(joints)


def runs(mask_T: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of every run of True."""
    edges = np.diff(np.concatenate([[0], np.asarray(mask_T).astype(np.int8), [0]]))
    return list(zip(np.nonzero(edges == 1)[0].tolist(), np.nonzero(edges == -1)[0].tolist()))


def _ballistic(height_T: np.ndarray, fps: float) -> bool:
    """The height falls like a thrown body: the least-squares parabola's acceleration is below -JUMP_MIN_ACCEL."""
    if len(height_T) < 3:
        return False
    seconds = np.arange(len(height_T)) / fps
    return bool(2.0 * np.polyfit(seconds, height_T, 2)[0] <= -JUMP_MIN_ACCEL)


def airborne(joints_TJ3: np.ndarray) -> np.ndarray:
    """(T,) bool: both feet more than FOOT_OFF_M off the floor (a jump's flight, a run's too, or a seat's)."""
    return foot_lift(joints_TJ3).min(axis=1) > FOOT_OFF_M


def jumps(joints_TJ3: np.ndarray, fps: float) -> list[tuple[int, int]]:
    """[start, stop) frames of each flight: both feet more than FOOT_OFF_M off the floor for MIN_FLIGHT_S to
    MAX_FLIGHT_S, the lower one rising at least JUMP_LIFT_M, the pelvis moving ballistically (steps, ladders and
    seats lift the feet too, but hold the pelvis up)."""
    joints = _joints(joints_TJ3)
    lift = foot_lift(joints).min(axis=1)
    pelvis = joints[:, PELVIS, 1]  # physical metres: compared with gravity
    flights = []
    for start, stop in runs(airborne(joints)):
        seconds = (stop - start) / fps
        if (MIN_FLIGHT_S <= seconds <= MAX_FLIGHT_S and lift[start:stop].max() >= JUMP_LIFT_M
                and _ballistic(pelvis[max(start - 1, 0):stop + 1], fps)):
            flights.append((start, stop))
    return flights


def hop_side(joints_TJ3: np.ndarray, fps: float) -> str | None:
    """'left' / 'right': the body hops on that foot (the other is held off the floor for HOP_HELD_FRACTION of the
    clip while this one leaves the floor at least MIN_HOPS times, each for MIN_HOP_S), else None."""
    lift = foot_lift(joints_TJ3)
    for stance, free in ((0, 1), (1, 0)):
        held = lift[:, free] > HOP_HELD_M
        if held.mean() < HOP_HELD_FRACTION or (lift[:, stance] > HOP_HELD_M).mean() > HOP_STANCE_FRACTION:
            continue
        hops = [(a, b) for a, b in runs((lift[:, stance] > FOOT_OFF_M) & held) if (b - a) / fps >= MIN_HOP_S]
        if len(hops) >= MIN_HOPS:
            return SIDES[stance]
    return None


def steps(joints_TJ3: np.ndarray, fps: float) -> int:
    """Footsteps: an ankle rises more than STEP_LIFT_M above its resting height for at least MIN_STEP_S (also in
    place). The ankle, not the toe: a walking toe skims the floor mid-swing and would split one step in two."""
    joints = _joints(joints_TJ3)
    ankles = joints[:, [FEET["left"][0], FEET["right"][0]], 1]
    lift = (ankles - np.percentile(ankles, FOOT_REST_PERCENTILE, axis=0).min()) * standard_scale(joints)
    return sum((stop - start) / fps >= MIN_STEP_S
               for side in range(2) for start, stop in runs(lift[:, side] > STEP_LIFT_M))


# ----------------------------------------------------------------------------------------------- arms
def wrist_heights(joints_TJ3: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray]:
    """(T,) standard-body metres the wrist is above its shoulder, and above the head joint."""
    joints = _joints(joints_TJ3)
    wrist = joints[:, WRISTS[side], 1]
    scale = standard_scale(joints)
    return (wrist - joints[:, SHOULDERS[side], 1]) * scale, (wrist - joints[:, HEAD, 1]) * scale


def raised_seconds(joints_TJ3: np.ndarray, fps: float, side: str) -> tuple[float, float]:
    """Seconds (summed) the wrist is raised above its shoulder (by RAISED_M) and above the head (by OVERHEAD_M)."""
    over_shoulder, over_head = wrist_heights(joints_TJ3, side)
    return float((over_shoulder > RAISED_M).sum() / fps), float((over_head > OVERHEAD_M).sum() / fps)


def raised_hands(joints_TJ3: np.ndarray, fps: float) -> dict[str, str | None]:
    """Per side: 'overhead' (wrist above the head for MIN_RAISED_S), 'raised' (above the shoulder + RAISED_M),
    'shoulder' (within SHOULDER_LEVEL_M below the shoulder or higher) or None."""
    levels: dict[str, str | None] = {}
    for side in SIDES:
        over_shoulder, over_head = wrist_heights(joints_TJ3, side)
        levels[side] = None
        for level, mask in (("overhead", over_head > OVERHEAD_M), ("raised", over_shoulder > RAISED_M),
                            ("shoulder", over_shoulder > -SHOULDER_LEVEL_M)):
            if mask.sum() >= MIN_RAISED_S * fps:
                levels[side] = level
                break
    return levels


# ----------------------------------------------------------------------------------------------- posture
def _thigh_angles(joints: np.ndarray) -> np.ndarray:
    """(T,) degrees between the more upright thigh and straight down (0: standing, 90: thigh level)."""
    angles = []
    for hip, knee in ((LEFT_HIP, KNEES[0]), (RIGHT_HIP, KNEES[1])):
        thigh = joints[:, knee] - joints[:, hip]
        cosine = -thigh[:, 1] / np.maximum(np.linalg.norm(thigh, axis=-1), 1e-9)
        angles.append(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))
    return np.minimum(*angles)


def posture_frames(joints_TJ3: np.ndarray, fps: float) -> np.ndarray:
    """(T,) posture name of every frame (POSTURES), from standard-body heights above the floor (smoothed over
    POSTURE_SMOOTH_S):

    lying      head < LYING_HEAD_M and pelvis < LYING_PELVIS_M
    kneeling   a knee < KNEE_ON_FLOOR_M
    sitting    both thighs >= SIT_THIGH_DEG from vertical and the body rests on something other than the feet (pelvis
               >= SEAT_OFFSET_M from them horizontally, or the feet > FEET_UP_M off the floor with the pelvis under
               SEAT_MAX_PELVIS_M), or the pelvis
               < FLOOR_SIT_PELVIS_M with the head >= UPRIGHT_M above it (sitting on the floor)
    crouching  the pelvis < CROUCH_PELVIS_M
    standing   otherwise
    """
    joints = _joints(joints_TJ3)
    scale = standard_scale(joints)
    sigma = POSTURE_SMOOTH_S * fps
    height = gaussian_smooth(heights(joints), sigma)  # (T, J)
    pelvis, head = height[:, PELVIS], height[:, HEAD]
    foot_joints = list(FEET["left"]) + list(FEET["right"])
    lowest_foot = height[:, foot_joints].min(axis=1)
    feet_xz = joints[:, foot_joints][:, :, [0, 2]].mean(axis=1)
    offset = gaussian_smooth(np.linalg.norm(joints[:, PELVIS, [0, 2]] - feet_xz, axis=-1) * scale, sigma)
    lying = (head < LYING_HEAD_M) & (pelvis < LYING_PELVIS_M)
    kneeling = ~lying & (height[:, list(KNEES)].min(axis=1) < KNEE_ON_FLOOR_M)
    feet_up = (lowest_foot > FEET_UP_M) & (pelvis < SEAT_MAX_PELVIS_M)
    seated = (gaussian_smooth(_thigh_angles(joints), sigma) >= SIT_THIGH_DEG) & ((offset >= SEAT_OFFSET_M) | feet_up)
    on_floor = (pelvis < FLOOR_SIT_PELVIS_M) & (head - pelvis >= UPRIGHT_M)
    sitting = ~lying & ~kneeling & (seated | on_floor)
    crouching = ~lying & ~kneeling & ~sitting & (pelvis < CROUCH_PELVIS_M)
    names = np.full(len(joints), "standing", dtype=object)
    for name, mask in (("crouching", crouching), ("sitting", sitting), ("kneeling", kneeling), ("lying", lying)):
        names[mask] = name
    return names


def posture_segments(joints_TJ3: np.ndarray, fps: float) -> list[tuple[str, int, int]]:
    """(posture, start, stop) stretches of the clip; stretches under MIN_POSTURE_S (a tucked jump, a stumble) are
    merged into the longer of their neighbours."""
    names = posture_frames(joints_TJ3, fps)
    segments = [[str(names[a]), a, b] for a, b in _label_runs(names)]
    while len(segments) > 1:
        shortest = min(range(len(segments)), key=lambda i: segments[i][2] - segments[i][1])
        if (segments[shortest][2] - segments[shortest][1]) / fps >= MIN_POSTURE_S:
            break
        neighbours = [i for i in (shortest - 1, shortest + 1) if 0 <= i < len(segments)]
        into = max(neighbours, key=lambda i: segments[i][2] - segments[i][1])
        segments[into][1] = min(segments[into][1], segments[shortest][1])
        segments[into][2] = max(segments[into][2], segments[shortest][2])
        del segments[shortest]
        merged = [segments[0]]
        for segment in segments[1:]:  # neighbours that now share a posture become one
            if segment[0] == merged[-1][0]:
                merged[-1][2] = segment[2]
            else:
                merged.append(segment)
        segments = merged
    return [(name, start, stop) for name, start, stop in segments]


def _label_runs(names: np.ndarray) -> list[tuple[int, int]]:
    change = np.nonzero(names[1:] != names[:-1])[0] + 1
    bounds = np.concatenate([[0], change, [len(names)]])
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))
