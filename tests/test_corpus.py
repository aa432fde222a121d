"""The corpus builder (moscale.data.corpus) and captions (moscale.data.captions) on tiny generated source folders."""
from __future__ import annotations

import importlib.util
import re
import shutil

import numpy as np
import pytest

from moscale.motion import bvh
from moscale.data import caption_words, captions
from moscale.data.corpus import (
    STD_GROUPS, BuildConfig, Recording, assign_splits, build, format_summary, normalization, window_bounds,
)
from moscale.motion.skeleton import FEATURE_DIM

SMALL = BuildConfig(max_frames=16, stride=12, min_frames=4)
# the labels of the Bandai-Namco cfg/ files (sets 1 and 2)
BANDAI_1_ACTIONS = ["walk", "run", "dash", "walk-back", "walk-left", "walk-right", "bow", "bye", "guide", "byebye",
                    "respond", "call", "punch", "kick", "slash", "dance-long", "dance-short"]
BANDAI_1_STYLES = ["normal", "happy", "sad", "angry", "proud", "not-confident", "masculinity", "feminine", "childish",
                   "old", "tired", "active", "musical", "giant", "chimpira"]
BANDAI_2_ACTIONS = ["walk", "walk-turn-left", "walk-turn-right", "run", "wave-both-hands", "wave-left-hand",
                    "wave-right-hand", "raise-up-both-hands", "raise-up-left-hand", "raise-up-right-hand"]
BANDAI_2_STYLES = ["active", "elderly", "exhausted", "feminine", "masculine", "normal", "youthful"]


