"""The scale schedule and everything derived from it, as small pure functions (VAR-style).

Vocabulary:
- frames: motion frames at 20 fps (the tokenizer's input and output).
- latent steps (N): the encoder's output grid, `DOWNSAMPLE` (4) frames per step. `latent_length(196) == 49`.
- scale k: the k-th entry of the schedule, coarse to fine. Its tokens (L_k) live on the latent grid downsampled by the
  factor `factors[k]`: `token_length(49, 8) == 6`, ... , `token_length(49, 1) == 49`.
- a token layout (`lengths`): the tuple of token counts per scale, e.g. (6, 12, 24, 49); the transformer's sequence is the
  concatenation of the scales, `begin_end(lengths)` gives each scale's slice.

Frames -> latent steps rounds UP (ceil): every frame belongs to exactly one latent step, the encoder sees a clip zero-padded
to a multiple of 4, and the decoder produces `4 * N >= frames` frames that are cropped back to `frames`. Latent steps ->
tokens rounds DOWN (floor, at least one token), as in the paper (49 -> 6, 12, 24, 49).

Per-sample resampling between the latent grid and a scale's token grid is done with explicit matrices (`area_downsample_matrix`,
`linear_upsample_matrix`), zero outside each sample's valid region. Applied with `torch.bmm`, a batch of clips of different
lengths gives every clip exactly what it would get alone: padding never changes a valid frame's result.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

SCALE_FACTORS: tuple[int, ...] = (8, 4, 2, 1)  # latent downsampling factor per scale, coarse -> fine
DOWNSAMPLE = 4  # frames per latent step


# ---------------------------------------------------------------------------------------------------------------------
# lengths


def latent_length(frames: int, downsample: int = DOWNSAMPLE) -> int:
    """Latent steps for a clip of `frames` frames: ceil(frames / downsample). 196 -> 49, 40 -> 10, 42 -> 11."""
    if frames < 1:
        raise ValueError(f"a clip needs at least one frame, got {frames}")
    return -(-int(frames) // downsample)


def token_length(latent_len: int, factor: int) -> int:
    """Tokens of one scale: max(1, latent_len // factor)."""
    return max(1, int(latent_len) // factor)


def token_lengths(latent_len: int, factors: tuple[int, ...] = SCALE_FACTORS) -> tuple[int, ...]:
    """Tokens per scale for one clip. 49 -> (6, 12, 24, 49); 10 -> (1, 2, 5, 10)."""
    return tuple(token_length(latent_len, f) for f in factors)


def total_tokens(latent_len: int, factors: tuple[int, ...] = SCALE_FACTORS) -> int:
    """Length of the concatenated token sequence. 49 -> 91."""
    return sum(token_lengths(latent_len, factors))


def token_counts(
    frame_lengths_B: torch.Tensor, factors: tuple[int, ...] = SCALE_FACTORS, downsample: int = DOWNSAMPLE
) -> torch.Tensor:
    """Valid tokens per sample and scale, (B, K) int64 on the input's device, for clips of `frame_lengths_B` frames."""
    latent_B1 = latent_lengths(frame_lengths_B, downsample)[:, None]
    factors_K = torch.tensor(factors, dtype=torch.long, device=frame_lengths_B.device)
    return torch.clamp(latent_B1 // factors_K[None, :], min=1)


def latent_lengths(frame_lengths_B: torch.Tensor, downsample: int = DOWNSAMPLE) -> torch.Tensor:
    """Valid latent steps per sample, (B,) int64."""
    return (frame_lengths_B.long() + downsample - 1) // downsample


# ---------------------------------------------------------------------------------------------------------------------
# the concatenated token sequence


def begin_end(lengths: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """(begin, end) of each scale inside the concatenated sequence. (6, 12, 24, 49) -> ((0, 6), (6, 18), (18, 42), (42, 91))."""
    ends = np.cumsum(lengths).tolist()
    return tuple((end - n, end) for n, end in zip(lengths, ends))


def level_ids(lengths: tuple[int, ...]) -> torch.Tensor:
    """Scale index of every position of the concatenated sequence, (L,) int64. (2, 3) -> [0, 0, 1, 1, 1]."""
    return torch.cat([torch.full((n,), k, dtype=torch.long) for k, n in enumerate(lengths)])


def block_causal_mask(lengths: tuple[int, ...]) -> torch.Tensor:
    """(L, L) bool, True where query i may attend to key j: bidirectional within a scale, causal across scales."""
    level_L = level_ids(lengths)
    return level_L[:, None] >= level_L[None, :]


def valid_token_mask(counts_BK: torch.Tensor, lengths: tuple[int, ...]) -> torch.Tensor:
    """(B, L) bool over the concatenated sequence laid out with `lengths` (the batch's padded token lengths):
    True on each sample's valid tokens (`counts_BK` from `token_counts`), False on padding."""
    parts = [torch.arange(n)[None, :] < counts_BK[:, k : k + 1] for k, n in enumerate(lengths)]
    return torch.cat(parts, dim=1)


def token_positions(latent_len: int, factors: tuple[int, ...] = SCALE_FACTORS) -> torch.Tensor:
    """Centre of every token of the concatenated sequence on the finest (latent) grid, (L,) float32, for RoPE.

    Token i of a scale with L_k tokens covers latent steps [i * N / L_k, (i + 1) * N / L_k); its centre is
    (i + 0.5) * N / L_k - 0.5, so the finest scale's positions are 0, 1, ..., N - 1."""
    parts = []
    for n in token_lengths(latent_len, factors):
        parts.append((torch.arange(n, dtype=torch.float64) + 0.5) * latent_len / n - 0.5)
    return torch.cat(parts).float()


def window_token_mask(latent_len: int, begin: int, end: int, factor: int, min_overlap: float = 0.5) -> torch.Tensor:
    """(L_k,) bool: tokens of one scale whose span overlaps the latent window [begin, end) by more than `min_overlap`
    of the token's own span (used by editing to decide which tokens are re-predicted)."""
    n = token_length(latent_len, factor)
    starts = torch.arange(n, dtype=torch.float64) * latent_len / n
    stops = starts + latent_len / n
    overlap = (torch.clamp(stops, max=end) - torch.clamp(starts, min=begin)).clamp(min=0)
    return overlap > min_overlap * (latent_len / n)


# ---------------------------------------------------------------------------------------------------------------------
# resampling operators between the latent grid (N) and one scale's token grid (L)


@lru_cache(maxsize=4096)
def _area_downsample_np(n_latent: int, n_tokens: int) -> np.ndarray:
    # Same bins as torch's adaptive_avg_pool1d / interpolate(mode="area"): bin i averages [floor(iN/L), ceil((i+1)N/L)).
    matrix = np.zeros((n_tokens, n_latent), dtype=np.float32)
    for i in range(n_tokens):
        start = (i * n_latent) // n_tokens
        stop = -(-((i + 1) * n_latent) // n_tokens)
        matrix[i, start:stop] = 1.0 / (stop - start)
    return matrix


@lru_cache(maxsize=4096)
def _linear_upsample_np(n_tokens: int, n_latent: int) -> np.ndarray:
    # Same weights as torch's interpolate(mode="linear", align_corners=False).
    matrix = np.zeros((n_latent, n_tokens), dtype=np.float32)
    scale = n_tokens / n_latent
    for j in range(n_latent):
        source = max((j + 0.5) * scale - 0.5, 0.0)
        left = min(int(math.floor(source)), n_tokens - 1)
        right = min(left + 1, n_tokens - 1)
        weight = source - left
        matrix[j, left] += 1.0 - weight
        matrix[j, right] += weight
    return matrix


def area_downsample_matrix(n_latent: int, n_tokens: int) -> torch.Tensor:
    """(n_tokens, n_latent) float32: token = mean of the latent steps in its bin."""
    return torch.from_numpy(_area_downsample_np(n_latent, n_tokens))


def linear_upsample_matrix(n_tokens: int, n_latent: int) -> torch.Tensor:
    """(n_latent, n_tokens) float32: linear interpolation of the tokens back onto the latent grid."""
    return torch.from_numpy(_linear_upsample_np(n_tokens, n_latent))


def scale_operators(
    latent_lengths_B: torch.Tensor, factor: int, max_latent: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample resampling matrices for one scale, padded to the batch grid.

    Returns (down_BLN, up_BNL) with L = token_length(max_latent, factor) and N = max_latent: `down_BLN @ x_BNC` maps latent
    vectors to this scale's tokens, `up_BNL @ z_BLC` maps tokens back. Rows and columns beyond a sample's own valid latent
    steps and tokens are zero, so padded entries of x or z never reach valid ones and padded outputs are exactly zero."""
    n_tokens_max = token_length(max_latent, factor)
    unique, inverse = torch.unique(latent_lengths_B.cpu(), return_inverse=True)
    down_ULN = torch.zeros(len(unique), n_tokens_max, max_latent)
    up_UNL = torch.zeros(len(unique), max_latent, n_tokens_max)
    for u, n in enumerate(unique.tolist()):
        if not 1 <= n <= max_latent:
            raise ValueError(f"latent length {n} outside 1..{max_latent}")
        n_tokens = token_length(n, factor)
        down_ULN[u, :n_tokens, :n] = area_downsample_matrix(n, n_tokens)
        up_UNL[u, :n, :n_tokens] = linear_upsample_matrix(n_tokens, n)
    return down_ULN[inverse], up_UNL[inverse]
