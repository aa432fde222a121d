"""Control beyond words: a drawn path, keyed poses, loops and in-place cycles (moscale.pipeline.control), on the
bundled model (a real walk) and on synthetic clips for the geometry."""
import json

import numpy as np
import pytest

from moscale.cli import main
from moscale.motion.clip import Motion
from moscale.motion.cycles import cycle_offset, in_place, in_place_radius, loop_seam, repeated
from moscale.motion.keyposes import key_errors, key_jumps, key_velocity_changes, warp_to_poses
from moscale.motion import feet
from moscale.motion.paths import ROUND_MAX_M, TURN_ACCEL, GroundPath, carry, follow_path, path_stats
from moscale.motion.splice import rotate_y
from moscale.pipeline import MoScalePipeline, control
from moscale.utils.paths import ASSETS

FPS = 20


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def pipe():
    return MoScalePipeline.from_pretrained(ASSETS / "model", device="cpu")


def s_path(length=10.0):
    t = np.linspace(0, 1, 200)
    return GroundPath.from_points(np.stack([1.2 * np.sin(2 * np.pi * t), length * t], axis=-1))


def synthetic_walk(frames=120, speed=1.3, direction=0.0, facing=0.0):
    """A T-pose-like body travelling `direction` (radians, 0 = +Z) at `speed` m/s with a 1 Hz sway, facing `facing`."""
    rng = np.random.default_rng(0)
    body = rng.normal(scale=0.2, size=(22, 3)) * [1, 0, 1]
    body[:, 1] = np.linspace(0.05, 1.6, 22)
    body[0] = [0, 0.9, 0]
    body[[1, 2, 13, 14, 16, 17]] = [[0.1, 0.85, 0], [-0.1, 0.85, 0], [0.1, 1.4, 0], [-0.1, 1.4, 0], [0.2, 1.4, 0],
                                    [-0.2, 1.4, 0]]  # hips and shoulders: left is +X when facing +Z
    t = np.arange(frames) / FPS
    travel = speed * t[:, None] * np.array([np.sin(direction), 0, np.cos(direction)])
    sway = 0.03 * np.sin(2 * np.pi * t)[:, None] * np.array([np.cos(direction), 0, -np.sin(direction)])
    return rotate_y(np.broadcast_to(body, (frames, 22, 3)), facing) + (travel + sway)[:, None]


# --- geometry on synthetic clips


@pytest.mark.parametrize("points, message", [
    ([[0, 0]], "at least"), ([[0, 0], [0, 0.05]], "at least"), ([[0, 0], [np.nan, 1]], "finite"),
    ([[0, 0, 0], [1, 1, 1]], "pairs"), ("nonsense", "pairs"),
])
def test_bad_paths_are_refused_with_a_reason(points, message):
    with pytest.raises(ValueError, match=message):
        GroundPath.from_points(points)


def test_path_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: not a JSON path file"):
        GroundPath.load(bad)
    bad.write_text('{"pts": []}')
    with pytest.raises(ValueError, match='expected {"points"'):
        GroundPath.load(bad)
    with pytest.raises(FileNotFoundError, match="no such path file"):
        GroundPath.load(tmp_path / "missing.json")


@pytest.mark.parametrize("facing_offset", [0.0, np.pi, np.pi / 2])
def test_follow_path_keeps_the_facing_relative_to_travel(facing_offset):
    walk = synthetic_walk(160, direction=0.0, facing=facing_offset)  # forwards, backwards, sideways
    corner = GroundPath.from_points([[0, 0], [0, 3], [3, 3]])
    carried = follow_path(walk, corner, FPS)
    stats = path_stats(carried, corner, FPS, offset_deg=np.degrees(facing_offset))
    assert stats["mean_m"] < 0.05 and stats["max_m"] < 0.15, stats
    assert stats["heading_error_deg"] < 15, stats
    assert np.allclose(carried[0, 0, [0, 2]], [0, 0], atol=0.04) and stats["end_m"] < 0.05
    assert np.allclose(carried[..., 1], walk[..., 1])  # heights untouched


@pytest.mark.parametrize("points", [[[0, 0], [0, 5], [5, 5]], [[0, 0], [0, 1], [1, 1], [1, 2], [2, 2]],
                                    [[0, 0], [0, 5], [0.3, 0]], [[0, 0], [0, 0.15]]])
