"""Datasets over a HumanML3D-layout folder (also the real HumanML3D release, read unchanged).

Layout of `root`:

    new_joint_vecs/NAME.npy   (T, 263) float features per clip, raw (not normalised), 20 fps
    new_joints/NAME.npy       (T, 22, 3) joint positions in metres (optional, not read here)
    texts/NAME.txt            one caption per line: `caption#tokens#start#end`, start/end in seconds;
                              `0.0#0.0` means the whole clip, anything else makes that sub-range a sample of its own
    train.txt, val.txt, ...   clip names of each split, one per line
    Mean.npy, Std.npy         (263,) feature normalisation

Two modes:
- `crop_frames=N`: one item per clip of at least N frames, a random N-frame crop (tokenizer training).
- otherwise one item per (clip or captioned sub-range) with a random caption of it, HumanML3D's practice: the length is
  capped at `max_frames` by a random window and rounded down to a multiple of `unit_length`. `per_caption=True` makes
  every (sample, caption) pair an item instead.

Randomness (crop offsets, windows, caption choice) is drawn from (seed, epoch, index, visit) so it is reproducible and
independent of DataLoader workers; call `set_epoch(e)` every epoch, like the sampler's.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from moscale.motion.skeleton import FPS

FEATURES_DIR = "new_joint_vecs"
TEXTS_DIR = "texts"
_LAYOUT_HINT = ("a HumanML3D-layout folder: new_joint_vecs/NAME.npy, texts/NAME.txt, train.txt/val.txt/test.txt, "
                "Mean.npy, Std.npy")


# ----------------------------------------------------------------------------------------------------------------------
# Reading the layout


@dataclass(frozen=True)
class CaptionLine:
    caption: str
    start_s: float  # 0.0 and end_s 0.0: the whole clip
    end_s: float

    @property
    def whole_clip(self) -> bool:
        return self.start_s == 0.0 and self.end_s == 0.0


def read_captions(path: str | Path) -> list[CaptionLine]:
    """Parse a texts/NAME.txt file. Lines with only a caption (no `#` fields) describe the whole clip."""
    lines = []
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        fields = raw.strip().split("#")
        caption = fields[0].strip()
        if not caption:
            continue
        start = _seconds(fields[2]) if len(fields) > 2 else 0.0
        end = _seconds(fields[3]) if len(fields) > 3 else 0.0
        lines.append(CaptionLine(caption, start, end))
    return lines


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        return 0.0
    return 0.0 if math.isnan(value) else value


def read_split(root: str | Path, split: str) -> list[str]:
    """Clip names listed in ROOT/SPLIT.txt (blank lines ignored)."""
    root = check_root(root)
    path = root / f"{split}.txt"
    if not path.is_file():
        present = sorted(p.stem for p in root.glob("*.txt"))
        raise FileNotFoundError(
            f"{path}: split file missing; it should list the clip names of the '{split}' split, one per line "
            f"(splits found: {', '.join(present) or 'none'})"
        )
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_normalization(root: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) from ROOT/Mean.npy and ROOT/Std.npy as float32 (D,) arrays."""
    root = check_root(root)
    arrays = []
    for name in ("Mean.npy", "Std.npy"):
        path = root / name
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: missing; it should hold the (263,) per-feature {name[:-4].lower()} of the training features "
                "(or pass mean=/std= explicitly, or normalize=False)"
            )
        arrays.append(np.load(path).astype(np.float32).reshape(-1))
    return arrays[0], arrays[1]


def all_captions(root: str | Path, split: str) -> list[str]:
    """Every distinct caption of the split's clips (sub-range captions included), in first-seen order."""
    root = Path(root)
    seen: dict[str, None] = {}
    for name in read_split(root, split):
        path = root / TEXTS_DIR / f"{name}.txt"
        if path.is_file():
            for line in read_captions(path):
                seen.setdefault(line.caption, None)
    return list(seen)


def npy_shape(path: str | Path) -> tuple[int, ...]:
    """Shape of a .npy file from its header, without reading the data."""
    with open(path, "rb") as handle:
        major, _ = np.lib.format.read_magic(handle)
        read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, _, _ = read_header(handle)
    return tuple(shape)


def check_root(root: str | Path) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder; expected {_LAYOUT_HINT}")
    return root


def check_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: folder missing; it should hold {what}")
    return path


# ----------------------------------------------------------------------------------------------------------------------
# The dataset


