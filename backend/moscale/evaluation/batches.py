"""Batches of variable-length motions, shared by our evaluator and Guo et al.'s."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch



def as_motion_list(features, lengths=None) -> tuple[list[np.ndarray | torch.Tensor], np.ndarray]:
    """A list of (T_i, D) motions and their lengths, from a list or from a padded (N, T, D) array with lengths."""
    if isinstance(features, (list, tuple)):
        motions = list(features)
        if lengths is None:
            lengths = [len(m) for m in motions]
    else:
        if lengths is None:
            lengths = [features.shape[1]] * features.shape[0]
        motions = [features[i] for i in range(features.shape[0])]
    lengths = np.asarray(torch.as_tensor(lengths).cpu(), dtype=np.int64).reshape(-1)
    if len(lengths) != len(motions):
        raise ValueError(f"{len(motions)} motions but {len(lengths)} lengths")
    if any(length > len(m) for m, length in zip(motions, lengths)):
        raise ValueError("a length exceeds its motion's frames")
    return [m[:length] for m, length in zip(motions, lengths)], lengths


def pad_motions(motions: Sequence, device, min_frames: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-padded (B, T, D) float32 batch and (B,) lengths."""
    lengths_B = torch.tensor([len(m) for m in motions], dtype=torch.long)
    frames = max(int(lengths_B.max()), min_frames)
    batch_BTD = torch.zeros(len(motions), frames, motions[0].shape[-1])
    for row, motion in enumerate(motions):
        batch_BTD[row, :len(motion)] = torch.as_tensor(np.asarray(motion), dtype=torch.float32)
    return batch_BTD.to(device), lengths_B.to(device)
