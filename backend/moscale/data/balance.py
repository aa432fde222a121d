"""Action-balanced sampling: rare actions visited more often in training, without flooding it with their copies.

    groups = window_groups(corpus_dir, dataset.names)     # window -> the behaviour it teaches ('push-up', 'walk x140')
    repeats = balanced_repeats(groups, power=0.5, cap=16)  # per-window visits per epoch, for LengthBucketSampler

The corpus is long-tailed: a thousand windows of runs, waves and idle standing against three or four of push-ups,
getting up or jumping jacks (one recording each). Drawn uniformly, a push-up window comes once in ~2,000 draws, too
seldom for a small model to keep it. Each window is visited (largest group / its group) ** power times per epoch,
rounded, at most `cap`: power 0 is uniform, 1 would make every group as frequent as the largest; 0.5 is the usual
middle ("square-root sampling", as in long-tailed classification). Source oversampling (`--oversample`) multiplies.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

from moscale.data.corpus import GAIT_SPEED_FACTORS

MANIFEST = "manifest.json"
# A plain walk's variants captioned from its joints teach another behaviour than the walk (a quick walk, a circle),
# so they are groups of their own; a new action's speed variants (corpus.SPEED_FACTORS) stay that action.
OWN_GROUP_VARIANTS = tuple(f"x{round(factor * 100)}" for factor in GAIT_SPEED_FACTORS) + ("circle",)


def window_group(action: str, recording: str, window: str) -> str:
    """The behaviour a corpus window teaches: its recording's action, or the action and the variant for a variant
    of OWN_GROUP_VARIANTS ('walk x140', 'walk circle'). Windows are named RECORDING[_VARIANT]_wNN[_mirror]."""
    variant = window[len(recording):].lstrip("_").split("_")[0] if window.startswith(recording) else ""
    return f"{action} {variant}" if variant in OWN_GROUP_VARIANTS else action


def window_groups(corpus_dir: str | Path, names: Sequence[str]) -> list[str]:
    """The group of each window in `names` from the corpus's manifest (`moscale data build` writes it). Windows the
    manifest does not list (a corpus built by another tool, compound clips) are grouped by their source prefix."""
    path = Path(corpus_dir) / MANIFEST
    if not path.is_file():
        raise ValueError(f"{corpus_dir}: no {MANIFEST} to read the windows' actions from (a corpus built by "
                         f"`moscale data build` has one); train without balancing")
    group_of = {}
    for entry in json.loads(path.read_text(encoding="utf-8")):
        for window in entry.get("windows") or ():
            group_of[window] = window_group(str(entry.get("action") or entry.get("source")), entry["name"], window)
    return [group_of.get(name, "source " + name.split("_", 1)[0]) for name in names]


def balanced_repeats(groups: Sequence[str], power: float, cap: int) -> np.ndarray:
    """(N,) visits per epoch of each window: round((largest group's size / its group's size) ** power), 1 to cap."""
    if not 0.0 <= power <= 1.0:
        raise ValueError(f"balance power must be within [0, 1], got {power}")
    if cap < 1:
        raise ValueError(f"balance cap must be >= 1, got {cap}")
    if not groups:
        return np.zeros(0, dtype=np.int64)
    sizes = Counter(groups)
    largest = max(sizes.values())
    visits = {group: int(min(cap, max(1, round((largest / size) ** power)))) for group, size in sizes.items()}
    return np.array([visits[group] for group in groups], dtype=np.int64)


def group_table(groups: Sequence[str], repeats: np.ndarray, rows: int = 6) -> str:
    """A line for the training log: windows and visits per epoch of the largest and smallest groups."""
    sizes = Counter(groups)
    visits = Counter()
    for group, count in zip(groups, repeats.tolist()):
        visits[group] += count
    ranked = [group for group, _ in sizes.most_common()]
    shown = ranked[: rows // 2] + ranked[-(rows - rows // 2):] if len(ranked) > rows else ranked
    return ", ".join(f"{group} {sizes[group]} -> {visits[group]}" for group in shown)
