"""Rotary position embeddings at real-valued positions (a token of a coarse scale sits at its span's centre), shared
by the transformer and the tokenizer's attention blocks."""
from __future__ import annotations

import torch


def rope_cos_sin(pos_BL: torch.Tensor, head_dim: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos, sin) each (B, 1, L, head_dim) for real-valued positions."""
    inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32, device=pos_BL.device) / head_dim)
    angles_BLh = pos_BL.float()[..., None] * inv_freq
    angles_BLd = torch.cat([angles_BLh, angles_BLh], dim=-1)
    return angles_BLd.cos().unsqueeze(1), angles_BLd.sin().unsqueeze(1)


def apply_rope(x_BHLd: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x_BHLd.shape[-1] // 2
    rotated = torch.cat([-x_BHLd[..., half:], x_BHLd[..., :half]], dim=-1)
    return x_BHLd * cos + rotated * sin
