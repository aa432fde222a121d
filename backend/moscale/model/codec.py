"""The tokenizer's encoder and decoder: 1D conv-ResNets with 4x temporal down/upsampling (optionally with attention).

Every layer multiplies its output by the per-sample length mask, so a clip's latents do not depend on what else is in
the batch.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from moscale.model.rope import apply_rope, rope_cos_sin
from moscale.model.tokenizer_config import TokenizerConfig
from moscale.motion.skeleton import NUM_JOINTS, RIC_SLICE


# ---------------------------------------------------------------------------------------------------------------------
# masks


def pelvis_aligned_joints(raw_BTD: torch.Tensor) -> torch.Tensor:
    """(B, T, 263) unnormalised features -> (B, T, 21, 3) joints 1..21 relative to the pelvis, in metres, with the root
    yaw integrated from the start of the clip: `moscale.motion.features.features_to_joints` minus the pelvis, differentiable.
    Frame t's facing turns by twice the sum of the half-angle velocities of frames 0..t-1, so padding after a clip's
    last frame never reaches its valid frames."""
    cos, sin = (c[..., None] for c in _facing(raw_BTD))
    ric = raw_BTD[..., RIC_SLICE].unflatten(-1, (NUM_JOINTS - 1, 3))
    x, y, z = ric.unbind(-1)
    height = raw_BTD[..., 3:4]  # the last root channel
    x, z = _unturn(x, z, cos, sin)
    return torch.stack([x, y - height, z], dim=-1)


def root_track(raw_BTD: torch.Tensor) -> torch.Tensor:
    """(B, T, 263) unnormalised features -> (B, T, 2) the root's (x, z) on the floor from the clip's first frame, in
    metres: `moscale.motion.features.recover_root`, differentiable. The step from frame t to t + 1 is frame t's
    velocity channels turned out of frame t + 1's facing, so padding after a clip never reaches its valid frames."""
    cos, sin = (c[:, 1:] for c in _facing(raw_BTD))
    steps = torch.stack(_unturn(raw_BTD[:, :-1, 1], raw_BTD[:, :-1, 2], cos, sin), dim=-1)
    return torch.cat([torch.zeros_like(steps[:, :1]), torch.cumsum(steps, dim=1)], dim=1)


def _facing(raw_BTD: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos, sin) (B, T) of each frame's facing angle, twice the sum of the half-angle velocities of the frames before
    it (exclusive: frame 0 faces +Z)."""
    angle = 2 * (torch.cumsum(raw_BTD[..., 0], dim=-1) - raw_BTD[..., 0])
    return torch.cos(angle), torch.sin(angle)


def _unturn(x, z, cos, sin) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, z) out of the facing frame: un-rotating by the facing (a turn of +angle about +Y) is a turn of -angle."""
    return x * cos - z * sin, x * sin + z * cos