@dataclass(frozen=True)
class _Sample:
    name: str
    clip: int  # index into the dataset's clip list
    start: int  # frame range inside the clip file
    stop: int
    captions: tuple[str, ...]

    @property
    def frames(self) -> int:
        return self.stop - self.start


class MotionDataset(Dataset):
    """HumanML3D-layout motions; items are dict(features=(T, D) float32 tensor normalised with Mean/Std,
    length=int frames, caption=str, name=str).

    Sub-range samples are named `NAME@START-STOP` (frames). Clips listed in the split whose feature file or (outside
    crop mode) caption file is missing are skipped with one warning, as are clips with non-finite values (checked when
    preloading). `preload=False` reads each item from disk instead of keeping the split in memory.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        crop_frames: int | None = None,
        min_frames: int = 40,
        max_frames: int = 196,
        unit_length: int = 4,
        mean: np.ndarray | str | Path | None = None,
        std: np.ndarray | str | Path | None = None,
        seed: int = 0,
        fps: int = FPS,
        per_caption: bool = False,
        length_coin: bool = False,
        normalize: bool = True,
        preload: bool = True,
    ) -> None:
        self.root = check_root(root)
        self.split = split
        self.crop_frames = crop_frames
        self.min_frames = min_frames
        self.max_frames = max_frames
        self.unit_length = max(1, unit_length)
        self.seed = seed
        self.fps = fps
        self.length_coin = length_coin
        if crop_frames is not None and crop_frames < 1:
            raise ValueError(f"crop_frames must be positive, got {crop_frames}")
        if crop_frames is None and max_frames < self.unit_length:
            raise ValueError(f"max_frames ({max_frames}) is shorter than unit_length ({self.unit_length})")

        features_dir = check_dir(self.root / FEATURES_DIR, "one (T, 263) float array per clip, NAME.npy")
        names = read_split(self.root, split)
        self._mean, self._std = self._normalization(mean, std, normalize)
        if crop_frames is None:
            check_dir(self.root / TEXTS_DIR, "one caption file per clip, NAME.txt with lines caption#tokens#start#end")

        self._clip_names: list[str] = []
        self._clip_paths: list[Path] = []
        self._clip_data: list[np.ndarray] | None = [] if preload else None
        samples: list[_Sample] = []
        skipped: dict[str, int] = {}
        for name in names:
            path = features_dir / f"{name}.npy"
            if not path.is_file():
                skipped["no feature file"] = skipped.get("no feature file", 0) + 1
                continue
            clip_samples = self._clip_samples(name, len(self._clip_names), path, skipped)
            if not clip_samples:
                continue
            if self._clip_data is not None:
                data = self._normalized(np.load(path).astype(np.float32, copy=False))
                if not np.isfinite(data).all():
                    skipped["non-finite values"] = skipped.get("non-finite values", 0) + 1
                    continue
                self._clip_data.append(data)
            self._clip_names.append(name)
            self._clip_paths.append(path)
            samples.extend(clip_samples)
        if skipped:
            detail = ", ".join(f"{count} {why}" for why, count in skipped.items())
            warnings.warn(f"{self.root} [{split}]: skipped clips ({detail})", stacklevel=2)

        if per_caption and crop_frames is None:
            self._items = [(i, c) for i, s in enumerate(samples) for c in s.captions]
        else:
            self._items = [(i, None) for i in range(len(samples))]
        self._samples = samples
        if not self._items:
            need = f"at least {crop_frames} frames" if crop_frames else f"at least {min_frames} frames and a caption"
            raise ValueError(f"{self.root} [{split}]: no usable clips among {len(names)} listed (need {need})")
        self._epoch = 0
        self._visits = np.zeros(len(self._items), dtype=np.int64)

    # -- construction helpers

    def _normalization(self, mean, std, normalize: bool) -> tuple[np.ndarray | None, np.ndarray | None]:
        if not normalize:
            return None, None
        if mean is None or std is None:
            file_mean, file_std = load_normalization(self.root)
            mean = file_mean if mean is None else mean
            std = file_std if std is None else std
        mean = np.asarray(np.load(mean) if isinstance(mean, (str, Path)) else mean, dtype=np.float32).reshape(-1)
        std = np.asarray(np.load(std) if isinstance(std, (str, Path)) else std, dtype=np.float32).reshape(-1)
        if mean.shape != std.shape:
            raise ValueError(f"mean {mean.shape} and std {std.shape} differ in shape")
        if (std <= 1e-8).any():
            warnings.warn(f"{int((std <= 1e-8).sum())} std entries are ~0; using 1 for them", stacklevel=3)
            std = np.where(std > 1e-8, std, np.float32(1.0)).astype(np.float32)
        return mean, std

    def _clip_samples(self, name: str, clip: int, path: Path, skipped: dict[str, int]) -> list[_Sample]:
        shape = npy_shape(path)
        dim = None if self._mean is None else self._mean.shape[0]
        if len(shape) != 2 or (dim is not None and shape[1] != dim):
            raise ValueError(f"{path}: shape {shape}, expected (frames, {dim or 263}) features")
        frames = shape[0]
        text_path = self.root / TEXTS_DIR / f"{name}.txt"
        captions = read_captions(text_path) if text_path.is_file() else []
        if self.crop_frames is not None:
            if frames < self.crop_frames:
                return []
            whole = tuple(c.caption for c in captions if c.whole_clip)
            return [_Sample(name, clip, 0, frames, whole[:1] or ("",))]
        if not captions:
            skipped["no captions"] = skipped.get("no captions", 0) + 1
            return []
        # Lines sharing a frame range become one sample with several captions.
        ranges: dict[tuple[int, int], list[str]] = {}
        for line in captions:
            if line.whole_clip:
                key = (0, frames)
            else:
                key = (int(line.start_s * self.fps), min(int(line.end_s * self.fps), frames))
            ranges.setdefault(key, []).append(line.caption)
        samples = []
        for (start, stop), texts in ranges.items():
            if stop - start < max(self.min_frames, self.unit_length):
                continue
            sample_name = name if (start, stop) == (0, frames) else f"{name}@{start}-{stop}"
            samples.append(_Sample(sample_name, clip, start, stop, tuple(texts)))
        return samples

    def _normalized(self, features: np.ndarray) -> np.ndarray:
        if self._mean is None:
            return np.ascontiguousarray(features, dtype=np.float32)
        return ((features - self._mean) / self._std).astype(np.float32)

    # -- public API

    @property
    def mean(self) -> np.ndarray | None:
        return self._mean

    @property
    def std(self) -> np.ndarray | None:
        return self._std

    @property
    def names(self) -> list[str]:
        """Name of each item (`NAME` or `NAME@START-STOP` for sub-ranges), parallel to `lengths`."""
        return [self._samples[i].name for i, _ in self._items]

    @property
    def clip_names(self) -> list[str]:
        """The split's clips that made it into the dataset."""
        return list(self._clip_names)

    @property
    def lengths(self) -> np.ndarray:
        """Nominal frames of each item (before the optional length coin), for LengthBucketSampler."""
        return np.array([self._nominal_length(self._samples[i]) for i, _ in self._items], dtype=np.int64)

    def set_epoch(self, epoch: int) -> None:
        self._epoch = int(epoch)
        self._visits[:] = 0

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> dict:
        index = range(len(self._items))[index]  # negative indices, and IndexError past the end
        sample_index, caption = self._items[index]
        sample = self._samples[sample_index]
        rng = np.random.default_rng((self.seed, self._epoch, index, int(self._visits[index])))
        self._visits[index] += 1
        length = self._nominal_length(sample)
        if self.crop_frames is None and self.length_coin and length > self.unit_length and rng.integers(3) == 0:
            length -= self.unit_length  # HumanML3D's "double" coin: one unit shorter a third of the time
        offset = sample.start + int(rng.integers(0, sample.frames - length + 1))
        if caption is None:
            caption = sample.captions[int(rng.integers(len(sample.captions)))]
        return dict(
            features=torch.from_numpy(self._frames(sample.clip, offset, offset + length)),
            length=length,
            caption=caption,
            name=sample.name,
        )

    def _nominal_length(self, sample: _Sample) -> int:
        if self.crop_frames is not None:
            return self.crop_frames
        capped = min(sample.frames, self.max_frames)
        return capped // self.unit_length * self.unit_length

    def _frames(self, clip: int, start: int, stop: int) -> np.ndarray:
        if self._clip_data is not None:
            return self._clip_data[clip][start:stop].copy()
        return self._normalized(np.load(self._clip_paths[clip], mmap_mode="r")[start:stop])


