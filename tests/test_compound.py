"""Compound "A, then B" clips and the held-out paraphrase / compound split (moscale.data.compound)."""
from __future__ import annotations

import importlib.util
import random
import re

import numpy as np
import pytest

from moscale.motion import bvh, kinematics
from moscale.motion import rotations as rot
from moscale.data import caption_words, captions, compound
from moscale.data.corpus import BuildConfig, build
from moscale.data.dataset import MotionDataset, read_captions, read_split


def _body(frames: int, yaw: float, speed: float) -> np.ndarray:
    from moscale.motion.skeleton import PARENTS, rest_offsets_m

    offsets = rest_offsets_m()
    joints = np.zeros((22, 3))
    for j in range(1, 22):
        joints[j] = joints[PARENTS[j]] + offsets[j]
    joints[:, 1] -= joints[:, 1].min()
    facing = rot.y_rotation(yaw)
    body = rot.rotate(facing, joints)
    forward = rot.rotate(facing, np.array([0.0, 0.0, 1.0]))
    t = np.arange(frames)[:, None, None] / 20.0
    return body[None] + speed * t * forward


def test_join_continues_b_from_a():
    a = _body(60, 0.0, 1.0)  # walks +Z
    b = _body(50, np.pi / 2, 0.5)  # faces and moves +X, elsewhere
    b = b + np.array([3.0, 0.0, -2.0])
    joined = compound.join_joints(a, b, transition=10)
    assert joined.shape == (60 + 50 - 10, 22, 3)
    np.testing.assert_allclose(joined[:50], a[:50], atol=1e-6)  # A untouched before the transition
    # after the transition B continues from where A was at the transition start, facing A's direction (+Z)
    tail = joined[60:]
    facing = kinematics.facing_directions(tail, compound.FACE_JOINTS)
    np.testing.assert_allclose(facing, np.tile([0.0, 0.0, 1.0], (len(tail), 1)), atol=1e-5)
    np.testing.assert_allclose(joined[60, 0, [0, 2]], a[50, 0, [0, 2]] + np.array([0.0, 0.5 * 10 / 20]), atol=1e-5)
    # no jump anywhere: the root moves at most as fast as the faster part
    step = np.linalg.norm(np.diff(joined[:, 0], axis=0), axis=-1)
    assert step.max() <= 1.0 / 20 + 1e-6


def test_caption_grammar():
    assert compound.base_form("waves the right hand") == "wave the right hand"
    assert compound.gerund("punches forward") == "punching forward"
    assert compound.gerund("raises both hands") == "raising both hands"
    assert compound.gerund("puts the left hand up") == "putting the left hand up"
    rng = random.Random(0)
    a = compound.Window("x", "walk", "normal", "g")
    b = compound.Window("y", "wave-right-hand", "normal", "g")
    for _ in range(30):
        text = compound.compound_caption(a, b, rng)
        assert text.endswith(".") and "  " not in text
        assert any(p in text for p in captions.action_phrases("walk"))
        assert any(compound.base_form(p) in text or compound.gerund(p) in text or p in text
                   for p in captions.action_phrases("wave-right-hand"))
        assert all(caption_words.known_word(w) for w in re.findall(r"[a-z]+", text))


def test_heldout_wordings_never_appear_in_training_vocabulary():
    training = [p for action in captions.BANDAI_ACTIONS for p in captions.action_phrases(action)]
    training += [p for phrases in captions.CMU_PHRASES.values() for p in phrases]
    for action, phrases in captions.HELDOUT_PARAPHRASES.items():
        assert action in captions.BANDAI_ACTIONS
        for phrase in phrases:
            assert not any(phrase in t or t == phrase for t in training), phrase
    for template in compound.HELDOUT_TEMPLATES:
        joint = template.replace("{s} {a}", "").split("{b}")[0]
        assert not any(joint in t for t in compound.TEMPLATES + compound.LOCOMOTION_TEMPLATES)


