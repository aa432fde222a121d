"""The tokenizer's configuration: a frozen dataclass, its presets, and the one function that upgrades old configs."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from moscale.model import scales

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
    # Mean distance between the frame-to-frame moves of those pelvis-aligned joints (metres per frame). The losses
    # above score each frame on its own, so a reconstruction that rounds off a fast peak (a kick's ankle at 6-10 m/s,
    # a spin's yaw, a throwing arm) costs them little: real kicks came back from the bundled tokenizer below half their
    # ankle speed. 0 (off) keeps configs saved before the option existed loading as they were trained.
    velocity_weight: float = 0.0
    # Mean distance (metres) between the root's floor track integrated from the reconstruction and from the target
    # (`root_track`). The pose losses are pelvis-aligned and the per-channel one weighs the root velocity like any
    # other channel, so a small bias adds up: a real 6 s push-up came back from the bundled tokenizer drifting 1.22 m
    # across the floor. 0 (off) keeps configs saved before the option existed loading as they were trained.
    root_weight: float = 0.0
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
