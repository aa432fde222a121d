"""A tiny random corpus in the HumanML3D layout for the trainers' tests (features are random walks, not motion)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np


def write_random_corpus(data: Path, count: int, frames: tuple[int, int], caption: Callable[[int], str],
                        val: int = 0, seed: int = 0) -> list[str]:
    """`count` clips clip00.. of `frames` (low, high) frames with the texts `caption(i)` (raw lines of a texts/ file,
    without the trailing newline); the last `val` clips form val.txt, the rest train.txt; Mean 0, Std 5."""
    (data / "new_joint_vecs").mkdir(parents=True)
    (data / "texts").mkdir()
    rng = np.random.default_rng(seed)
    names = [f"clip{i:02d}" for i in range(count)]
    for i, name in enumerate(names):
        length = int(rng.integers(*frames))
        np.save(data / "new_joint_vecs" / f"{name}.npy", np.cumsum(rng.normal(size=(length, 263)), 0).astype(np.float32))
        (data / "texts" / f"{name}.txt").write_text(caption(i) + "\n")
    (data / "train.txt").write_text("\n".join(names[:count - val]) + "\n")
    if val:
        (data / "val.txt").write_text("\n".join(names[count - val:]) + "\n")
    np.save(data / "Mean.npy", np.zeros(263, np.float32))
    np.save(data / "Std.npy", np.full(263, 5.0, np.float32))
    return names
