"""One loader for every text-motion evaluator: our own folder, or Guo et al.'s original checkpoint."""
from __future__ import annotations

from pathlib import Path

import torch

from moscale.evaluation.evaluator import CONFIG_FILE, WEIGHTS_FILE, Embedder, TextMotionEvaluator
from moscale.evaluation.guo import GuoEvaluator, find_guo_checkpoint


def load_evaluator(path: str | Path, *, device: str | torch.device = "cpu", glove: str | Path | None = None,
                   mean=None, std=None) -> Embedder:
    """Our evaluator folder, or Guo et al.'s checkpoint (`text_mot_match/model/finest.tar`, or a folder holding it)
    with their GloVe vectors (`glove`) and feature normalisation (`mean`, `std`: arrays or .npy paths)."""
    path = Path(path)
    if path.is_dir() and (path / CONFIG_FILE).is_file():
        return TextMotionEvaluator.from_pretrained(path, map_location=device)
    checkpoint = find_guo_checkpoint(path)
    if checkpoint is None:
        raise FileNotFoundError(f"{path}: neither a MoScale evaluator folder ({CONFIG_FILE}, {WEIGHTS_FILE}) nor a "
                                f"Guo et al. evaluator checkpoint (text_mot_match/model/finest.tar)")
    if glove is None or mean is None or std is None:
        raise ValueError("Guo et al.'s evaluator also needs their GloVe folder (our_vab_data.npy, our_vab_words.pkl, "
                         "our_vab_idx.pkl) and the feature mean/std it was trained with")
    return GuoEvaluator.from_files(checkpoint, glove, mean, std, device=device)