def _make_clip_module(fixtures_dir):
    spec = importlib.util.spec_from_file_location("src_make_fixtures", fixtures_dir / "bvh" / "src_make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sources(fixtures_dir, tmp_path_factory):
    """A Bandai-like and a CMU-like folder: distinct takes of the fixture body, a duplicate, a known-bad clip."""
    make = _make_clip_module(fixtures_dir)
    root = tmp_path_factory.mktemp("sources")
    bandai = root / "bandai" / "data"
    bandai.mkdir(parents=True)
    stems = ["dataset-2_walk_normal_001", "dataset-2_walk_normal_002", "dataset-2_walk_tired_001",
             "dataset-2_walk-turn-left_masculine_006", "dataset-2_wave-right-hand_happy_001",
             "dataset-1_bye_old_001", "dataset-2_walk_normal_003"]
    for k, stem in enumerate(stems):
        clip = make.make_clip(make.BANDAI, scale=100.0, all_positions=True, stale_hips_offset=True, frames=40 + 7 * k)
        bvh.write_bvh(bandai / f"{stem}.bvh", clip, decimals=5)
    (root / "bandai" / "LICENSE").write_text("CC BY-NC 4.0 (fixture)\n")
    cmu = root / "cmu"
    (cmu / "01").mkdir(parents=True)
    for k, clip_id in enumerate(["01_01", "01_02", "07_12"]):
        clip = make.make_clip(make.CMU, scale=100.0, fps=120.0, frames=200 + 40 * k, tpose_frames=1, toe_end_sites=True)
        bvh.write_bvh(cmu / "01" / f"{clip_id}.bvh", clip, decimals=5)
    shutil.copyfile(cmu / "01" / "01_02.bvh", cmu / "01" / "01_03.bvh")  # byte-identical duplicate
    (cmu / "CMU-INDEX.md").write_text(
        "Subject #1 (test)\n\n01_01  playground - forward jumps, turn around\n\n01_02  walk\n\n"
        "01_03  walk\n\n07_12  brisk walk\n")
    return [("bandai", root / "bandai"), ("cmu", cmu)]


@pytest.fixture(scope="module")
def corpus(sources, tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    summary = build(sources, out, workers=1, config=SMALL, progress=False)
    return out, summary


def _lines(path):
    return [line for line in path.read_text().splitlines() if line]


def test_files_are_consistent(corpus):
    out, summary = corpus
    names = _lines(out / "all.txt")
    assert names and len(names) == summary["totals"]["windows"]
    for name in names:
        joints = np.load(out / "new_joints" / f"{name}.npy")
        features = np.load(out / "new_joint_vecs" / f"{name}.npy")
        assert joints.dtype == features.dtype == np.float32
        assert joints.shape == (len(features), 22, 3) and features.shape[1] == FEATURE_DIM
        assert SMALL.min_frames <= len(features) <= SMALL.max_frames
        lines = _lines(out / "texts" / f"{name}.txt")
        assert len(set(lines)) >= 3
        for line in lines:
            caption, tokens, start, end = line.split("#")
            assert caption and re.fullmatch(r"([a-z]+/[A-Z]+ ?)+", tokens) and (start, end) == ("0.0", "0.0")
    assert sorted(p.stem for p in (out / "new_joint_vecs").glob("*.npy")) == sorted(names)
    for extra in ("SOURCES.md", "summary.json", "manifest.json"):
        assert (out / extra).is_file()
    assert "CC BY-NC 4.0" in (out / "SOURCES.md").read_text() and any((out / "LICENSES").iterdir())
    assert "bandai/walk" in format_summary(summary)


def test_splits_are_disjoint_and_by_recording(corpus):
    out, summary = corpus
    splits = {s: set(_lines(out / f"{s}.txt")) for s in ("train", "val", "test")}
    assert not (splits["train"] & splits["val"] or splits["train"] & splits["test"] or splits["val"] & splits["test"])
    assert set.union(*splits.values()) == set(_lines(out / "all.txt"))
    recording_split = {}
    for split, names in splits.items():
        for name in names:
            recording = name.rsplit("_w", 1)[0]
            assert recording_split.setdefault(recording, split) == split
    assert len([n for n in _lines(out / "all.txt") if n.startswith("cmu_01_01_w")]) > 1


def test_mean_std_from_train_split(corpus):
    out, _ = corpus
    mean, std = np.load(out / "Mean.npy"), np.load(out / "Std.npy")
    assert mean.shape == std.shape == (FEATURE_DIM,) and np.all(std > 0)
    train = np.concatenate([np.load(out / "new_joint_vecs" / f"{n}.npy") for n in _lines(out / "train.txt")])
    np.testing.assert_allclose(mean, train.astype(np.float64).mean(axis=0), atol=1e-5)
    for group, _ in STD_GROUPS.values():
        assert np.ptp(std[group]) == 0.0  # one value per feature group, as in HumanML3D's Std.npy


def test_known_problems_are_handled(corpus):
    _, summary = corpus
    reasons = {e["name"]: e["reason"] for e in summary["excluded"]}
    assert "garbled" in reasons["cmu_07_12"]
    assert reasons["cmu_01_03"] == "byte-identical to cmu_01_02"
    assert "bandai2_walk-turn-left_masculine_006" in summary["fixes"]
    assert "bandai/walk-turn-right" in summary["per_action"]  # the relabeled clip


def test_walks_get_pace_and_circle_variants_captioned_from_their_joints(corpus):
    """Plain walks in training also come played 0.75x and 1.4x as fast and carried round a circle, captioned from the
    joints alone (a tired walk played 1.4x as fast is no longer tired); no other action, and no held-out take, gets
    them."""
    out, _ = corpus
    split = {name: part for part in ("train", "val", "test") for name in _lines(out / f"{part}.txt")}
    variants = [name for name in split if re.search(r"_(x75|x140|circle)_w\d\d$", name)]
    assert {re.search(r"_(x75|x140|circle)_", name).group(1) for name in variants} == {"x75", "x140", "circle"}
    assert all(split[name] == "train" and re.search(r"_walk_|^cmu", name) for name in variants), variants
    for name in variants:
        recording = name.rsplit(re.search(r"_(x75|x140|circle)_", name).group(0), 1)[0]
        own = (out / "texts" / f"{recording}_w00.txt").read_text()
        text = (out / "texts" / f"{name}.txt").read_text()
        assert text.strip() and "tired" not in text, text  # the label's style words stay with the label's pace
        if "tired" in recording:
            assert "tired" in own
    walk = next(name for name in variants if "_circle_" in name)
    circled = np.load(out / "new_joints" / f"{walk}.npy")
    straight = np.load(out / "new_joints" / f"{walk.replace('_circle_', '_')}.npy")
    assert circled.shape == straight.shape  # the same frames of the same take, carried round
    np.testing.assert_allclose(circled[:, 0, 1], straight[:, 0, 1], atol=1e-4)  # the pelvis keeps its heights


def test_build_is_deterministic_across_workers(sources, corpus, tmp_path):
    out, _ = corpus
    again = tmp_path / "again"
    build(sources, again, workers=2, config=SMALL, progress=False)
    for path in sorted(out.rglob("*")):
        if path.is_file() and path.name != "summary.json":
            assert (again / path.relative_to(out)).read_bytes() == path.read_bytes(), path.name
    with pytest.raises(FileExistsError):
        build(sources, again, workers=1, config=SMALL, progress=False)


def test_command_line(sources, tmp_path, capsys):
    from moscale.cli import main

    bandai = next(folder for kind, folder in sources if kind == "bandai")
    out = tmp_path / "cli"
    argv = ["data", "build", "--source", f"bandai={bandai}", "--out", str(out), "--workers", "1", "--quiet",
            "--max-frames", "16", "--stride", "12", "--min-frames", "4", "--limit", "2"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "per action" in printed and "bandai/walk" in printed
    assert len(_lines(out / "all.txt")) > 0


def test_window_bounds():
    config = BuildConfig()
    assert window_bounds(40, config) == []  # 39 feature frames < 40
    assert window_bounds(41, config) == [(0, 41)]
    assert window_bounds(197, config) == [(0, 197)]
    bounds = window_bounds(1000, config)
    assert all(stop - start == 197 for start, stop in bounds)
    assert bounds[0][0] == 0 and bounds[-1][1] == 1000
    starts = [s for s, _ in bounds]
    assert max(np.diff(starts)) <= config.stride


def test_splits_are_stratified_and_deterministic():
    recordings = [Recording(f"bandai2_walk_{i:03d}", "bandai", "", "walk", ()) for i in range(100)]
    recordings += [Recording(f"cmu_01_{i:02d}", "cmu", "", "jump", ()) for i in range(2)]
    assign_splits(recordings)
    walk = [r.split for r in recordings if r.action == "walk"]
    assert (walk.count("test"), walk.count("val"), walk.count("train")) == (10, 5, 85)
    assert [r.split for r in recordings if r.action == "jump"] == ["train", "train"]
    reordered = list(reversed(recordings))
    assign_splits(reordered)
    assert [r.split for r in reversed(reordered)] == [r.split for r in recordings]


def test_normalization_is_groupwise():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(500, FEATURE_DIM)) * np.linspace(0.1, 2.0, FEATURE_DIM)
    mean, std = normalization(features.sum(0), (features ** 2).sum(0), len(features))
    np.testing.assert_allclose(mean, features.mean(0), atol=1e-5)
    ric = STD_GROUPS["ric"][0]
    assert std[ric][0] == pytest.approx(features[:, ric].std(0).mean(), rel=1e-5)


# ----------------------------------------------------------------------------------------------- captions
@pytest.mark.parametrize("dataset,actions,styles", [(1, BANDAI_1_ACTIONS, BANDAI_1_STYLES),
                                                    (2, BANDAI_2_ACTIONS, BANDAI_2_STYLES)])
def test_every_bandai_label_gets_three_captions(dataset, actions, styles):
    for action in actions:
        for style in styles:
            stem = f"dataset-{dataset}_{action}_{style}_001"
            texts = captions.bandai_captions(stem)
            assert len(set(texts)) == len(texts) >= 3
            assert texts == captions.bandai_captions(stem)  # deterministic
            for text in texts:
                assert all(caption_words.known_word(w) for w in re.findall(r"[a-z]+", text))


def test_bandai_relabel_and_sides():
    assert captions.parse_bandai_name("dataset-2_walk-turn-left_masculine_006").action == "walk-turn-right"
    assert all("right" in t for t in captions.bandai_captions("dataset-2_walk-turn-left_masculine_007"))
    assert all("right hand" in t for t in captions.bandai_captions("dataset-1_bye_happy_001"))
    assert all("both" in t for t in captions.bandai_captions("dataset-1_byebye_sad_001"))


def test_cmu_description_to_sentences():
    index = captions.parse_cmu_index("01_01  playground - forward jumps, turn around\n\n01_02  Unknown\n")
    assert index == {"01_01": "playground - forward jumps, turn around"}
    texts = captions.cmu_captions("01_01", index["01_01"])
    assert len(set(texts)) >= 3 and texts == captions.cmu_captions("01_01", index["01_01"])
    assert any(("jumps forward" in t or "leaps forward" in t or "forward jumps" in t) and "turns" in t for t in texts)
    assert all(re.match(r"^(a person|someone|the person|a human) ", t) and t.endswith(".") for t in texts)
    assert captions.cmu_category(index["01_01"]) == "playground"
    assert captions.unknown_cmu_phrases("walk, climb ladder") == []
    assert captions.cmu_captions("99_01", "juggle")[0].split(" ", 2)[-1].startswith("juggles")  # fallback


def test_tokens_follow_humanml3d():
    assert caption_words.tag("a person walks forward.") == "a/DET person/NOUN walk/VERB forward/ADV"
    assert caption_words.tag("someone waves the left hand") == "someone/PRON wave/VERB the/DET left/ADJ hand/NOUN"
    assert caption_words.tag("turns left") == "turn/VERB left/ADV"
    line = caption_words.caption_line("someone raises both hands.")
    assert line == "someone raises both hands.#someone/PRON raise/VERB both/DET hand/NOUN#0.0#0.0"
