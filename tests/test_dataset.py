"""HumanML3D-layout loader: samples, crops, normalisation, batching, bucket sampler, errors, `moscale data stats`."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from moscale import cli
from moscale.data.dataset import (
    LengthBucketSampler,
    MotionDataset,
    all_captions,
    collate_motions,
    read_captions,
)

DIM = 263
# name -> frames; "short" is below min_frames (40), "long" above max_frames (196).
CLIPS = {"walk": 100, "short": 30, "long": 250, "mid": 64, "edge": 45, "val1": 80}


def _features(clip_id: int, frames: int) -> np.ndarray:
    """Channel 0 holds the frame index and channel 1 the clip id, so a crop reveals where it came from."""
    rng = np.random.default_rng(clip_id)
    features = rng.normal(size=(frames, DIM)).astype(np.float32)
    features[:, 0] = np.arange(frames)
    features[:, 1] = clip_id
    return features


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    (tmp_path / "new_joint_vecs").mkdir()
    (tmp_path / "texts").mkdir()
    for clip_id, (name, frames) in enumerate(CLIPS.items()):
        np.save(tmp_path / "new_joint_vecs" / f"{name}.npy", _features(clip_id, frames))
        (tmp_path / "texts" / f"{name}.txt").write_text(f"a person does {name}.#a/DET person/NOUN#0.0#0.0\n")
    # HumanML3D's format: two whole-clip captions, a sub-range (1.0 s to 3.5 s = frames 20..70) and a nan tag.
    (tmp_path / "texts" / "walk.txt").write_text(
        "a person walks forward.#a/DET person/NOUN walk/VERB forward/ADV#0.0#0.0\n"
        "someone strolls ahead.#someone/PRON stroll/VERB ahead/ADV#nan#nan\n"
        "the person waves.#the/DET person/NOUN wave/VERB#1.0#3.5\n"
    )
    (tmp_path / "train.txt").write_text("walk\nshort\nlong\nmid\nedge\n")
    (tmp_path / "val.txt").write_text("val1\n")
    (tmp_path / "test.txt").write_text("\n")
    rng = np.random.default_rng(99)
    np.save(tmp_path / "Mean.npy", rng.normal(size=DIM).astype(np.float32))
    np.save(tmp_path / "Std.npy", rng.uniform(0.5, 2.0, size=DIM).astype(np.float32))
    return tmp_path


def _raw(dataset: MotionDataset, item: dict) -> np.ndarray:
    return item["features"].numpy() * dataset.std + dataset.mean


def test_read_captions_humanml3d_format(root):
    lines = read_captions(root / "texts" / "walk.txt")
    assert [line.caption for line in lines] == [
        "a person walks forward.", "someone strolls ahead.", "the person waves."]
    assert lines[0].whole_clip and lines[1].whole_clip  # nan tags mean the whole clip
    assert (lines[2].start_s, lines[2].end_s) == (1.0, 3.5) and not lines[2].whole_clip


def test_samples_include_subrange_and_skip_short_clips(root):
    dataset = MotionDataset(root, "train")
    assert sorted(dataset.names) == sorted(["walk", "walk@20-70", "long", "mid", "edge"])
    lengths = dict(zip(dataset.names, dataset.lengths.tolist()))
    # capped at 196, rounded down to a multiple of 4
    assert lengths == {"walk": 100, "walk@20-70": 48, "long": 196, "mid": 64, "edge": 44}
    assert dataset.clip_names == ["walk", "long", "mid", "edge"]


def test_items_are_normalised_contiguous_windows(root):
    dataset = MotionDataset(root, "train")
    for index, name in enumerate(dataset.names):
        item = dataset[index]
        assert item["name"] == name
        assert item["features"].dtype == torch.float32
        assert item["features"].shape == (item["length"], DIM)
        assert item["length"] == dataset.lengths[index]
        raw = _raw(dataset, item)
        clip = name.split("@")[0]
        frames = raw[:, 0].round().astype(int)
        source = _features(list(CLIPS).index(clip), CLIPS[clip])
        np.testing.assert_allclose(raw, source[frames], atol=1e-4)  # normalised with Mean/Std, values intact
        assert np.array_equal(frames, np.arange(frames[0], frames[0] + len(frames)))  # a contiguous window
        if name == "walk@20-70":
            assert 20 <= frames[0] and frames[-1] < 70
            assert item["caption"] == "the person waves."
        if name == "walk":
            assert item["caption"] in ("a person walks forward.", "someone strolls ahead.")


def test_crops_have_the_requested_length(root):
    dataset = MotionDataset(root, "train", crop_frames=48)
    assert sorted(dataset.names) == ["long", "mid", "walk"]  # edge (45) and short (30) are shorter than the crop
    starts = set()
    for epoch in range(4):
        dataset.set_epoch(epoch)
        for index in range(len(dataset)):
            item = dataset[index]
            assert item["length"] == 48 and item["features"].shape == (48, DIM)
            frames = _raw(dataset, item)[:, 0].round().astype(int)
            assert np.array_equal(frames, np.arange(frames[0], frames[0] + 48))
            if item["name"] == "long":
                starts.add(frames[0])
    assert len(starts) > 1  # crops move between epochs


def test_randomness_is_reproducible_per_seed_and_epoch(root):
    first = MotionDataset(root, "train", crop_frames=32, seed=3)
    second = MotionDataset(root, "train", crop_frames=32, seed=3)
    for dataset in (first, second):
        dataset.set_epoch(5)
    for index in range(len(first)):
        assert torch.equal(first[index]["features"], second[index]["features"])


def test_explicit_normalisation_and_raw_mode(root):
    mean, std = np.zeros(DIM, np.float32), np.full(DIM, 2.0, np.float32)
    dataset = MotionDataset(root, "train", crop_frames=40, mean=mean, std=std)
    raw = MotionDataset(root, "train", crop_frames=40, normalize=False)
    assert raw.mean is None
    np.testing.assert_array_equal(dataset.std, std)
    torch.testing.assert_close(dataset[0]["features"] * 2.0, raw[0]["features"])


def test_per_caption_and_length_coin(root):
    dataset = MotionDataset(root, "train", per_caption=True)
    assert len(dataset) == 6  # walk has 2 whole-clip captions
    assert sorted({dataset[i]["caption"] for i in range(len(dataset))})[:2] == [
        "a person does edge.", "a person does long."]
    coin = MotionDataset(root, "train", length_coin=True)
    seen = set()
    for epoch in range(6):
        coin.set_epoch(epoch)
        for index in range(len(coin)):
            item = coin[index]
            assert item["length"] % 4 == 0
            assert item["length"] in (coin.lengths[index], coin.lengths[index] - 4)
            seen.add(item["length"] == coin.lengths[index])
    assert seen == {True, False}


def test_collate_pads_with_zeros(root):
    dataset = MotionDataset(root, "train")
    items = [dataset[i] for i in range(len(dataset))]
    batch = collate_motions(items)
    lengths = [item["length"] for item in items]
    assert batch["features"].shape == (len(items), max(lengths), DIM)
    assert batch["lengths"].dtype == torch.long and batch["lengths"].tolist() == lengths
    assert batch["captions"] == [item["caption"] for item in items]
    assert batch["names"] == [item["name"] for item in items]
    for row, item in enumerate(items):
        assert torch.equal(batch["features"][row, : item["length"]], item["features"])
        assert not batch["features"][row, item["length"] :].any()
    assert collate_motions(items, pad_to=256)["features"].shape[1] == 256


def test_all_captions(root):
    captions = all_captions(root, "train")
    assert "the person waves." in captions and "someone strolls ahead." in captions
    assert "a person does short." in captions  # every caption of the split, for the text cache
    assert len(captions) == len(set(captions))
    assert all_captions(root, "val") == ["a person does val1."]


def test_missing_files_name_the_path(root, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        MotionDataset(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"extra\.txt.*split file missing"):
        MotionDataset(root, "extra")
    (root / "Mean.npy").unlink()
    with pytest.raises(FileNotFoundError, match=r"Mean\.npy: missing"):
        MotionDataset(root, "train")
    MotionDataset(root, "train", normalize=False)  # fine without statistics
    (root / "new_joint_vecs").rename(root / "elsewhere")
    with pytest.raises(FileNotFoundError, match=r"new_joint_vecs: folder missing"):
        MotionDataset(root, "train", normalize=False)


def test_empty_split_is_an_error(root):
    with pytest.raises(ValueError, match="no usable clips"):
        MotionDataset(root, "test")


def test_stats_command(root, capsys):
    assert cli.main(["data", "stats", str(root)]) == 0
    out = capsys.readouterr().out
    train = next(line for line in out.splitlines() if line.startswith("train"))
    assert train.split() == ["train", "5", "0", str(100 + 30 + 250 + 64 + 45), "0.4", "7", "5"]
    assert cli.main(["data", "stats", str(root / "nowhere")]) == 2
    assert "no such folder" in capsys.readouterr().err


# -- LengthBucketSampler


def _lengths(count: int = 203, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(40, 197, size=count)


def test_sampler_covers_every_index_once_per_epoch():
    lengths = _lengths()
    sampler = LengthBucketSampler(lengths, batch_size=8, seed=1)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler) == 26
        flat = [i for batch in batches for i in batch]
        assert sorted(flat) == list(range(len(lengths)))
        assert sum(len(batch) < 8 for batch in batches) == 1  # 203 = 25 * 8 + 3


def test_sampler_repeats_oversample_items():
    lengths = _lengths(50)
    repeats = np.ones(50, np.int64)
    repeats[:5] = 4  # five rare clips, four visits each
    repeats[5] = 0  # one left out
    sampler = LengthBucketSampler(lengths, batch_size=8, seed=1, repeats=repeats)
    flat = [i for batch in sampler for i in batch]
    assert len(sampler) == -(-len(flat) // 8) and len(flat) == 50 - 1 + 5 * 3
    assert np.array_equal(np.bincount(flat, minlength=50), repeats)
    unshuffled = [i for batch in LengthBucketSampler(lengths, 8, shuffle=False, repeats=repeats) for i in batch]
    assert np.array_equal(np.bincount(unshuffled, minlength=50), repeats)
    with pytest.raises(ValueError, match="repeats"):
        LengthBucketSampler(lengths, 8, repeats=[1, 2])


def test_source_repeats_by_clip_name_prefix():
    from moscale.data.dataset import clip_source, source_repeats

    names = ["bandai2_walk_001_w00", "cmu_05_04_w00", "cmu_05_04_w01", "bandai1_bow_001_w00"]
    assert clip_source(names[1]) == "cmu"
    assert source_repeats(names, {"cmu": 5, "bandai1": 2}).tolist() == [1, 5, 5, 2]
    with pytest.raises(ValueError, match="no clips of source"):
        source_repeats(names, {"cmv": 5})  # a typo is an error, not a silent no-op


def test_sampler_batches_similar_lengths():
    lengths = _lengths(2000)
    sampler = LengthBucketSampler(lengths, batch_size=16, seed=0, drop_last=True, pool_batches=20)
    spread = np.mean([np.ptp(lengths[batch]) for batch in sampler])
    random_batches = np.random.default_rng(0).permutation(2000).reshape(-1, 16)
    random_spread = np.mean([np.ptp(lengths[batch]) for batch in random_batches])
    assert spread < random_spread / 5
    unshuffled = list(LengthBucketSampler(lengths, batch_size=16, shuffle=False))
    flat = [i for batch in unshuffled for i in batch]
    assert np.all(np.diff(lengths[flat]) >= 0)


def test_sampler_is_deterministic_given_seed_and_epoch():
    lengths = _lengths()
    a, b = LengthBucketSampler(lengths, 8, seed=4), LengthBucketSampler(lengths, 8, seed=4)
    a.set_epoch(2)
    b.set_epoch(2)
    assert list(a) == list(b)
    b.set_epoch(3)
    assert list(a) != list(b)
    assert list(a) != list(LengthBucketSampler(lengths, 8, seed=5))


@pytest.mark.parametrize("drop_last", [True, False])
def test_sampler_ddp_shards(drop_last):
    lengths = _lengths(203)
    shards = [list(LengthBucketSampler(lengths, 8, seed=7, drop_last=drop_last, num_replicas=3, rank=rank))
              for rank in range(3)]
    counts = {len(shard) for shard in shards}
    assert len(counts) == 1  # every rank steps the same number of times (DDP would hang otherwise)
    assert counts == {len(LengthBucketSampler(lengths, 8, drop_last=drop_last, num_replicas=3, rank=0))}
    indices = [set(i for batch in shard for i in batch) for shard in shards]
    if drop_last:  # 25 full batches -> 24 shared out, 8 per rank, disjoint
        assert sum(len(s) for s in indices) == len(set.union(*indices)) == 24 * 8
    else:  # 26 batches padded to 27 by repeating one: everything covered
        assert set.union(*indices) == set(range(203))
        repeated = sum(len(s) for s in indices) - 203
        assert repeated <= 8


def test_dataloader_end_to_end(root):
    dataset = MotionDataset(root, "train")
    sampler = LengthBucketSampler(dataset.lengths, batch_size=2, seed=0)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_motions)
    seen = []
    for batch in loader:
        assert batch["features"].shape[0] == len(batch["names"]) == batch["lengths"].shape[0]
        seen.extend(batch["names"])
    assert sorted(seen) == sorted(dataset.names)


def test_missing_clip_files_are_skipped_with_a_warning(root):
    (root / "train.txt").write_text("walk\nghost\nmid\n")
    (root / "texts" / "mid.txt").unlink()
    with pytest.warns(UserWarning, match="1 no feature file, 1 no captions"):
        dataset = MotionDataset(root, "train")
    assert dataset.clip_names == ["walk"]
    with pytest.warns(UserWarning, match="1 no feature file"):
        crops = MotionDataset(root, "train", crop_frames=48)
    assert crops.clip_names == ["walk", "mid"]  # crops need no captions


def test_reading_from_disk_matches_preloading(root):
    preloaded = MotionDataset(root, "train", seed=2)
    from_disk = MotionDataset(root, "train", seed=2, preload=False)
    for index in range(-1, len(preloaded)):
        a, b = preloaded[index], from_disk[index]
        assert a["name"] == b["name"] and a["caption"] == b["caption"]
        torch.testing.assert_close(a["features"], b["features"])
    with pytest.raises(IndexError):
        preloaded[len(preloaded)]