def test_rounded_path_stays_near_the_drawn_one_and_keeps_its_ends(points):
    path = GroundPath.from_points(points)
    rounded = path.rounded()
    distance, _ = path.project(rounded.points)
    assert distance.max() <= ROUND_MAX_M + 1e-3  # a 90-degree corner is cut by 10 cm, not more
    assert np.allclose(rounded.points[[0, -1]], path.points[[0, -1]], atol=1e-9)
    straight = GroundPath.from_points([[0, 0], [2, 3]])
    assert np.allclose(straight.project(straight.rounded().points)[0], 0, atol=1e-9)


@pytest.mark.parametrize("speed", [1.3, 3.8])
def test_a_sharp_corner_is_rounded_and_a_run_slows_into_it(speed):
    """Carried round a 90-degree corner, the pelvis turns on a curve (the release's warp turned it on the corner point:
    19.7 m/s^2 for a walk, 107 for a run at 3.8 m/s); a run slows into it, a walk keeps its pace."""
    walk = synthetic_walk(int(12 / speed * FPS), speed=speed)
    corner = GroundPath.from_points([[0, 0], [0, 5], [5, 5]])
    carried = carry(walk, corner, FPS, cut=True)
    pelvis = carried.joints[:, 0, [0, 2]]
    assert np.linalg.norm(np.diff(pelvis, n=2, axis=0), axis=1).max() * FPS**2 <= 1.5 * TURN_ACCEL
    stats = path_stats(carried.joints, corner, FPS)
    assert stats["mean_m"] <= 0.05 and stats["max_m"] <= 0.15 and stats["heading_error_deg"] <= 15, stats
    own_frames = corner.rounded().length_m / speed * FPS  # at the take's own pace all the way
    if speed < 1.4:
        assert abs(len(carried.joints) - own_frames) <= 2 and carried.stretch == pytest.approx(1.0, abs=0.03)
    else:
        assert len(carried.joints) >= own_frames + 4 and carried.stretch < 0.95


def test_follow_path_refuses_a_motion_that_stays_put():
    still = synthetic_walk(80, speed=0.0)
    with pytest.raises(ValueError, match="too little to follow a path"):
        follow_path(still, s_path(), FPS)


def test_in_place_keeps_the_pelvis_over_its_start_and_the_pose():
    walk = synthetic_walk(200, speed=1.4, direction=0.7)
    still = in_place(walk, FPS)
    assert in_place_radius(walk) > 5 and in_place_radius(still) < 0.1
    relative = lambda j: j - j[:, :1]  # noqa: E731
    assert np.allclose(relative(still), relative(walk))


def test_a_periodic_clip_loops_without_a_seam_and_in_place_keeps_it():
    walk = synthetic_walk(41)[:40]  # exactly two sway periods: frame 40 would be frame 0 moved by the travel
    offset = cycle_offset(walk)
    assert np.allclose(offset, [0, 1.3 * 40 / FPS], atol=2e-3)  # the last step extrapolated (sway: 1 mm)
    offset = np.array([0, 1.3 * 40 / FPS])
    seam = loop_seam(walk, offset)  # the seam is one more ordinary step
    assert seam["seam_jump_m"] <= seam["max_step_m"] + 1e-9
    still = in_place(walk, FPS, loop_offset=offset)
    seam = loop_seam(still, np.zeros(2))
    assert in_place_radius(still) < 0.1 and seam["seam_jump_m"] <= seam["max_step_m"] + 1e-9
    broken = walk.copy()
    broken[-1] += 0.2  # a seam that jumps is caught
    assert loop_seam(broken, offset)["seam_jump_m"] > 0.15
    assert np.allclose(repeated(walk, offset)[40], walk[0] + [offset[0], 0, offset[1]])


def test_warp_to_poses_hits_every_key_and_bends_smoothly():
    walk = synthetic_walk(100)
    keys = {10: synthetic_walk(1, facing=1.0)[0] + [2, 0, 1], 40: walk[45] + [0.5, 0, 0], 70: walk[30] + [0.3, 0.1, 0]}
    bent = warp_to_poses(walk, keys)
    assert max(key_errors(bent, keys)) < 1e-9  # the middle key's own frame too (it once kept the take's pose)
    moves = np.linalg.norm(np.diff(bent, axis=0), axis=-1).max(axis=-1)
    assert moves.max() < 0.5  # spread out, no frame-to-frame snap onto a key 2.2 m away
    # with root_reach each key moves the body only near it: the rest of the take stays where it was
    local = warp_to_poses(walk, {40: walk[40] + [0.3, 0, 0]}, root_reach=20)
    assert max(key_errors(local, {40: walk[40] + [0.3, 0, 0]})) < 1e-9
    assert np.array_equal(local[:20], walk[:20]) and np.allclose(local[61:], walk[61:])


