"""Multi-scale residual VQ-VAE motion tokenizer (MoScale's "hierarchical residual VQ-VAE").

features (B, T, 263), normalised
  -> Encoder: 1D conv-ResNet, 4x temporal downsampling       -> f (B, N, C), N = ceil(T / 4) latent steps
  -> residual quantisation, coarse to fine, one shared codebook:
         for each scale k (latent downsampling factor 8, 4, 2, 1):
             r_k   = area-downsample(f - f_hat) to L_k tokens
             idx_k = nearest code of r_k
             f_hat = f_hat + linear-upsample(codebook[idx_k]) back to N
  -> Decoder: 1D conv-ResNet, 4x temporal upsampling         -> reconstruction (B, T, 263)

Every layer multiplies its output by the per-sample length mask, and the resampling between the latent grid and a scale's
token grid uses per-sample matrices (`moscale.scales`), so a clip's tokens and its reconstruction do not depend on what else
is in the batch. The codebook is updated by EMA (no gradient) with dead-code reset; the encoder learns through a
straight-through estimator and a commitment loss.

The transformer uses the same per-scale pieces: `init_f_hat`, `next_scale_input` (teacher-forcing input of scale k),
`accumulate` (add one scale's tokens), `quantize_scale` (tokens of scale k given a possibly corrupted f_hat), `embed_codes`,
`upsample_to_latent`, `teacher_forcing` and `decode_latent`.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from moscale import scales
from moscale.skeleton import NUM_JOINTS, RIC_SLICE

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "tokenizer.safetensors"
NORMALIZATION_FILE = "normalization.json"
FORMAT_NAME = "moscale-tokenizer"
CONFIG_VERSION = 1
POSE_WEIGHT = 3.0  # the presets' weight of the pose loss (TokenizerConfig.pose_weight)


# ---------------------------------------------------------------------------------------------------------------------
# config


@dataclass(frozen=True)
class TokenizerConfig:
    feature_dim: int = 263
    width: int = 512  # channels of every conv layer
    depth: int = 3  # dilated residual blocks per resolution
    dilation_growth: int = 3  # dilations 1, 3, 9 (encoder), 9, 3, 1 (decoder)
    num_downsamples: int = 2  # stride-2 layers: 2 -> 4x temporal downsampling
    codebook_size: int = 512
    code_dim: int = 512
    scale_factors: tuple[int, ...] = scales.SCALE_FACTORS
    ema_decay: float = 0.99
    dead_code_threshold: float = 1.0  # codes whose EMA assignment count falls below this are reset
    reset_buffer_size: int = 4096  # recent residual vectors kept to draw replacements for dead codes
    commit_weight: float = 0.02
    # Normalised features beyond ±input_clip are clipped on the way into the encoder (targets are not): a few real clips
    # (fast spins) reach 50 sigma, and such latents, fed into the EMA codebook, collapsed training in our runs before
    # latent_norm existed. Clipping also hides how fast a turn is from the encoder (10 sigma of the root's yaw velocity
    # is ~135 degrees/s), so the bundled model, layer-normalised, was fine-tuned at 100 without trouble.
    input_clip: float = 10.0
    # Layer-normalise each latent vector (no affine): removes the latents' free overall scale, which in our CPU runs
    # drifted upward faster than the EMA codebook could follow until the codebook collapsed (commitment loss running
    # away after ~1000 iterations at any lr we tried). The presets turn it on; False here keeps configs saved before
    # the option existed loading as they were trained.
    latent_norm: bool = False
    joint_weight: float = 0.5  # extra L1 on the root-relative joint positions, features [4:67]
    joint_slice: tuple[int, int] = (4, 67)
    # Mean joint distance (metres) between the pelvis-aligned joints recovered from the reconstruction and from the
    # target, with the root yaw integrated over the clip (`pelvis_aligned_joints`): the quantity the MPJPE measures.
    # The per-channel losses weigh the yaw velocity like any other channel, yet its small errors add up along the clip
    # and turn the whole body; in a small model trained without it a quarter of the test MPJPE came from that alone.
    # 0 (off) here keeps configs saved before the option existed loading as they were trained; the presets set it.
    pose_weight: float = 0.0
    # Self-attention blocks (pre-norm, RoPE, a sigmoid gate per head, GELU feed-forward), one after each resolution of
    # the encoder and of the decoder, as the authors' public code builds with `use_attn`; `dropout` is theirs inside
    # those blocks (attention weights and feed-forward). Off in the small preset: the conv stacks alone are the
    # bundled model, and False here keeps configs saved before the option existed loading as they were trained.
    attention: bool = False
    attention_heads: int = 8
    dropout: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale_factors", tuple(int(f) for f in self.scale_factors))
        object.__setattr__(self, "joint_slice", tuple(int(i) for i in self.joint_slice))
        if not self.scale_factors or any(f < 1 for f in self.scale_factors):
            raise ValueError(f"scale_factors must be positive integers, got {self.scale_factors}")

    @property
    def downsample(self) -> int:
        """Frames per latent step."""
        return 2**self.num_downsamples

    @property
    def num_scales(self) -> int:
        return len(self.scale_factors)

    @classmethod
    def paper(cls) -> TokenizerConfig:
        """The published sizes: width 512, depth 3, codebook 512 x 512, scales (8, 4, 2, 1), attention blocks with dropout
        0.1; latents layer-normalised."""
        return cls(latent_norm=True, pose_weight=POSE_WEIGHT, attention=True, attention_heads=8, dropout=0.1)

    @classmethod
    def small(cls) -> TokenizerConfig:
        """The bundled default (width 128, codebook 512 x 128, 1.4 M parameters): ~460 training samples/s on 2 CPU
        cores (64-frame crops), decodes a 196-frame clip in ~4 ms."""
        return cls(width=128, depth=3, codebook_size=512, code_dim=128, latent_norm=True, pose_weight=POSE_WEIGHT)

    @classmethod
    def preset(cls, name: str) -> TokenizerConfig:
        presets = {"paper": cls.paper, "small": cls.small}
        if name not in presets:
            raise ValueError(f"unknown tokenizer preset {name!r}; choose from {sorted(presets)}")
        return presets[name]()

    def to_dict(self) -> dict:
        data = asdict(self)
        data["scale_factors"] = list(self.scale_factors)
        data["joint_slice"] = list(self.joint_slice)
        return {"format": FORMAT_NAME, "version": CONFIG_VERSION, **data}

    @classmethod
    def from_dict(cls, data: dict) -> TokenizerConfig:
        data = upgrade_config(data)
        data.pop("format", None)
        data.pop("version", None)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown tokenizer config keys {unknown}")
        return cls(**data)


# Option names of earlier configs (and of the research code this model follows) -> current names.
_LEGACY_KEYS = {
    "nb_code": "codebook_size",
    "output_emb_width": "code_dim",
    "dilation_growth_rate": "dilation_growth",
    "down_t": "num_downsamples",
    "scales": "scale_factors",
    "dim_pose": "feature_dim",
    "commit": "commit_weight",
    "loss_vel": "joint_weight",
    "mu": "ema_decay",
}
_DROPPED_KEYS = {"stride_t", "vq_act", "vq_norm"}


def upgrade_config(data: dict) -> dict:
    """Bring a config dict of any earlier version to the current one (returns a new dict; raises on a newer version)."""
    data = dict(data)
    version = int(data.get("version", 0))
    if version > CONFIG_VERSION:
        raise ValueError(f"tokenizer config version {version} is newer than this moscale understands ({CONFIG_VERSION})")
    if "format" in data and data["format"] != FORMAT_NAME:
        raise ValueError(f"config format is {data['format']!r}, expected {FORMAT_NAME!r}")
    if version == 0:  # unversioned: research-code option names
        for old, new in _LEGACY_KEYS.items():
            if old in data:
                data[new] = data.pop(old)
        for key in _DROPPED_KEYS:
            data.pop(key, None)
    data["version"] = CONFIG_VERSION
    data["format"] = FORMAT_NAME
    return data


# ---------------------------------------------------------------------------------------------------------------------
# masks


def pelvis_aligned_joints(raw_BTD: torch.Tensor) -> torch.Tensor:
    """(B, T, 263) unnormalised features -> (B, T, 21, 3) joints 1..21 relative to the pelvis, in metres, with the root
    yaw integrated from the start of the clip: `moscale.features.features_to_joints` minus the pelvis, differentiable.
    Frame t's facing turns by twice the sum of the half-angle velocities of frames 0..t-1, so padding after a clip's
    last frame never reaches its valid frames."""
    half_angle = torch.cumsum(raw_BTD[..., 0], dim=-1) - raw_BTD[..., 0]  # exclusive: frame 0 faces +Z
    cos, sin = torch.cos(2 * half_angle)[..., None], torch.sin(2 * half_angle)[..., None]
    ric = raw_BTD[..., RIC_SLICE].unflatten(-1, (NUM_JOINTS - 1, 3))
    x, y, z = ric.unbind(-1)
    height = raw_BTD[..., 3:4]  # the last root channel
    # Un-rotating by the facing (a turn of +angle about +Y) is a turn of -angle: x' = x cos - z sin, z' = x sin + z cos.
    return torch.stack([x * cos - z * sin, y - height, x * sin + z * cos], dim=-1)


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
        from moscale.transformer import apply_rope, rope_cos_sin

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


# ---------------------------------------------------------------------------------------------------------------------
# the shared codebook


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
        probs = count_K / count_K.sum().clamp(min=1)
        perplexity = torch.exp(-(probs * torch.log(probs.clamp(min=1e-10))).sum())
        return {"perplexity": float(perplexity), "used": float((count_K > 0).float().mean()), "reset": float(num_reset)}

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


# ---------------------------------------------------------------------------------------------------------------------
# the tokenizer


class MotionTokenizer(nn.Module):
    def __init__(self, config: TokenizerConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.quantizer = SharedCodebook(config)
        # Dataset normalisation, kept with the model so a release folder is self-contained (saved as normalization.json).
        self.register_buffer("feature_mean", torch.zeros(config.feature_dim), persistent=False)
        self.register_buffer("feature_std", torch.ones(config.feature_dim), persistent=False)
        self.last_stats: dict[str, float] = {}

    # --- lengths and resampling -------------------------------------------------------------------------------------

    def latent_lengths(self, lengths_B: torch.Tensor) -> torch.Tensor:
        """Valid latent steps per clip of `lengths_B` frames, (B,)."""
        return scales.latent_lengths(lengths_B, self.config.downsample)

    def token_counts(self, lengths_B: torch.Tensor) -> torch.Tensor:
        """Valid tokens per clip and scale, (B, K); entries of `encode`'s outputs beyond them are padding (index 0)."""
        return scales.token_counts(lengths_B, self.config.scale_factors, self.config.downsample)

    def _operators(self, lengths_B: torch.Tensor, max_latent: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        down_BLN, up_BNL = scales.scale_operators(self.latent_lengths(lengths_B), self.config.scale_factors[k], max_latent)
        device, dtype = self.quantizer.codebook.device, self.quantizer.codebook.dtype
        return down_BLN.to(device, dtype), up_BNL.to(device, dtype)

    # --- the per-scale pieces (also the transformer's API) ----------------------------------------------------------

    def init_f_hat(self, lengths_B: torch.Tensor) -> torch.Tensor:
        """An empty reconstruction (B, N, C) of zeros, N = latent steps of the longest clip."""
        n = scales.latent_length(int(lengths_B.max()), self.config.downsample)
        return self.quantizer.codebook.new_zeros(len(lengths_B), n, self.config.code_dim)

    def embed_codes(self, idx_BL: torch.Tensor) -> torch.Tensor:
        """Code vectors (B, L, C) of token indices (B, L)."""
        return self.quantizer.lookup(idx_BL)

    def upsample_to_latent(self, z_BLC: torch.Tensor, k: int, lengths_B: torch.Tensor, max_latent: int) -> torch.Tensor:
        """Scale k's token vectors (B, L_k, C) linearly upsampled to the latent grid (B, max_latent, C); zero on padding."""
        _, up_BNL = self._operators(lengths_B, max_latent, k)
        return up_BNL @ z_BLC

    def next_scale_input(self, f_hat_BNC: torch.Tensor, k: int, lengths_B: torch.Tensor) -> torch.Tensor:
        """f_hat (the sum of scales < k) area-downsampled to scale k's token grid, (B, L_k, C): the teacher-forcing input
        of scale k. Zero on padded tokens."""
        down_BLN, _ = self._operators(lengths_B, f_hat_BNC.shape[1], k)
        return down_BLN @ f_hat_BNC

    def accumulate(self, f_hat_BNC: torch.Tensor, idx_BL: torch.Tensor, k: int, lengths_B: torch.Tensor) -> torch.Tensor:
        """f_hat plus scale k's tokens (dequantised and upsampled); returns a new tensor (B, N, C)."""
        return f_hat_BNC + self.upsample_to_latent(self.embed_codes(idx_BL), k, lengths_B, f_hat_BNC.shape[1])

    def quantize_scale(
        self, f_BNC: torch.Tensor, f_hat_BNC: torch.Tensor, k: int, lengths_B: torch.Tensor
    ) -> torch.Tensor:
        """Scale k's token indices (B, L_k) for target latents f given the reconstruction so far f_hat: the nearest codes
        of (f - f_hat) area-downsampled to L_k. f_hat may be corrupted (hierarchical refinement re-quantises against it).
        Padded tokens get index 0."""
        idx_BL, _ = self._quantize_scale(f_BNC, f_hat_BNC, k, lengths_B)
        return idx_BL

    def _quantize_scale(
        self, f_BNC: torch.Tensor, f_hat_BNC: torch.Tensor, k: int, lengths_B: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        down_BLN, _ = self._operators(lengths_B, f_BNC.shape[1], k)
        r_BLC = down_BLN @ (f_BNC - f_hat_BNC)
        valid_BL = self._valid_tokens(lengths_B, k, r_BLC.shape[1])
        idx_BL = self.quantizer.nearest(r_BLC.flatten(0, 1)).view(r_BLC.shape[:2])
        return idx_BL.masked_fill(~valid_BL, 0), r_BLC

    def _valid_tokens(self, lengths_B: torch.Tensor, k: int, size: int) -> torch.Tensor:
        device = self.quantizer.codebook.device
        counts_B = self.token_counts(lengths_B)[:, k].to(device)
        return torch.arange(size, device=device)[None, :] < counts_B[:, None]

    def teacher_forcing(self, indices: list[torch.Tensor], lengths_B: torch.Tensor) -> list[torch.Tensor]:
        """Inputs of every scale for teacher forcing: entry k is f_hat of scales < k downsampled to scale k's grid,
        (B, L_k, C). Entry 0 is all zeros (nothing has been generated before the first scale)."""
        f_hat = self.init_f_hat(lengths_B)
        inputs = []
        for k, idx_BL in enumerate(indices):
            inputs.append(self.next_scale_input(f_hat, k, lengths_B))
            f_hat = self.accumulate(f_hat, idx_BL, k, lengths_B)
        return inputs

    # --- encode / decode --------------------------------------------------------------------------------------------

    def encode_latent(self, features_BTD: torch.Tensor, lengths_B: torch.Tensor) -> torch.Tensor:
        """Continuous latents f (B, N, C), zero beyond each clip's latent length."""
        lengths_B = lengths_B.to(features_BTD.device)
        x_BDT = self._pad_frames(features_BTD, lengths_B).transpose(1, 2)
        if self.config.input_clip > 0:
            x_BDT = x_BDT.clamp(-self.config.input_clip, self.config.input_clip)
        f_BNC = self.encoder(x_BDT, lengths_B).transpose(1, 2)
        if self.config.latent_norm:
            f_BNC = F.layer_norm(f_BNC, f_BNC.shape[-1:])  # a padded (all-zero) step stays exactly zero
        return f_BNC

    def decode_latent(self, f_hat_BNC: torch.Tensor, lengths_B: torch.Tensor) -> torch.Tensor:
        """Features (B, max(lengths), D) from a latent reconstruction; zero beyond each clip's length."""
        lengths_B = lengths_B.to(f_hat_BNC.device)
        x_BDT = self.decoder(f_hat_BNC.transpose(1, 2), lengths_B)
        return x_BDT[:, :, : int(lengths_B.max())].transpose(1, 2)

    @torch.no_grad()
    def encode(self, features_BTD: torch.Tensor, lengths_B: torch.Tensor) -> list[torch.Tensor]:
        """Token indices per scale, coarse to fine: a list of K tensors (B, L_k), L_k for the longest clip. Entries beyond
        a clip's own token counts (`token_counts`) are padding (0)."""
        f_BNC = self.encode_latent(features_BTD, lengths_B)
        f_hat = torch.zeros_like(f_BNC)
        indices = []
        for k in range(self.config.num_scales):
            idx_BL = self.quantize_scale(f_BNC, f_hat, k, lengths_B)
            f_hat = self.accumulate(f_hat, idx_BL, k, lengths_B)
            indices.append(idx_BL)
        return indices

    @torch.no_grad()
    def decode(self, indices: list[torch.Tensor], lengths_B: torch.Tensor, num_scales: int | None = None) -> torch.Tensor:
        """Features (B, max(lengths), D) from token indices. With `num_scales=k` only the first k scales are used (the
        coarse-to-fine preview); `indices` may then hold just those k scales."""
        num_scales = len(indices) if num_scales is None else num_scales
        if not 1 <= num_scales <= min(len(indices), self.config.num_scales):
            raise ValueError(f"num_scales={num_scales} but {len(indices)} scales of indices were given")
        f_hat = self.init_f_hat(lengths_B)
        for k in range(num_scales):
            expected = scales.token_length(f_hat.shape[1], self.config.scale_factors[k])
            if indices[k].shape != (len(lengths_B), expected):
                raise ValueError(f"scale {k}: indices of shape {tuple(indices[k].shape)}, expected {(len(lengths_B), expected)}")
            f_hat = self.accumulate(f_hat, indices[k], k, lengths_B)
        return self.decode_latent(f_hat, lengths_B)

    # --- training ---------------------------------------------------------------------------------------------------

    def forward(
        self, features_BTD: torch.Tensor, lengths_B: torch.Tensor
    ) -> tuple[torch.Tensor, list[torch.Tensor], dict[str, torch.Tensor]]:
        """Reconstruction (B, T, D), indices per scale, and losses {total, recon, joints, commit, pose}. In training mode
        the codebook is EMA-updated; batch statistics (perplexity, used fraction, codes reset) land in `last_stats`."""
        lengths_B = lengths_B.to(features_BTD.device)
        f_BNC = self.encode_latent(features_BTD, lengths_B).float()
        # Nearest codes and the EMA codebook stay in fp32 under mixed-precision training (autocast off here).
        with torch.no_grad(), torch.autocast(f_BNC.device.type, enabled=False):
            f_hat, indices, residuals = self._residual_quantize(f_BNC.detach(), lengths_B)
            if self.training:
                self.last_stats = self.quantizer.update(*residuals)
        # Straight-through: the decoder sees exactly f_hat, the encoder gets the decoder's gradient unchanged.
        z_BNC = f_hat + (f_BNC - f_BNC.detach())
        recon_BTD = self.decode_latent(z_BNC, lengths_B).float()
        target_BTD = features_BTD[:, : recon_BTD.shape[1]]
        return recon_BTD, indices, self._losses(recon_BTD, target_BTD, f_BNC, f_hat, lengths_B)

    def _residual_quantize(self, f_BNC: torch.Tensor, lengths_B: torch.Tensor):
        f_hat = torch.zeros_like(f_BNC)
        indices, residual_rows, index_rows = [], [], []
        for k in range(self.config.num_scales):
            idx_BL, r_BLC = self._quantize_scale(f_BNC, f_hat, k, lengths_B)
            f_hat = self.accumulate(f_hat, idx_BL, k, lengths_B)
            valid_BL = self._valid_tokens(lengths_B, k, idx_BL.shape[1])
            indices.append(idx_BL)
            residual_rows.append(r_BLC[valid_BL])
            index_rows.append(idx_BL[valid_BL])
        return f_hat, indices, (torch.cat(residual_rows), torch.cat(index_rows))

    def _losses(self, recon_BTD, target_BTD, f_BNC, f_hat_BNC, lengths_B) -> dict[str, torch.Tensor]:
        frames_BT1 = frame_mask(lengths_B, recon_BTD.shape[1]).transpose(1, 2)
        steps_BN1 = frame_mask(self.latent_lengths(lengths_B), f_BNC.shape[1]).transpose(1, 2)
        a, b = self.config.joint_slice
        recon = (F.smooth_l1_loss(recon_BTD, target_BTD, reduction="none") * frames_BT1).sum()
        recon = recon / (frames_BT1.sum() * recon_BTD.shape[-1])
        joints = ((recon_BTD[..., a:b] - target_BTD[..., a:b]).abs() * frames_BT1).sum() / (frames_BT1.sum() * (b - a))
        commit = ((f_BNC - f_hat_BNC).pow(2) * steps_BN1).sum() / (steps_BN1.sum() * f_BNC.shape[-1])
        total = recon + self.config.joint_weight * joints + self.config.commit_weight * commit
        distance_BTJ = (pelvis_aligned_joints(self.denormalize(recon_BTD))
                        - pelvis_aligned_joints(self.denormalize(target_BTD))).norm(dim=-1)
        pose = (distance_BTJ * frames_BT1).sum() / (frames_BT1.sum() * distance_BTJ.shape[-1])
        total = total + self.config.pose_weight * pose
        return {"total": total, "recon": recon, "joints": joints, "commit": commit, "pose": pose}

    def _pad_frames(self, features_BTD: torch.Tensor, lengths_B: torch.Tensor) -> torch.Tensor:
        """Zero every frame beyond its clip's length and pad time to a multiple of the downsampling."""
        t_max = int(lengths_B.max())
        if features_BTD.shape[1] < t_max:
            raise ValueError(f"features have {features_BTD.shape[1]} frames but a length of {t_max} was given")
        padded = scales.latent_length(t_max, self.config.downsample) * self.config.downsample
        x_BTD = features_BTD[:, :t_max] * frame_mask(lengths_B, t_max).transpose(1, 2)
        return F.pad(x_BTD, (0, 0, 0, padded - t_max))

    # --- normalisation ----------------------------------------------------------------------------------------------

    def set_normalization(self, mean_D, std_D) -> None:
        self.feature_mean.copy_(torch.as_tensor(mean_D, dtype=torch.float32).reshape(-1))
        self.feature_std.copy_(torch.as_tensor(std_D, dtype=torch.float32).reshape(-1))

    def normalize(self, raw_BTD: torch.Tensor) -> torch.Tensor:
        return (raw_BTD - self.feature_mean) / self.feature_std

    def denormalize(self, features_BTD: torch.Tensor) -> torch.Tensor:
        return features_BTD * self.feature_std + self.feature_mean

    # --- release folders --------------------------------------------------------------------------------------------

    def release_state_dict(self) -> dict[str, torch.Tensor]:
        """Weights and codebook only (no EMA statistics)."""
        skip = {f"quantizer.{name}" for name in SharedCodebook.TRAINING_ONLY}
        return {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items() if k not in skip}

    def load_pretrained_weights(self, other: MotionTokenizer, source: str | Path) -> None:
        """Copy weights and codebook from a released tokenizer of the same shapes (fine-tuning from `source`)."""
        _load_release_state(self, other.release_state_dict(), Path(source) / WEIGHTS_FILE)

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write config.json, tokenizer.safetensors and normalization.json into `folder` (created if needed)."""
        from moscale import atomic  # each file replaced whole: a cut-off save never leaves half a weights file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        atomic.write_text(folder / CONFIG_FILE, json.dumps(self.config.to_dict(), indent=2) + "\n")
        atomic.save_safetensors(folder / WEIGHTS_FILE, self.release_state_dict(), metadata={"format": FORMAT_NAME})
        normalization = {"mean": self.feature_mean.cpu().tolist(), "std": self.feature_std.cpu().tolist()}
        atomic.write_text(folder / NORMALIZATION_FILE, json.dumps(normalization) + "\n")
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | Path, map_location: str | torch.device = "cpu") -> MotionTokenizer:
        """Load a release folder written by `save_pretrained`; the model is returned in eval mode."""
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"tokenizer folder not found: {folder}")
        config = TokenizerConfig.from_dict(_read_json(folder / CONFIG_FILE))
        model = cls(config)
        state = _read_safetensors(folder / WEIGHTS_FILE)
        _load_release_state(model, state, folder / WEIGHTS_FILE)
        normalization = _read_json(folder / NORMALIZATION_FILE)
        try:
            model.set_normalization(normalization["mean"], normalization["std"])
        except (KeyError, TypeError, RuntimeError, ValueError) as error:
            raise ValueError(
                f"{folder / NORMALIZATION_FILE}: expected {{'mean': [{config.feature_dim} floats], 'std': [...]}} ({error})"
            ) from error
        return model.to(map_location).eval()


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"missing {path.name} in {path.parent}")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    if not path.is_file():
        raise FileNotFoundError(f"missing {path.name} in {path.parent}")
    try:
        state = load_file(str(path))
    except Exception as error:  # safetensors raises its own error types for truncated or garbled files
        raise ValueError(f"{path}: not a readable safetensors file ({error})") from error
    from moscale.weights import check_finite

    check_finite(state, path)
    return state


def _load_release_state(model: MotionTokenizer, state: dict[str, torch.Tensor], path: Path) -> None:
    expected = model.release_state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(f"{path}: does not match config.json (missing {missing[:5]}, unexpected {unexpected[:5]})")
    for name, tensor in state.items():
        if tensor.shape != expected[name].shape:
            raise ValueError(
                f"{path}: tensor {name} has shape {tuple(tensor.shape)}, config.json implies {tuple(expected[name].shape)}"
            )
    model.load_state_dict(state, strict=False)
    # A released codebook is trained; mark it so a fine-tuning run does not re-initialise it from data.
    model.quantizer.initialized.fill_(True)
    model.quantizer.ema_sum.copy_(model.quantizer.codebook)
    model.quantizer.ema_count.fill_(1.0)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