def _make_clip_module(fixtures_dir):
    spec = importlib.util.spec_from_file_location("src_make_fixtures", fixtures_dir / "bvh" / "src_make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def corpus(fixtures_dir, tmp_path_factory):
    make = _make_clip_module(fixtures_dir)
    root = tmp_path_factory.mktemp("sources")
    data = root / "bandai" / "data"
    data.mkdir(parents=True)
    # five takes of walk and wave put one of each into the test split (10%, rounded): a held-out compound pair
    stems = [f"dataset-2_{action}_normal_00{k}" for action, takes in (("walk", 5), ("wave-right-hand", 5),
                                                                      ("raise-up-left-hand", 3), ("run", 3))
             for k in range(1, takes + 1)]
    for k, stem in enumerate(stems):
        clip = make.make_clip(make.BANDAI, scale=100.0, all_positions=True, frames=120 + 3 * k)
        bvh.write_bvh(data / f"{stem}.bvh", clip, decimals=5)
    out = tmp_path_factory.mktemp("corpus")
    build([("bandai", root / "bandai")], out, workers=1, progress=False,
          config=BuildConfig(max_frames=196, stride=160, min_frames=20, compounds=6))
    return out


def test_corpus_gets_compounds_and_a_heldout_split(corpus):
    train, val, test = (set(read_split(corpus, s)) for s in ("train", "val", "test"))
    heldout = set(read_split(corpus, compound.HELDOUT_SPLIT))
    compounds = sorted(n for n in train if n.startswith("compound_"))
    assert compounds and heldout
    assert not heldout & (train | val | test)
    assert all(n.startswith(("compound_heldout_", "paraphrase_")) for n in heldout)
    for name in compounds:
        features = np.load(corpus / "new_joint_vecs" / f"{name}.npy")
        assert features.shape[1] == 263 and np.isfinite(features).all()
        # both parts kept (each >= 2 s), at most one model window
        assert 2 * compound.MIN_PART_FRAMES <= features.shape[0] <= 196
        lines = read_captions(corpus / "texts" / f"{name}.txt")
        assert len(lines) >= 2
    # no held-out wording reaches a caption the model trains on
    heldout_phrases = [p for phrases in captions.HELDOUT_PARAPHRASES.values() for p in phrases]
    for name in train | val:
        for line in read_captions(corpus / "texts" / f"{name}.txt"):
            assert not any(p in line.caption for p in heldout_phrases), (name, line.caption)
            assert not any(t.split("{b}")[0].replace("{s} {a}", "") in line.caption
                           for t in compound.HELDOUT_TEMPLATES)
    paraphrases = [n for n in heldout if n.startswith("paraphrase_")]
    for name in paraphrases:
        source = name.removeprefix("paraphrase_")
        assert source in test
        np.testing.assert_array_equal(np.load(corpus / "new_joint_vecs" / f"{name}.npy"),
                                      np.load(corpus / "new_joint_vecs" / f"{source}.npy"))
        assert all(any(p in line.caption for p in heldout_phrases)
                   for line in read_captions(corpus / "texts" / f"{name}.txt"))
    # the training loader reads compounds like any other clip, and the held-out split loads for evaluation
    dataset = MotionDataset(corpus, "train", min_frames=20)
    assert any(n.startswith("compound_") for n in dataset.names)
    assert len(MotionDataset(corpus, compound.HELDOUT_SPLIT, min_frames=20)) == len(heldout)


def test_training_compounds_vary_in_length_and_the_heldout_split_does_not_move(corpus, tmp_path, monkeypatch):
    """Training compounds come in the lengths users ask for (a model that only saw 9.8 s compounds squeezed the walk
    out of a 6 s "walks forward, stops and waves"), and drawing those lengths leaves every held-out clip as it was
    first measured."""
    import shutil

    def augmented(folder, lengths):
        shutil.copytree(corpus, folder)
        monkeypatch.setattr(compound, "TRAINING_LENGTHS", lengths)
        compound.augment(folder, train=6, val=1, heldout=1)
        return folder

    varied = augmented(tmp_path / "varied", (100, 197))
    full = augmented(tmp_path / "full", (197, 197))
    frames = {name: [np.load(root / "new_joint_vecs" / f"{name}.npy").shape[0] for root in (varied, full)]
              for name in read_split(varied, "train") if name.startswith("compound_")}
    assert frames and all(v <= f for v, f in frames.values()) and any(v < f for v, f in frames.values())
    assert all(v >= 99 for v, _ in frames.values())
    heldout = read_split(varied, compound.HELDOUT_SPLIT)
    assert heldout == read_split(full, compound.HELDOUT_SPLIT)
    for name in heldout:
        for folder in ("new_joint_vecs", "texts"):
            suffix = ".npy" if folder == "new_joint_vecs" else ".txt"
            assert (varied / folder / f"{name}{suffix}").read_bytes() == (full / folder / f"{name}{suffix}").read_bytes()