def frame_mask(lengths_B: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 1, size) float mask, 1 on the first `lengths_B[b]` steps."""
    steps = torch.arange(size, device=lengths_B.device)
    return (steps[None, :] < lengths_B[:, None]).unsqueeze(1).float()


def level_lengths(lengths_B: torch.Tensor, level: int) -> torch.Tensor:
    """Valid steps after `level` stride-2 layers: ceil(T / 2**level)."""
    return (lengths_B + 2**level - 1) // 2**level

# ---------------------------------------------------------------------------------------------------------------------
# encoder / decoder


class ResBlock(nn.Module):
    """ReLU -> dilated conv(3) -> ReLU -> conv(1), residual; masked after every conv."""

    def __init__(self, width: int, dilation: int):
        super().__init__()
        self.conv_dilated = nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation)
        self.conv_point = nn.Conv1d(width, width, 1)

    def forward(self, x_BWT: torch.Tensor, mask_B1T: torch.Tensor) -> torch.Tensor:
        h = self.conv_dilated(F.relu(x_BWT)) * mask_B1T
        h = self.conv_point(F.relu(h)) * mask_B1T
        return x_BWT + h


class ResStack(nn.Module):
    def __init__(self, width: int, depth: int, growth: int, reverse: bool):
        super().__init__()
        dilations = [growth**i for i in range(depth)]
        self.blocks = nn.ModuleList(ResBlock(width, d) for d in (dilations[::-1] if reverse else dilations))

    def forward(self, x_BWT: torch.Tensor, mask_B1T: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x_BWT = block(x_BWT, mask_B1T)
        return x_BWT


class AttentionBlock(nn.Module):
    """Pre-norm self-attention over time (RoPE on step indices, padding keys masked, a sigmoid gate per head) and a
    pre-norm GELU feed-forward, both residual; padding steps stay zero."""

    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        if width % heads or (width // heads) % 2:
            raise ValueError(f"width {width} must split into {heads} heads of even width")
        self.heads, self.dropout = heads, dropout
        self.norm_attn = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.gate = nn.Linear(width, heads)
        self.proj = nn.Linear(width, width)
        self.norm_ffn = nn.LayerNorm(width)
        self.ffn = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(4 * width, width), nn.Dropout(dropout))

    def forward(self, x_BWT: torch.Tensor, mask_B1T: torch.Tensor) -> torch.Tensor:
        x_BTW = x_BWT.transpose(1, 2)
        B, T, W = x_BTW.shape
        h_BTW = self.norm_attn(x_BTW)
        q, k, v = self.qkv(h_BTW).view(B, T, 3, self.heads, W // self.heads).permute(2, 0, 3, 1, 4)  # (B, H, T, d)
        rope = rope_cos_sin(torch.arange(T, device=x_BWT.device)[None].expand(B, -1), W // self.heads, 10000.0)
        q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        keys_B11T = mask_B1T.bool()[:, None]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=keys_B11T,
                                           dropout_p=self.dropout if self.training else 0.0)
        y = y * torch.sigmoid(self.gate(h_BTW)).transpose(1, 2)[..., None]  # (B, H, T, 1) gate per head and step
        x_BTW = x_BTW + self.proj(y.transpose(1, 2).reshape(B, T, W))
        x_BTW = x_BTW + self.ffn(self.norm_ffn(x_BTW))
        return x_BTW.transpose(1, 2) * mask_B1T


def attention_blocks(config: TokenizerConfig) -> nn.ModuleList:
    """One attention block per resolution, or none."""
    count = config.num_downsamples if config.attention else 0
    return nn.ModuleList(AttentionBlock(config.width, config.attention_heads, config.dropout) for _ in range(count))


class Encoder(nn.Module):
    def __init__(self, config: TokenizerConfig):
        super().__init__()
        w = config.width
        self.conv_in = nn.Conv1d(config.feature_dim, w, 3, padding=1)
        self.downs = nn.ModuleList(nn.Conv1d(w, w, 4, stride=2, padding=1) for _ in range(config.num_downsamples))
        self.stacks = nn.ModuleList(
            ResStack(w, config.depth, config.dilation_growth, reverse=False) for _ in range(config.num_downsamples)
        )
        self.attention = attention_blocks(config)
        self.conv_out = nn.Conv1d(w, config.code_dim, 3, padding=1)

    def forward(self, x_BDT: torch.Tensor, lengths_B: torch.Tensor) -> torch.Tensor:
        # x_BDT is zero beyond each length and its time size is a multiple of the total downsampling.
        mask = frame_mask(lengths_B, x_BDT.shape[-1])
        h = F.relu(self.conv_in(x_BDT)) * mask
        for level, (down, stack) in enumerate(zip(self.downs, self.stacks), start=1):
            h = down(h)
            mask = frame_mask(level_lengths(lengths_B, level), h.shape[-1])
            h = stack(h * mask, mask)
            if self.attention:
                h = self.attention[level - 1](h, mask)
        return self.conv_out(h) * mask  # (B, C, N)


class Decoder(nn.Module):
    def __init__(self, config: TokenizerConfig):
        super().__init__()
        w = config.width
        self.num_upsamples = config.num_downsamples
        self.conv_in = nn.Conv1d(config.code_dim, w, 3, padding=1)
        self.stacks = nn.ModuleList(
            ResStack(w, config.depth, config.dilation_growth, reverse=True) for _ in range(config.num_downsamples)
        )
        self.ups = nn.ModuleList(nn.Conv1d(w, w, 3, padding=1) for _ in range(config.num_downsamples))
        self.attention = attention_blocks(config)
        self.conv_mid = nn.Conv1d(w, w, 3, padding=1)
        self.conv_out = nn.Conv1d(w, config.feature_dim, 3, padding=1)

    def forward(self, z_BCN: torch.Tensor, lengths_B: torch.Tensor) -> torch.Tensor:
        level = self.num_upsamples
        mask = frame_mask(level_lengths(lengths_B, level), z_BCN.shape[-1])
        h = F.relu(self.conv_in(z_BCN)) * mask
        for i, (stack, up) in enumerate(zip(self.stacks, self.ups)):
            h = stack(h, mask)
            level -= 1
            h = F.interpolate(h, scale_factor=2, mode="nearest")
            mask = frame_mask(level_lengths(lengths_B, level), h.shape[-1])
            h = up(h * mask) * mask
            if self.attention:
                h = self.attention[i](h, mask)
        h = F.relu(self.conv_mid(h)) * mask
        return self.conv_out(h) * mask  # (B, D, T)