@pytest.mark.parametrize("side", [1, -1])
def test_a_walk_carried_round_a_circle_stays_on_it_and_keeps_its_feet_planted(side):
    """The corpus's circle walks (moscale.data.corpus): a straight 12 s walk at 1.3 m/s round a 1.5 m circle walks
    its 15.6 m there (1.66 laps, turning the way asked), the pelvis on the circle, the feet pinned where planted."""
    from moscale.motion.measures import turning
    from moscale.motion.paths import round_a_circle

    walk = synthetic_walk(frames=240)
    t = np.arange(240) / FPS
    for foot, (ankle, toe, x, lead) in enumerate(((7, 10, 0.1, 0.0), (8, 11, -0.1, 0.5))):  # 1 s strides, 0.6 s down
        cycle, phase = np.divmod(t + lead, 1.0)
        swing = np.clip((phase - 0.6) / 0.4, 0, 1)
        z = 1.3 * (cycle + swing * swing * (3 - 2 * swing)) - 0.65 * (1 - lead)
        lift = 0.1 * np.sin(np.pi * swing)
        walk[:, ankle] = np.stack([x + 0 * t, 0.08 + lift, z], -1)
        walk[:, toe] = np.stack([x + 0 * t, 0.02 + lift, z + 0.12], -1)
    circled = round_a_circle(walk, FPS, 1.5, side)
    centre = np.array([side * 1.5, 0.0])
    radius = np.linalg.norm(circled[:, 0, [0, 2]] - centre, axis=1)
    assert np.abs(radius - 1.5).max() < 0.1, radius
    turn = turning(circled, FPS).net_deg
    assert np.sign(turn) == side and abs(abs(turn) - np.degrees(15.6 / 1.5)) < 30, turn
    upper = [0, 3, 6, 9, 12, 15] + list(range(16, 22))  # the legs are pinned: the rest keeps its heights
    np.testing.assert_allclose(circled[:, upper, 1], walk[:, upper, 1], atol=1e-9)
    contacts = feet.contacts_from_joints(walk, FPS) & feet.near_floor(circled)
    toes = circled[:, list(feet.CONTACT_JOINTS)][:, 1::2][..., [0, 2]]
    held = contacts[:-1, 1::2] & contacts[1:, 1::2]
    assert held.sum() > 100  # both feet planted for most of each stride
    assert np.linalg.norm(np.diff(toes, axis=0), axis=-1)[held].max() < 0.01  # the lock eases in: < 1 cm a frame


def test_a_key_that_pops_out_of_the_motion_changes_its_speed_more_than_elsewhere():
    walk = synthetic_walk(frames=120)
    smooth_change, p95 = key_velocity_changes(walk, {60: walk[60]})
    assert smooth_change <= p95 + 1e-9  # a key on the motion: as steady as the rest
    popped = walk.copy()
    popped[60, 20] += [0.0, 0.05, 0.0]  # the left wrist 5 cm off the motion at the key
    change, p95 = key_velocity_changes(popped, {60: popped[60]})
    assert change == pytest.approx(0.10, abs=0.01) and change > 5 * p95  # into the pop and out again


def test_carry_through_anchors_and_back():
    """Anchors put frames at distances along the path (the keys' places); `unbend` takes a pose placed on the path
    back into the motion's own frame, the carry's inverse at that frame."""
    walk = synthetic_walk(200, speed=1.3)
    corner = GroundPath.from_points([[0, 0], [0, 5], [5, 5]])
    carried = carry(walk, corner, FPS, anchors={60: 2.0, 120: 6.5})
    assert carried.along_T[60] == pytest.approx(2.0, abs=0.02) and carried.along_T[120] == pytest.approx(6.5, abs=0.02)
    assert np.all(np.diff(carried.along_T) >= -1e-9) and carried.along_T[-1] == pytest.approx(corner.rounded().length_m)
    assert np.allclose(carried.unbend(carried.joints[90], 90), walk[90], atol=1e-9)
    cut = carry(walk, corner, FPS, cut=True, anchors={50: 3.0})  # cut where it reaches the end, after the key
    assert 50 < len(cut.joints) < 200 and cut.along_T[50] == pytest.approx(3.0, abs=0.02)


