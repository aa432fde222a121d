"""A tiny random corpus in the HumanML3D layout for the trainers' tests (features are random walks, not motion)."""
from __future__ import annotations

import argparse
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


def generator_cli(workspace: Path, out: Path, *extra: str, log_every: int, save_every: int, val_clips: int
                  ) -> argparse.Namespace:
    """`moscale train generator` arguments for a tiny run on a test workspace (data/, tokenizer/, text/ in it)."""
    from moscale.train import generator as train_generator

    parser = argparse.ArgumentParser()
    train_generator.configure_parser(parser)
    return parser.parse_args([
        "--data", str(workspace / "data"), "--tokenizer", str(workspace / "tokenizer"), "--out", str(out),
        "--text-encoder", str(workspace / "text"), "--max-frames", "64", "--layers", "1", "--width", "32",
        "--heads", "2", "--batch-size", "4", "--log-every", str(log_every), "--save-every", str(save_every),
        "--val-clips", str(val_clips), "--no-progress", "--threads", "1", *extra])
