"""benchmarks/following.py: the whole benchmark on a tiny random model (every table printed, every number in range),
the real-clip loader on the fixture BVHs, and the benchmark's own predicates (benchmarks/_prompt_checks.py) on
synthetic clips built from one real pose."""
import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from moscale.motion import measures as ms
from test_feet import still_body

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


@pytest.fixture(scope="module")
def following():
    """benchmarks/following.py as a module; its helpers (_prompt_checks, _real_clips) are imported by name, as when
    it runs as a script, with benchmarks/ on sys.path only while it loads."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location("following_bench", BENCHMARKS / "following.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up while they are made
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


@pytest.fixture(scope="module")
def checks(following):
    return sys.modules["_prompt_checks"]


def test_the_prompt_list_covers_every_category_and_target(following, checks):
    counts = {c: sum(case.category == c for case in following.CASES) for c in following.CATEGORIES}
    assert len(following.CASES) >= 50 and counts["new"] >= 15 and min(counts.values()) >= 8
    assert len({case.prompt for case in following.CASES}) == len(following.CASES)
    for case in following.CASES:  # every check exists; compounds have two parts
        parts = case.check.split("+")
        assert len(parts) == (2 if case.category == "compound" else 1) and set(parts) <= set(checks.CHECKS)
    prompts = {case.prompt for case in following.CASES}
    assert all(pair.slow in prompts and pair.fast in prompts for pair in following.PAIRS)


def test_the_whole_benchmark_runs_on_a_tiny_model(following, tiny_pipes, tmp_path, monkeypatch, capsys,  # noqa: F811
                                                  keep_thread_count):
    """main() end to end (the release loader swapped for the tiny random model): every table and every prompt is
    printed and the JSON holds every run (a random model's numbers mean nothing; that they exist and are finite
    does)."""
    from moscale.pipeline import MoScalePipeline

    monkeypatch.setattr(MoScalePipeline, "from_pretrained", classmethod(lambda cls, *a, **k: tiny_pipes[1]))
    out = tmp_path / "following.json"
    assert following.main(["--seeds", "1", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    for title in ("### trained", "### modifier", "### compound", "### new", "### summary"):
        assert title in printed
    assert all(case.prompt in printed for case in following.CASES)
    assert "walks slowly → a person walks quickly" in printed and "new actions passing on >= 2/3 seeds" in printed
    raw = json.loads(out.read_text())
    runs = [run for case in raw["generated"]["cases"] for run in case["runs"]]
    assert len(runs) == len(following.CASES)
    assert all(np.all(np.isfinite(run["value"])) for run in runs)
    assert all(len(p["ratios"]) == 1 and p["ratios"][0] > 0 for p in raw["generated"]["pairs"])
    assert {row["measure"] for row in raw["summary"]} >= {"modifiers right (% of runs, pairs included)"}
    # A release's prompt-following scores come from such a run (1 seed is refused: it would warn on luck).
    release = tmp_path / "release"
    release.mkdir()
    assert following.main(["--write-release", str(release), "--from-json", str(out)]) == 2
    raw["seeds"] = 3
    for case in raw["generated"]["cases"]:
        case["runs"] = [dict(case["runs"][0]) for _ in range(3)]
    out.write_text(json.dumps(raw))
    assert following.main(["--write-release", str(release), "--from-json", str(out)]) == 0
    from moscale.pipeline.coverage import load_scores

    singles = [case for case in raw["generated"]["cases"] if case["category"] != "compound"]
    scores = load_scores(release)
    assert [score.prompt for score in scores] == [case["prompt"] for case in singles]
    assert [(score.passes, score.tries) for score in scores] == [(3 * bool(case["runs"][0]["pass"]), 3)
                                                                 for case in singles]


def test_real_clips_are_loaded_by_action_and_scored(following, tmp_path):
    """A data folder laid out like /work/data with the fixture BVHs as a Bandai walk and a CMU walk: the walk checks
    get real results, actions without clips stay empty, and the table shows the real column."""
    bandai = tmp_path / "Bandai-Namco-Research-Motiondataset-1" / "data"
    bandai.mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "fixtures" / "bvh" / "src_bandai.bvh", bandai / "dataset-1_walk_normal_001.bvh")
    (tmp_path / "cmu" / "07").mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "fixtures" / "bvh" / "src_cmu_cgspeed.bvh", tmp_path / "cmu" / "07" / "07_01.bvh")
    real = following.score_real(tmp_path, max_clips=4, m2m=None)
    walk = real["cases"]["a person walks forward"]
    assert [r["clip"] for r in walk] == ["dataset-1_walk_normal_001", "07_01"]
    assert real["cases"]["a person does a cartwheel"] == []
    table = following.category_table("trained", None, real)
    assert "| 0/2 |" in next(line for line in table.splitlines() if "walks forward" in line)  # 5 still frames



def test_real_clips_through_the_bundled_tokenizer_keep_a_walk_a_walk(following, tmp_path):
    """--through-tokenizer: each real clip is scored as the tokenizer reconstructs it (one frame fewer: features are
    frame differences), close to the recording (the fixture's 5 frames: 43 mm pelvis-aligned) and judged alike."""
    import torch

    from moscale.model.tokenizer import MotionTokenizer
    from moscale.motion.features import features_to_joints, joints_to_features, preprocess_joints
    from moscale.motion.sources import load_source_clip

    source = tmp_path / "cmu" / "07"
    source.mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "fixtures" / "bvh" / "src_cmu_cgspeed.bvh", source / "07_01.bvh")
    through = following.round_trip(MotionTokenizer.from_pretrained(ROOT / "assets" / "model" / "tokenizer").eval())
    recorded = load_source_clip(source / "07_01.bvh", rig="cmu_cgspeed")[0]
    rebuilt = through(recorded)
    assert rebuilt.shape == (len(recorded) - 1, 22, 3) and np.isfinite(rebuilt).all()
    reference = preprocess_joints(recorded)[1:]
    error = np.linalg.norm((rebuilt - rebuilt[:, :1]) - (reference - reference[:, :1]), axis=-1).mean()
    assert error < 0.08
    seen = []
    real = following.score_real(tmp_path, max_clips=4, m2m=None, through=lambda j: seen.append(len(j)) or through(j))
    walk = real["cases"]["a person walks forward"]
    plain = following.score_real(tmp_path, max_clips=4, m2m=None)["cases"]["a person walks forward"]
    assert [r["clip"] for r in walk] == ["07_01"] and walk[0]["pass"] == plain[0]["pass"]
    assert seen and set(seen) == {len(recorded)}  # every clip loaded went through the tokenizer before its check
    # The probes of where an action is lost: more codes, or no codebook at all. Decoding the tokens is what the
    # tokenizer's own decode gives; each extra pass and the unquantised latents change the clip, staying a walk.
    tokenizer = MotionTokenizer.from_pretrained(ROOT / "assets" / "model" / "tokenizer").eval()
    features = tokenizer.normalize(torch.from_numpy(joints_to_features(preprocess_joints(recorded)))[None].float())
    lengths = torch.tensor([features.shape[1]])
    decoded = tokenizer.denormalize(tokenizer.decode(tokenizer.encode(features, lengths), lengths))[0].numpy()
    np.testing.assert_allclose(rebuilt, features_to_joints(decoded), atol=1e-5)
    for probe in (following.round_trip(tokenizer, extra_passes=2), following.round_trip(tokenizer, "unquantised")):
        other = probe(recorded)
        assert other.shape == rebuilt.shape and 1e-4 < np.abs(other - rebuilt).max() < 0.1
    with pytest.raises(ValueError, match="unquantised"):
        following.round_trip(tokenizer, "raw")