def test_a_plant_through_a_held_frame_is_pinned_where_the_frame_has_the_foot():
    """Keyed frames are kept bit for bit by the foot lock, and a plant holding one is pinned where the key puts the
    foot (pinning it at the plant's average left the foot sliding into the key)."""
    walk = synthetic_walk(40, speed=0.0)
    walk[:, 10, 1] = walk[:, 11, 1] = 0.02  # toes on the floor
    walk[:, [7, 10], 2] += np.linspace(0, 0.2, 40)[:, None]  # the left foot slides 20 cm through one long contact
    contacts = np.ones((40, 4), dtype=bool)
    held = np.zeros(40, dtype=bool)
    held[20] = True
    pinned = feet.lock_feet(walk, contacts, held_T=held)
    assert np.array_equal(pinned[20], walk[20].astype(np.float32))
    toe = pinned[:, 10, [0, 2]]
    assert np.abs(toe - walk[20, 10, [0, 2]]).max() < 1e-3  # held where frame 20 has it, all through the plant


# --- the bundled model


def test_generate_along_a_path_follows_it_and_takes_its_length_from_the_pace(pipe):
    path = s_path()
    motion = pipe.generate("a person walks forward", path=path, seed=1)
    stats = path_stats(motion.joints, path, FPS)
    assert stats["mean_m"] <= 0.05 and stats["max_m"] <= 0.15 and stats["heading_error_deg"] <= 15, stats
    # without a length, the take is walked at the motion's own pace: its travel covers the path, not stretched onto it
    assert motion.metadata["path_stretch"] == pytest.approx(1.0, abs=0.05)
    assert motion.metadata["path_length_m"] == pytest.approx(path.length_m, abs=1e-3)
    assert 0.7 < path.length_m / (motion.num_frames / FPS) < 1.6  # a walking pace, m/s
    quick = pipe.generate("a person runs forward", path=path, seed=1)
    assert quick.num_frames < motion.num_frames * 0.6


@pytest.mark.parametrize("prompt, seed", [("a person walks forward", 0), ("a person runs forward", 1)])
def test_a_corner_adds_no_jerk_to_the_take(pipe, prompt, seed):
    """Round a 90-degree corner, the take is as smooth as the same take without the path (the longer take it is cut
    from, cut at the same frame). The release's warp, which turned the body on the corner point: +10 % on this walk,
    +30 % on this run (docs/control.md)."""
    corner = GroundPath.from_points([[0, 0], [0, 5], [5, 5]])
    motion = pipe.generate(prompt, path=corner, seed=seed)
    stats = path_stats(motion.joints, corner, FPS)
    assert stats["mean_m"] <= 0.05 and stats["max_m"] <= 0.15 and stats["heading_error_deg"] <= 15, stats
    long_frames = control.path_frames(pipe, corner, prompt, control.PATH_SLACK, control.PATH_ENDING_S)
    same = pipe.generate(prompt, frames=long_frames, seed=seed)
    jerk = lambda joints: feet.foot_stats(joints, feet.contacts_from_joints(joints)).jerk  # noqa: E731
    assert jerk(motion.joints) <= 1.06 * jerk(same.joints[: motion.num_frames])


def test_keyed_poses_are_hit_exactly_and_frames_between_are_generated(pipe):
    other = pipe.generate("a person walks forward", seconds=4, seed=5)
    keys = {0: other.joints[0], 40: other.joints[30] + np.float32([0.5, 0, 0.2]), 79: other.joints[70]}
    keyed = pipe.generate("a person walks forward", seconds=4, poses=keys, seed=2)
    for frame, pose in keys.items():
        assert np.array_equal(keyed.joints[frame], pose)  # bit for bit, as keyed
    assert keyed.metadata["keyed_frames"] == [0, 40, 79]
    moves = np.linalg.norm(np.diff(keyed.joints.astype(float), axis=0), axis=-1).max(axis=-1)
    assert moves.max() < 0.3  # no snap into or out of a key
    with pytest.raises(ValueError, match="outside the take"):
        pipe.generate("a person walks forward", seconds=4, poses={80: other.joints[0]})
    with pytest.raises(ValueError, match="shape"):
        pipe.generate("a person walks forward", seconds=4, poses={3: np.zeros((21, 3))})


