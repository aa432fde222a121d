"""Geometric measurements of a clip (moscale.motion.measures) on synthetic clips made from one real standing pose
(HumanML3D fixture 012314, frame 0): moved, turned, lowered, lifted."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from moscale.motion import measures
from moscale.motion import rotations as rot

FPS = 20
REAL = np.load(Path(__file__).parent / "fixtures" / "humanml3d" / "new_joints" / "012314.npy").astype(np.float64)
POSE = REAL[0] - REAL[0, 0] * np.array([1.0, 0.0, 1.0])  # standing, pelvis above the origin, facing +Z
HIP, KNEE = {"left": 1, "right": 2}, {"left": 4, "right": 5}
ANKLE, TOE = {"left": 7, "right": 8}, {"left": 10, "right": 11}


def place(pose: np.ndarray, yaw_deg: np.ndarray, position_xz: np.ndarray) -> np.ndarray:
    """(T, 22, 3): the pose turned by yaw (about +Y through the pelvis; + turns it to its left) and moved."""
    poses = np.broadcast_to(pose, (len(yaw_deg),) + pose.shape)
    turned = rot.rotate(rot.y_rotation(np.radians(yaw_deg))[:, None], poses)
    return turned + np.stack([position_xz[:, 0], np.zeros(len(yaw_deg)), position_xz[:, 1]], -1)[:, None]


def still(frames: int = 80, pose: np.ndarray = POSE) -> np.ndarray:
    return place(pose, np.zeros(frames), np.zeros((frames, 2)))


def straight(speed: float, frames: int = 100, direction_deg: float = 0.0, yaw_deg: float = 0.0) -> np.ndarray:
    """Gliding at ``speed`` m/s towards ``direction_deg`` relative to the facing (0 forward, +90 left)."""
    heading = np.radians(yaw_deg + direction_deg)
    distance = speed * np.arange(frames) / FPS
    return place(POSE, np.full(frames, yaw_deg), distance[:, None] * [np.sin(heading), np.cos(heading)])


def turning(total_deg: float, frames: int = 100, speed: float = 1.0) -> np.ndarray:
    """Walking forward along the heading while it turns steadily by ``total_deg``."""
    yaw = np.linspace(0.0, total_deg, frames)
    step = speed / FPS * np.stack([np.sin(np.radians(yaw)), np.cos(np.radians(yaw))], -1)
    return place(POSE, yaw, np.cumsum(step, axis=0) - step[0])


def _knee(hip: np.ndarray, ankle: np.ndarray, thigh: float, shin: float) -> np.ndarray:
    """The knee of a leg from hip to ankle, bent forward (+Z)."""
    reach = np.linalg.norm(ankle - hip)
    along = (thigh ** 2 - shin ** 2 + reach ** 2) / (2 * reach)
    out = np.sqrt(max(thigh ** 2 - along ** 2, 0.0))
    axis = (ankle - hip) / reach
    forward = np.array([0.0, 0.0, 1.0]) - axis * axis[2]
    return hip + along * axis + out * forward / np.linalg.norm(forward)


def lowered(pelvis_m: float, feet_forward_m: float) -> np.ndarray:
    """The standing pose with the pelvis at ``pelvis_m`` and the ankles (on the floor) ``feet_forward_m`` ahead:
    a squat under 0.2, a seat beyond."""
    pose = POSE.copy()
    legs = {side: (np.linalg.norm(POSE[KNEE[side]] - POSE[HIP[side]]),
                   np.linalg.norm(POSE[ANKLE[side]] - POSE[KNEE[side]])) for side in HIP}
    upper = [j for j in range(22) if j not in (4, 5, 7, 8, 10, 11)]
    pose[upper] -= [0.0, POSE[0, 1] - pelvis_m, 0.0]
    for side in HIP:
        ankle = np.array([pose[HIP[side], 0], POSE[ANKLE[side], 1], feet_forward_m])
        pose[ANKLE[side]], pose[TOE[side]] = ankle, ankle + [0.0, -0.05, 0.13]
        pose[KNEE[side]] = _knee(pose[HIP[side]], ankle, *legs[side])
    return pose


def kneeling() -> np.ndarray:
    """Upright on both knees (0.05 m up), shins flat on the floor behind."""
    pose = POSE.copy()
    thigh = np.linalg.norm(POSE[4] - POSE[1])
    shin = np.linalg.norm(POSE[7] - POSE[4])
    pose[[j for j in range(22) if j not in (4, 5, 7, 8, 10, 11)]] -= [0.0, POSE[1, 1] - (0.05 + thigh), 0.0]
    for side in HIP:
        knee = np.array([pose[HIP[side], 0], 0.05, pose[HIP[side], 2]])
        pose[KNEE[side]], pose[ANKLE[side]] = knee, knee + [0.0, 0.0, -shin]
        pose[TOE[side]] = knee + [0.0, -0.03, -shin - 0.1]
    return pose


def lying() -> np.ndarray:
    """On the back, head towards -Z."""
    pose = rot.rotate(rot.from_axis_angle(np.array([-np.pi / 2, 0.0, 0.0])), POSE)
    return pose - [0.0, pose[:, 1].min(), 0.0]


def blend(*parts: tuple[np.ndarray, int], transition: int = 20) -> np.ndarray:
    """Hold each pose for its frames, with linear transitions in between."""
    frames = []
    for index, (pose, count) in enumerate(parts):
        if index:
            previous = parts[index - 1][0]
            frames += [previous + (pose - previous) * (k + 1) / (transition + 1) for k in range(transition)]
        frames += [pose] * count
    return np.stack(frames)


def jumping(flight_s: float = 0.5, frames: int = 60, start: int = 20) -> np.ndarray:
    joints = still(frames)
    t = np.arange(frames) / FPS - start / FPS
    height = np.where((t > 0) & (t < flight_s), 0.5 * 9.81 * t * (flight_s - t), 0.0)
    return joints + height[:, None, None] * [0.0, 1.0, 0.0]


def right_hand_up(frames: int = 80, start: int = 20, stop: int = 50) -> np.ndarray:
    joints = still(frames)
    shoulder = joints[start:stop, 17]
    joints[start:stop, 19], joints[start:stop, 21] = shoulder + [0, 0.26, 0], shoulder + [0, 0.53, 0]
    return joints


def hopping(foot: str = "right", frames: int = 80) -> np.ndarray:
    """Hops on ``foot`` (0.3 s flights every 0.5 s) with the other foot held 0.2 m up."""
    joints = still(frames)
    free = "left" if foot == "right" else "right"
    joints[:, [ANKLE[free], TOE[free]]] += [0.0, 0.2, -0.1]
    t = (np.arange(frames) / FPS) % 0.5
    height = np.where(t < 0.3, 0.5 * 9.81 * t * (0.3 - t), 0.0)
    return joints + height[:, None, None] * [0.0, 1.0, 0.0]


def test_heading_sign_a_left_turn_is_positive():
    assert measures.heading_deg(still(), FPS) == pytest.approx(0.0, abs=1e-3)
    faces_x = place(POSE, np.full(10, 90.0), np.zeros((10, 2)))  # +90 about +Y: facing +X, the body's left
    assert measures.heading_deg(faces_x, FPS) == pytest.approx(90.0, abs=1e-3)
    left, right = measures.turning(turning(90.0), FPS), measures.turning(turning(-90.0), FPS)
    assert left.net_deg == pytest.approx(90.0, abs=3) and measures.turn_side(left) == "left"
    assert right.net_deg == pytest.approx(-90.0, abs=3) and measures.turn_side(right) == "right"
    assert measures.turn_side(measures.turning(turning(10.0), FPS)) is None


def test_heading_unwraps_past_a_full_turn():
    spin = place(POSE, np.linspace(0.0, 720.0, 120), np.zeros((120, 2)))
    turn = measures.turning(spin, FPS)
    assert turn.net_deg == pytest.approx(720.0, abs=5) and turn.total_deg == pytest.approx(720.0, abs=5)


def test_speed_and_path():
    for speed in (0.6, 1.3, 3.0):
        moved = measures.travel(straight(speed), FPS)
        assert moved.mean_speed_mps == pytest.approx(speed, rel=0.05)
        assert moved.moving_speed_mps == pytest.approx(speed, rel=0.05)
        assert moved.path_m == pytest.approx(speed * 99 / FPS, rel=0.05)
    standing = measures.travel(still(), FPS)
    assert standing.path_m == pytest.approx(0.0, abs=1e-9) and measures.stays_in_place(standing)
    assert not measures.stays_in_place(measures.travel(straight(1.0), FPS))


@pytest.mark.parametrize("direction_deg, yaw_deg, name", [
    (0, 0, "forward"), (180, 0, "backward"), (90, 0, "left"), (-90, 0, "right"), (45, 0, "forward-left"),
    (-40, 0, "forward-right"), (135, 0, "backward-left"), (180, 90, "backward"), (90, -120, "left"),
])
def test_travel_direction_is_relative_to_the_facing(direction_deg, yaw_deg, name):
    moved = measures.travel(straight(1.0, direction_deg=direction_deg, yaw_deg=yaw_deg), FPS)
    assert moved.direction_deg == pytest.approx(direction_deg if abs(direction_deg) < 180 else 180.0, abs=2) or \
        abs(moved.direction_deg) == pytest.approx(180.0, abs=2)
    assert measures.direction_name(moved) == name
    assert measures.direction_name(measures.travel(straight(0.05), FPS)) is None  # too short to have a direction


def test_a_turn_while_walking_still_travels_forward():
    moved = measures.travel(turning(90.0), FPS)
    assert measures.direction_name(moved) == "forward" and moved.forward_m > 4.5


def test_circle_and_spin():
    circle_left = turning(360.0, frames=240, speed=1.2)  # radius ~1.9 m
    turn, moved = measures.turning(circle_left, FPS), measures.travel(circle_left, FPS)
    assert measures.is_circle(turn, moved) and not measures.is_spin(turn, moved) and turn.net_deg > 0
    right = turning(-360.0, frames=240, speed=1.2)
    assert measures.is_circle(measures.turning(right, FPS), measures.travel(right, FPS))
    assert measures.turning(right, FPS).net_deg < 0
    spin = place(POSE, np.linspace(0.0, -360.0, 60), np.zeros((60, 2)))
    turn, moved = measures.turning(spin, FPS), measures.travel(spin, FPS)
    assert measures.is_spin(turn, moved) and not measures.is_circle(turn, moved) and turn.net_deg < -350
    walk = turning(90.0)  # a quarter turn is neither
    assert not measures.is_circle(measures.turning(walk, FPS), measures.travel(walk, FPS))
    assert not measures.is_spin(measures.turning(walk, FPS), measures.travel(walk, FPS))


def test_gait_and_pace_by_speed():
    speeds = (0.7, 1.2, 1.8, 2.4, 3.0, 4.0)
    names = {speed: measures.gait(measures.travel(straight(speed), FPS), 0.0) for speed in speeds}
    assert names == {0.7: "walk", 1.2: "walk", 1.8: "walk", 2.4: "jog", 3.0: "run", 4.0: "sprint"}
    assert measures.gait(measures.travel(straight(1.8), FPS), 2.8) == "jog"  # a running cadence decides the band
    assert measures.gait(measures.travel(still(), FPS), 0.0) == "still"
    paces = [measures.walk_pace(measures.travel(straight(speed), FPS)) for speed in (0.7, 1.2, 1.8)]
    assert paces == ["slow", "normal", "fast"]


def test_standard_scale_undoes_body_size():
    assert measures.standard_scale(still()) == pytest.approx(1.0, abs=0.02)
    assert measures.standard_scale(still() * 1.25) == pytest.approx(measures.standard_scale(still()) / 1.25)


@pytest.mark.parametrize("pose, name", [
    (POSE, "standing"), (lowered(0.45, 0.45), "sitting"), (lowered(0.55, 0.08), "crouching"),
    (kneeling(), "kneeling"), (lying(), "lying"),
])
def test_postures(pose, name):
    clip = still(40, pose)
    assert measures.heights(clip)[:, 0] == pytest.approx(pose[0, 1] - pose[:, 1].min(), abs=0.03)
    assert set(measures.posture_frames(clip, FPS)) == {name}
    assert measures.posture_segments(clip, FPS) == [(name, 0, 40)]


def test_posture_changes_sit_down_and_get_up():
    sits = blend((POSE, 30), (lowered(0.45, 0.45), 40), (POSE, 30))
    assert [name for name, _, _ in measures.posture_segments(sits, FPS)] == ["standing", "sitting", "standing"]
    gets_up = blend((lying(), 30), (POSE, 30))
    segments = measures.posture_segments(gets_up, FPS)
    assert segments[0][0] == "lying" and segments[-1][0] == "standing"
    assert segments[0][1] == 0 and segments[-1][2] == len(gets_up)


def test_a_short_dip_is_merged_away():
    dip = blend((POSE, 40), (lowered(0.55, 0.08), 4), (POSE, 40), transition=3)
    assert [name for name, _, _ in measures.posture_segments(dip, FPS)] == ["standing"]


def test_jump_both_feet_off_and_ballistic():
    joints = jumping()
    flights = measures.jumps(joints, FPS)
    assert measures.airborne(joints)[25] and not measures.airborne(joints)[10]
    assert len(flights) == 1 and 20 <= flights[0][0] <= 22 and 29 <= flights[0][1] <= 31  # 0.5 s from frame 20
    assert measures.jumps(jumping(flight_s=0.2), FPS) == []  # a run's flight is too short
    lifted = still(60)
    lifted[20:40] += [0.0, 0.3, 0.0]  # carried up (a step, a seat): the pelvis does not fall
    assert measures.jumps(lifted, FPS) == []
    assert measures.jumps(still(), FPS) == []


def test_hop_on_one_leg():
    assert measures.hop_side(hopping("right"), FPS) == "right"
    assert measures.hop_side(hopping("left"), FPS) == "left"
    assert measures.hop_side(jumping(), FPS) is None and measures.hop_side(still(), FPS) is None


def test_raised_right_hand():
    joints = right_hand_up()
    assert measures.raised_hands(joints, FPS) == {"left": None, "right": "overhead"}
    above_shoulder, above_head = measures.wrist_heights(joints, "right")
    assert above_shoulder[30] == pytest.approx(0.53, abs=0.02) and above_head[30] > measures.OVERHEAD_M
    assert measures.raised_hands(right_hand_up(stop=24), FPS)["right"] is None  # 0.2 s is too short
    assert measures.raised_seconds(joints, FPS, "right") == (1.5, 1.5)
    assert measures.raised_seconds(joints, FPS, "left") == (0.0, 0.0)
    assert measures.raised_hands(still(), FPS) == {"left": None, "right": None}


def test_steps_count_foot_lifts():
    joints = still(60)
    for start in (10, 30):
        joints[start:start + 5, [ANKLE["left"], TOE["left"]]] += [0.0, 0.1, 0.05]
    assert measures.steps(joints, FPS) == 2 and measures.steps(still(), FPS) == 0


def test_measures_reject_bad_shapes():
    with pytest.raises(ValueError):
        measures.travel(np.zeros((1, 22, 3)), FPS)
    with pytest.raises(ValueError):
        measures.travel(np.zeros((10, 24, 3)), FPS)