def collate_motions(items: Sequence[dict], *, pad_to: int | None = None) -> dict:
    """Batch dataset items: features (B, Tmax, D) zero-padded, lengths (B,) long, captions, names.

    `pad_to` pads to at least that many frames (e.g. a fixed 196 window)."""
    lengths = torch.tensor([int(item["length"]) for item in items], dtype=torch.long)
    frames = max(int(lengths.max()), pad_to or 0)
    dim = items[0]["features"].shape[-1]
    features_BTD = torch.zeros(len(items), frames, dim, dtype=torch.float32)
    for row, item in enumerate(items):
        features_BTD[row, : int(item["length"])] = torch.as_tensor(item["features"], dtype=torch.float32)
    return dict(
        features=features_BTD,
        lengths=lengths,
        captions=[item["caption"] for item in items],
        names=[item["name"] for item in items],
    )


# ----------------------------------------------------------------------------------------------------------------------
# Batching by length


class LengthBucketSampler(Sampler[list[int]]):
    """Batches of similar length: indices are shuffled, split into pools of `pool_batches` batches, sorted by length
    inside each pool and cut into batches, and the batch order is shuffled. Deterministic given (seed, epoch);
    call `set_epoch(e)` each epoch. Use as `DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_motions)`.

    Under DDP every rank builds the same global batch list and takes every `num_replicas`-th batch, so shards are
    disjoint; without drop_last the list is padded by repeating its first batches so all ranks get as many batches.
    `shuffle=False` sorts everything by length (least padding, for evaluation).

    `repeats[i]` (default 1) is how often item i comes per epoch: oversampling a rare source (`source_repeats`). The
    dataset draws each visit's crop afresh, so the repeats are different crops of the clip."""

    def __init__(
        self,
        lengths: Sequence[int] | np.ndarray,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        *,
        num_replicas: int | None = None,
        rank: int | None = None,
        pool_batches: int = 50,
        repeats: Sequence[int] | np.ndarray | None = None,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        if num_replicas is None:
            num_replicas = torch.distributed.get_world_size() if distributed else 1
        if rank is None:
            rank = torch.distributed.get_rank() if distributed else 0
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} outside [0, {num_replicas})")
        self.lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
        repeats = np.ones(len(self.lengths), np.int64) if repeats is None else np.asarray(repeats, np.int64).reshape(-1)
        if repeats.shape != self.lengths.shape or (repeats < 0).any():
            raise ValueError(f"repeats must be {len(self.lengths)} non-negative counts, got shape {repeats.shape}")
        self.items = np.repeat(np.arange(len(self.lengths)), repeats)  # one entry per visit in an epoch
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.num_replicas = num_replicas
        self.rank = rank
        self.pool_batches = max(1, pool_batches)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _global_batches(self) -> list[list[int]]:
        count = len(self.items)
        if self.shuffle:
            rng = np.random.default_rng((self.seed, self.epoch))
            order = self.items[rng.permutation(count)]
            # A pool is a multiple of batch_size, so only the very last batch can be short.
            pool = self.batch_size * self.pool_batches
            pools = [order[s : s + pool] for s in range(0, count, pool)]
            order = np.concatenate([p[np.argsort(self.lengths[p], kind="stable")] for p in pools]) if pools else order
        else:
            order = self.items[np.argsort(self.lengths[self.items], kind="stable")]
        batches = [order[s : s + self.batch_size].tolist() for s in range(0, count, self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._global_batches()
        replicas = self.num_replicas
        if replicas > 1 and batches:
            if self.drop_last:
                batches = batches[: len(batches) // replicas * replicas]
            else:
                while len(batches) % replicas:
                    batches = batches + batches[: replicas - len(batches) % replicas]
        yield from batches[self.rank :: replicas]

    def __len__(self) -> int:
        count = len(self.items)
        batches = count // self.batch_size + (0 if self.drop_last or count % self.batch_size == 0 else 1)
        if self.drop_last:
            return batches // self.num_replicas
        return -(-batches // self.num_replicas)


def clip_source(name: str) -> str:
    """The data source of a clip: its name's prefix before the first "_" (`moscale data build` names clips
    SOURCE_..., e.g. bandai2_walk_normal_001_w00, cmu_05_04_w00)."""
    return name.split("_", 1)[0]


def source_repeats(names: Sequence[str], oversample: dict[str, int]) -> np.ndarray:
    """Per-clip visit counts for `LengthBucketSampler(repeats=...)`: `oversample[source]` for that source's clips, 1
    for the rest. Raises if a named source has no clip (a typo would otherwise silently oversample nothing)."""
    sources = [clip_source(name) for name in names]
    missing = sorted(set(oversample) - set(sources))
    if missing:
        raise ValueError(f"oversample: no clips of source(s) {missing}; sources here: {sorted(set(sources))}")
    if any(int(n) < 1 for n in oversample.values()):
        raise ValueError(f"oversample counts must be >= 1, got {oversample}")
    return np.array([int(oversample.get(source, 1)) for source in sources], dtype=np.int64)