def test_a_path_with_keyed_poses_passes_through_them_on_the_path(pipe):
    """Keys taken from another walk along the same S path (world space, on the path): the take hits them bit for bit
    at their frames and follows the path in between, with no pop at a key."""
    path = s_path()
    other = pipe.generate("a person walks forward", path=path, seed=100)
    n = other.num_frames
    keys = {n // 3: other.joints[n // 3], 2 * n // 3: other.joints[2 * n // 3]}
    motion = pipe.generate("a person walks forward", path=path, poses=keys, seed=0)
    for frame, pose in keys.items():
        assert np.array_equal(motion.joints[frame], pose)
    assert motion.metadata["keyed_frames"] == sorted(keys) and motion.metadata["path_length_m"] > 10
    stats = path_stats(motion.joints, path, FPS)
    assert stats["mean_m"] <= 0.05 and stats["max_m"] <= 0.15 and stats["end_m"] <= 0.1, stats
    near, median = key_jumps(motion.joints, keys)
    plain_near, _ = key_jumps(pipe.generate("a person walks forward", path=path, seed=0).joints, keys)
    assert near <= max(plain_near, 2 * median), (near, plain_near, median)


def test_a_key_near_the_paths_end_still_leaves_the_take_its_ending_to_cut(pipe):
    """The last key 5 frames before another walk reaches the corner path's end: the take is made long enough to go on
    from the key to the end with the same slack and the same ending second as a path without keys, so it is cut
    before its own ending and stops on the path's end."""
    corner = GroundPath.from_points([[0, 0], [0, 5], [5, 5]])
    prompt = "a person walks forward"
    other = pipe.generate(prompt, path=corner, seed=100)
    last = other.num_frames - 5
    keys = {last: other.joints[last]}
    anchors = control.key_anchors(corner, keys)
    frames = control.path_frames(pipe, corner, prompt, control.PATH_SLACK, control.PATH_ENDING_S, anchors)
    rest = (corner.rounded().length_m - anchors[last]) / control.prompt_pace(prompt)
    assert frames >= last + 1 + (rest * control.PATH_SLACK + control.PATH_ENDING_S) * FPS
    assert frames >= control.path_frames(pipe, corner, prompt, control.PATH_SLACK, control.PATH_ENDING_S)
    motion = pipe.generate(prompt, path=corner, poses=keys, seed=0)
    assert np.array_equal(motion.joints[last], keys[last])
    stats = path_stats(motion.joints, corner, FPS)
    assert stats["max_m"] <= 0.15 and stats["end_m"] <= 0.1, stats


def test_keyed_poses_that_disagree_with_the_path_are_refused(pipe):
    path = s_path()
    walk = pipe.generate("a person walks forward", path=path, seed=100).joints
    far = r"keyed pose at frame 30: its pelvis is 0\.[89]\d m from the path \(at most 0\.5 m\)"
    with pytest.raises(ValueError, match=far):
        pipe.generate("a person walks forward", path=path, poses={30: walk[30] + np.float32([1.0, 0, 0])})
    with pytest.raises(ValueError, match="keyed poses at frames 30 and 90 go back along the path"):
        pipe.generate("a person walks forward", path=path, poses={30: walk[120], 90: walk[40]})


def test_a_loop_returns_to_the_pose_keyed_on_its_first_frame(pipe):
    other = pipe.generate("a person walks forward", seconds=3, seed=7)
    keys = {0: (rotate_y(other.joints[30], 1.2) + [1.0, 0.0, 0.5]).astype(np.float32)}  # turned, moved aside
    for seed in (0, 1):
        cycle = pipe.generate("a person walks forward", seconds=3, loop=True, poses=keys, seed=seed)
        assert np.array_equal(cycle.joints[0], keys[0])
        seam = loop_seam(cycle.joints, np.array(cycle.metadata["cycle_offset"]))  # the last frame into the key again
        assert seam["seam_jump_m"] <= seam["median_step_m"], seam


def test_loop_flows_from_the_last_frame_into_the_first(pipe):
    for in_place_too in (False, True):
        cycle = pipe.generate("a person walks forward", seconds=4, loop=True, in_place=in_place_too, seed=0)
        seam = loop_seam(cycle.joints, np.array(cycle.metadata["cycle_offset"]))
        assert seam["seam_jump_m"] <= seam["median_step_m"], seam
        assert seam["seam_velocity_change_m"] <= seam["p95_velocity_change_m"], seam
        if in_place_too:
            assert in_place_radius(cycle.joints) <= 0.1
            assert cycle.metadata["cycle_offset"] == [0.0, 0.0]


def test_a_waving_loop_changes_speed_at_the_seam_no_more_than_elsewhere(pipe):
    """The waving hand crossing the seam: with the take's end cross-faded over an edit's 8 frames it changed speed by
    6.0 cm/frame there against 4.3 at the take's ordinary 95th percentile; over half the seam, 2.4 against 2.9."""
    cycle = pipe.generate("a person waves with both hands", seconds=3, loop=True, seed=0)
    seam = loop_seam(cycle.joints, np.array(cycle.metadata["cycle_offset"]))
    assert seam["seam_velocity_change_m"] <= seam["p95_velocity_change_m"], seam
    assert seam["seam_jump_m"] <= seam["median_step_m"], seam


def test_controls_that_contradict_each_other_are_refused(pipe):
    with pytest.raises(ValueError, match="a path cannot be combined with loop"):
        pipe.generate("a person walks", path=s_path(), loop=True)
    with pytest.raises(ValueError, match="a path cannot be combined with in place"):
        pipe.generate("a person walks", path=s_path(), poses={0: np.zeros((22, 3))}, in_place=True)
    with pytest.raises(ValueError, match="in place"):
        pipe.generate("a person walks", seconds=2, poses={0: np.zeros((22, 3))}, in_place=True)


def test_cli_path_pose_and_loop(tmp_path, capsys):
    path_file = tmp_path / "path.json"
    path_file.write_text(json.dumps({"points": [[0, 0], [0, 4], [3, 4]]}))
    out = tmp_path / "walk.npz"
    assert main(["generate", "a person walks forward", "--path", str(path_file), "-o", str(out), "--seed", "1"]) == 0
    walk = Motion.load(out)
    assert path_stats(walk.joints, GroundPath.load(path_file), FPS)["mean_m"] <= 0.05
    keyed = tmp_path / "keyed.npz"
    assert main(["generate", "a person walks forward", "--seconds", "3", "--pose-at", "20", f"{out}@10",
                 "-o", str(keyed), "--seed", "1"]) == 0
    assert np.array_equal(Motion.load(keyed).joints[20], walk.joints[10])
    capsys.readouterr()
    assert main(["generate", "a person walks", "--path", str(path_file), "--loop", "-o", str(keyed)]) == 2
    assert "cannot be combined with loop" in capsys.readouterr().err
    assert main(["generate", "a person walks", "--pose-at", "3", f"{out}@9999", "-o", str(keyed)]) == 2
    assert f"walk.npz has {walk.num_frames} frames (0 to {walk.num_frames - 1})" in capsys.readouterr().err
    # a path and keyed poses together: the key (a frame of the walk along the same path) is passed on the path
    both = tmp_path / "both.npz"
    assert main(["generate", "a person walks forward", "--path", str(path_file), "--pose-at", "40", f"{out}@40",
                 "-o", str(both), "--seed", "2"]) == 0
    along = Motion.load(both)
    assert np.array_equal(along.joints[40], walk.joints[40])
    assert path_stats(along.joints, GroundPath.load(path_file), FPS)["mean_m"] <= 0.05


def test_a_timeline_travels_along_a_path_each_segment_its_part(pipe):
    path = GroundPath.from_points([[0, 0], [0, 4], [4, 4]])
    take = pipe.timeline(["walks forward:3", "runs forward:3"], path=path, seed=3)
    stats = path_stats(take.joints, path, FPS)
    assert stats["mean_m"] <= 0.05 and stats["end_m"] < 0.1, stats
    assert take.metadata["segments"][1]["start"] == 60


def test_sample_seeds_stay_in_range_at_the_largest_seed(pipe):
    first, second = pipe.generate("a person walks forward", seconds=2, loop=True, seed=2**63 - 1, num_samples=2)
    assert (first.metadata["seed"], second.metadata["seed"]) == (2**63 - 1, 0)