# ----------------------------------------------------------------------------------------------- synthetic clips
FPS = 20


def body(frames: int = 60) -> np.ndarray:
    """A still standing body facing +Z (the real pose turned so its hips point along X)."""
    joints = still_body(frames)
    first = joints[0]
    across = first[ms.RIGHT_HIP] - first[ms.LEFT_HIP] + first[ms.SHOULDERS["right"]] - first[ms.SHOULDERS["left"]]
    yaw = np.arctan2(across[2], -across[0])  # measures.heading_deg of the pose, radians
    return about_y(joints, -yaw, joints[0, ms.PELVIS])


def about_y(points: np.ndarray, angle: float, pivot: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    rotation = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    return (points - pivot) @ rotation.T + pivot


def about_x(points: np.ndarray, angle: float, pivot: np.ndarray) -> np.ndarray:
    """Rotation about the body's left-right axis (X when facing +Z): positive tips +Y towards +Z (forward)."""
    c, s = np.cos(angle), np.sin(angle)
    rotation = np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    return (points - pivot) @ rotation.T + pivot


def test_the_synthetic_body_stands_facing_plus_z():
    joints = body()
    assert ms.heading_deg(joints, FPS)[0] == pytest.approx(0.0, abs=1.0)
    assert set(ms.posture_frames(joints, FPS)) == {"standing"}


def test_arm_stretched_in_front_is_a_punch(checks):
    joints = body()
    shoulder = joints[:, ms.SHOULDERS["right"]]
    scale = ms.standard_scale(joints)
    for ahead_m, drop_m, punched in ((0.45, 0.0, True), (0.2, 0.0, False), (0.45, 0.4, False)):
        clip = joints.copy()
        clip[30:, ms.WRISTS["right"]] = shoulder[30:] + np.array([0.0, -drop_m, ahead_m]) / scale
        done, reach = checks.punches(clip, FPS)
        assert done == punched
        assert reach == pytest.approx(ahead_m if drop_m <= checks.REACH_LEVEL_M else 0.0, abs=0.02)


def test_a_fast_high_leg_swing_is_a_kick_and_a_slow_one_is_not(checks):
    joints = body(80)
    hip = joints[0, ms.RIGHT_HIP]
    leg = [ms.KNEES[1], *ms.FEET["right"]]
    for swing_frames, kicked in ((2, True), (40, False)):
        clip = joints.copy()
        angles = np.clip((np.arange(80) - 30) / swing_frames, 0, 1) * np.radians(80)
        for t, angle in enumerate(angles):
            clip[t, leg] = about_x(joints[t, leg], angle, hip)
        done, speed = checks.kicks(clip, FPS)
        assert done == kicked and (speed > checks.KICK_FOOT_MPS) == kicked


def test_a_bow_tilts_the_torso_forward_in_place(checks):
    joints = body()
    upper = [i for i in range(22) if i not in (0, 1, 2, 4, 5, 7, 8, 10, 11)]  # all above the hips
    pivot = joints[0, ms.PELVIS]
    for degrees, bowed in ((45, True), (10, False)):
        clip = joints.copy()
        angles = np.radians(degrees) * np.clip((np.arange(60) - 15) / 10, 0, 1)  # upright, then bent over
        for t, angle in enumerate(angles):
            clip[t, upper] = about_x(joints[t, upper], angle, pivot)
        done, tilt = checks.bows(clip, FPS)
        assert done == bowed and tilt == pytest.approx(degrees, abs=1)


def test_climbing_needs_the_body_up_for_a_while_a_jump_is_too_short(checks):
    joints = body(80)
    for up_frames, climbed in ((50, True), (6, False)):
        clip = joints.copy()
        clip[20:20 + up_frames, :, 1] += 0.5
        assert checks.climbs(clip, FPS)[0] == climbed


def test_entries_count_cycles_through_both_states(checks):
    on = np.array([0, 1, 1, 0, 0, 1, 0, 1], dtype=bool)
    off = np.array([1, 0, 0, 0, 1, 0, 0, 0], dtype=bool)
    assert checks.entries(on, off) == 2  # the last "on" is not preceded by an "off"
    assert checks.entries(np.ones(5, bool), np.zeros(5, bool)) == 1


def test_standing_still_turning_and_walking_then_standing(following, checks):
    joints = body(80)
    assert checks.still(joints, FPS)[0]
    walked = joints + np.linspace(0, 3, 80)[:, None, None] * np.array([0.0, 0.0, 1.0])  # 3 m forward in 4 s
    assert not checks.still(walked, FPS)[0] and checks.CHECKS["walk"].test(walked, FPS)[0]
    turned = np.stack([about_y(joints[t], -np.radians(90) * min(t / 40, 1), joints[t, 0]) for t in range(80)])
    assert checks.CHECKS["turn_right"].test(turned, FPS)[0] and not checks.CHECKS["turn_left"].test(turned, FPS)[0]
    # a compound is judged half by half: walk, then stand
    then_still = np.concatenate([walked[:40], np.repeat(walked[39:40], 40, axis=0)])
    assert following.judge("walk+still", then_still)["parts"] == [True, True]
    assert following.judge("still+walk", then_still)["parts"] == [False, False]


def test_upside_down_on_the_hands_is_a_cartwheel_not_a_roll(checks):
    joints = body(60)
    for side in ms.SIDES:  # arms straight up
        shoulder = joints[:, ms.SHOULDERS[side]]
        joints[:, ms.WRISTS[side] - 2] = shoulder + [0.0, 0.25, 0.0]  # elbow
        joints[:, ms.WRISTS[side]] = shoulder + [0.0, 0.5, 0.0]
    # frames 20-39 upside down (turned 180 degrees about the forward axis), standing on the hands
    flipped = joints.copy()
    pelvis = joints[0, ms.PELVIS]
    flipped[20:40] = (joints[20:40] - pelvis) * [-1.0, -1.0, 1.0] + pelvis
    flipped[20:40, :, 1] -= flipped[20:40, :, 1].min() - joints[..., 1].min()
    assert checks.inverted(flipped)[20:40].all() and not checks.inverted(flipped)[:20].any()
    assert checks.flips("cartwheel")(flipped, FPS) == (True, 1.0)
    assert not checks.flips("roll")(flipped, FPS)[0] and not checks.flips("backflip")(flipped, FPS)[0]
    assert not checks.flips("cartwheel")(joints, FPS)[0]
