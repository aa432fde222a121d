"""The tokenizer's shared codebook: nearest-code lookup, EMA updates (no gradient) and dead-code reset, DDP-aware."""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from moscale.model.tokenizer_config import TokenizerConfig



def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class SharedCodebook(nn.Module):
    """One codebook for all scales, updated by exponential moving averages of the vectors assigned to each code.

    Under torch.distributed the per-step counts and sums are all-reduced and dead-code replacements come from rank 0, so
    every replica keeps an identical codebook."""

    def __init__(self, config: TokenizerConfig):
        super().__init__()
        self.decay = config.ema_decay
        self.threshold = config.dead_code_threshold
        k, c = config.codebook_size, config.code_dim
        self.register_buffer("codebook", torch.zeros(k, c))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))
        self.register_buffer("ema_count", torch.zeros(k))
        self.register_buffer("ema_sum", torch.zeros(k, c))
        self.register_buffer("recent", torch.zeros(config.reset_buffer_size, c))
        self.register_buffer("recent_filled", torch.zeros((), dtype=torch.long))
        self.register_buffer("recent_next", torch.zeros((), dtype=torch.long))

    TRAINING_ONLY = ("initialized", "ema_count", "ema_sum", "recent", "recent_filled", "recent_next")

    @property
    def size(self) -> int:
        return self.codebook.shape[0]

    def nearest(self, x_MC: torch.Tensor) -> torch.Tensor:
        """Index of the closest code (squared L2) for each row, (M,) int64."""
        distance_MK = (
            x_MC.pow(2).sum(1, keepdim=True) - 2 * x_MC @ self.codebook.t() + self.codebook.pow(2).sum(1)[None, :]
        )
        return distance_MK.argmin(dim=1)

    def lookup(self, idx: torch.Tensor) -> torch.Tensor:
        return F.embedding(idx, self.codebook)

    @torch.no_grad()
    def update(self, x_MC: torch.Tensor, idx_M: torch.Tensor) -> dict[str, float]:
        """One training step: initialise on first use, EMA-update the assigned codes, remember x, reset dead codes."""
        if not bool(self.initialized):
            self._initialize(x_MC)
            idx_M = self.nearest(x_MC)
        count_K = torch.bincount(idx_M, minlength=self.size).to(x_MC.dtype)
        sum_KC = torch.zeros_like(self.codebook).index_add_(0, idx_M, x_MC)
        if _distributed():
            dist.all_reduce(count_K)
            dist.all_reduce(sum_KC)
        self.ema_count.mul_(self.decay).add_(count_K, alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(sum_KC, alpha=1 - self.decay)
        total = self.ema_count.sum()
        smoothed_K = (self.ema_count + 1e-5) / (total + self.size * 1e-5) * total  # Laplace smoothing, no division by 0
        self.codebook.copy_(self.ema_sum / smoothed_K[:, None])
        self._remember(x_MC)
        num_reset = self._reset_dead_codes()
        return {**self.usage(count_K), "reset": float(num_reset)}

    def usage(self, count_K: torch.Tensor) -> dict[str, float]:
        """Perplexity and used fraction of a batch's code counts (K,)."""
        probs = count_K / count_K.sum().clamp(min=1)
        perplexity = torch.exp(-(probs * torch.log(probs.clamp(min=1e-10))).sum())
        return {"perplexity": float(perplexity), "used": float((count_K > 0).float().mean())}

    def _initialize(self, x_MC: torch.Tensor) -> None:
        pick = torch.randint(0, x_MC.shape[0], (self.size,), device=x_MC.device)
        codes = x_MC[pick] + 1e-3 * x_MC.std() * torch.randn_like(x_MC[pick])
        if _distributed():
            dist.broadcast(codes, src=0)
        self.codebook.copy_(codes)
        self.ema_sum.copy_(codes)
        self.ema_count.fill_(1.0)
        self.initialized.fill_(True)

    def _remember(self, x_MC: torch.Tensor) -> None:
        capacity = self.recent.shape[0]
        keep = x_MC[torch.randperm(x_MC.shape[0], device=x_MC.device)[:capacity]]
        slots = (self.recent_next + torch.arange(keep.shape[0], device=x_MC.device)) % capacity
        self.recent[slots] = keep
        self.recent_next.copy_((self.recent_next + keep.shape[0]) % capacity)
        self.recent_filled.copy_(torch.clamp(self.recent_filled + keep.shape[0], max=capacity))

    def _reset_dead_codes(self) -> int:
        dead_K = self.ema_count < self.threshold
        num_dead = int(dead_K.sum())
        if num_dead == 0 or int(self.recent_filled) == 0:
            return 0
        pick = torch.randint(0, int(self.recent_filled), (num_dead,), device=self.recent.device)
        replacement = self.recent[pick].clone()
        if _distributed():
            dist.broadcast(replacement, src=0)
        self.codebook[dead_K] = replacement
        self.ema_sum[dead_K] = replacement
        self.ema_count[dead_K] = 1.0
        return num_dead
