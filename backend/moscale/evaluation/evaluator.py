"""The text-motion evaluator: two encoders into one embedding space, trained contrastively (Guo et al. 2022, TMR).

    evaluator = TextMotionEvaluator.from_pretrained("runs/evaluator/evaluator")
    motion_NE = evaluator.embed_motions([features_TD, ...])      # raw (unnormalised) 263-d features
    text_NE = evaluator.embed_texts(["a person walks forward", ...])

- Motion encoder: two stride-2 convolutions (4x temporal downsampling, like Guo's movement encoder) over the
  normalised features, a small transformer over the downsampled steps with a padding mask, masked mean pooling and a
  projection. Every layer ignores the padding, so a motion embeds the same alone or in a padded batch.
- Text encoder: a small transformer over the frozen MiniLM token states (read from a caption cache while training)
  plus a skip from their mean, then a projection.
- Both embeddings are L2-normalised; training minimises the symmetric InfoNCE loss with temperature 0.1, where pairs
  whose captions are identical (or nearly: pooled text cosine >= a threshold) are not used as negatives.

Release folder: config.json ({"format": "moscale-evaluator", "version", "evaluator": {...}, "training": {...}}),
evaluator.safetensors, normalization.json ({"mean", "std"} of the training features). `load_evaluator` also opens
Guo et al.'s original HumanML3D evaluator (moscale.evaluation.guo).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from moscale.evaluation.batches import as_motion_list, pad_motions
from moscale.utils.weights import load_weights

FORMAT_NAME = "moscale-evaluator"
CONFIG_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "evaluator.safetensors"
NORMALIZATION_FILE = "normalization.json"


class Embedder(Protocol):
    """What the metrics need from an evaluator (ours or Guo et al.'s)."""

    def embed_motions(self, features, lengths=None) -> torch.Tensor: ...

    def embed_texts(self, captions: Sequence[str]) -> torch.Tensor: ...


@dataclass(frozen=True)
class EvaluatorConfig:
    feature_dim: int = 263
    text_dim: int = 384  # width of the frozen text encoder's token states
    embed_dim: int = 512  # shared embedding space
    motion_width: int = 256
    motion_layers: int = 2
    text_width: int = 256
    text_layers: int = 1
    heads: int = 4
    downsample: int = 4  # temporal factor of the motion convolutions: 1, 2 or 4
    dropout: float = 0.1
    temperature: float = 0.1  # InfoNCE softmax temperature on cosine similarities
    text_encoder: str = "all-MiniLM-L6-v2"  # packaged name or directory (moscale.model.text)
    max_text_tokens: int = 24

    def __post_init__(self) -> None:
        if self.downsample not in (1, 2, 4):
            raise ValueError(f"downsample must be 1, 2 or 4, got {self.downsample}")
        for name in ("motion_width", "text_width"):
            if getattr(self, name) % self.heads:
                raise ValueError(f"{name} ({getattr(self, name)}) must be divisible by heads ({self.heads})")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "EvaluatorConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown evaluator config keys {unknown}")
        return cls(**values)


def sinusoidal_positions(length: int, width: int, device=None) -> torch.Tensor:
    """(length, width) fixed sine/cosine position codes (no length limit)."""
    position_T1 = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, width, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / width))
    codes_TW = torch.zeros(length, width, device=device)
    codes_TW[:, 0::2] = torch.sin(position_T1 * frequency)
    codes_TW[:, 1::2] = torch.cos(position_T1 * frequency[: width // 2])
    return codes_TW


def masked_mean(x_BTC: torch.Tensor, valid_BT: torch.Tensor) -> torch.Tensor:
    weights_BT1 = valid_BT.unsqueeze(-1).to(x_BTC.dtype)
    return (x_BTC * weights_BT1).sum(1) / weights_BT1.sum(1).clamp(min=1.0)


def _encoder_stack(width: int, layers: int, heads: int, dropout: float) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout, activation="gelu", batch_first=True,
                                       norm_first=True)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


class MotionEncoder(nn.Module):
    def __init__(self, config: EvaluatorConfig):
        super().__init__()
        width = config.motion_width
        strides = {1: [], 2: [2], 4: [2, 2]}[config.downsample]
        dims = [config.feature_dim] + [width] * max(1, len(strides))
        if strides:
            self.convs = nn.ModuleList(nn.Conv1d(dims[i], dims[i + 1], 4, 2, 1) for i in range(len(strides)))
        else:
            self.convs = nn.ModuleList([nn.Conv1d(config.feature_dim, width, 3, 1, 1)])
        self.strides = strides or [1]
        self.blocks = _encoder_stack(width, config.motion_layers, config.heads, config.dropout)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, config.embed_dim)

    def forward(self, features_BTD: torch.Tensor, lengths_B: torch.Tensor) -> torch.Tensor:
        x_BCT = features_BTD.transpose(1, 2)
        lengths_B = lengths_B.to(features_BTD.device)
        for conv, stride in zip(self.convs, self.strides):
            x_BCT = F.leaky_relu(conv(x_BCT), 0.2)
            lengths_B = lengths_B // stride  # a (4, 2, 1) convolution maps T frames to floor(T / 2) steps
            # Zero the steps past each motion's end, so the next layer sees what it would see without padding.
            valid_BT = torch.arange(x_BCT.shape[-1], device=x_BCT.device)[None] < lengths_B[:, None]
            x_BCT = x_BCT * valid_BT[:, None, :]
        x_BTC = x_BCT.transpose(1, 2) + sinusoidal_positions(x_BCT.shape[-1], x_BCT.shape[1], x_BCT.device)
        x_BTC = self.blocks(x_BTC, src_key_padding_mask=~valid_BT)
        return self.head(self.norm(masked_mean(x_BTC, valid_BT)))


class TextEncoderHead(nn.Module):
    """Trainable part of the text side, over frozen token states."""

    def __init__(self, config: EvaluatorConfig):
        super().__init__()
        self.input = nn.Linear(config.text_dim, config.text_width)
        self.skip = nn.Linear(config.text_dim, config.text_width)
        self.blocks = _encoder_stack(config.text_width, config.text_layers, config.heads, config.dropout)
        self.norm = nn.LayerNorm(config.text_width)
        self.head = nn.Linear(config.text_width, config.embed_dim)

    def forward(self, tokens_BSD: torch.Tensor, mask_BS: torch.Tensor) -> torch.Tensor:
        S, width = tokens_BSD.shape[1], self.input.out_features
        x_BSC = self.input(tokens_BSD) + sinusoidal_positions(S, width, tokens_BSD.device)
        x_BSC = self.blocks(x_BSC, src_key_padding_mask=~mask_BS)
        pooled_BC = masked_mean(x_BSC, mask_BS) + self.skip(masked_mean(tokens_BSD, mask_BS))
        return self.head(self.norm(pooled_BC))


class TextMotionEvaluator(nn.Module):
    def __init__(self, config: EvaluatorConfig):
        super().__init__()
        self.config = config
        self.motion = MotionEncoder(config)
        self.text = TextEncoderHead(config)
        self.register_buffer("feature_mean", torch.zeros(config.feature_dim), persistent=False)
        self.register_buffer("feature_std", torch.ones(config.feature_dim), persistent=False)
        self._text_encoder_slot: list = []  # a list, so the frozen encoder is no submodule (not in state_dict)

    # --- training-time forward (normalised features, token states)

    def encode_motion(self, features_BTD: torch.Tensor, lengths_B: torch.Tensor) -> torch.Tensor:
        """(B, E) unit vectors from normalised, zero-padded features."""
        return F.normalize(self.motion(features_BTD, lengths_B), dim=-1)

    def encode_text(self, tokens_BSD: torch.Tensor, mask_BS: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text(tokens_BSD, mask_BS), dim=-1)

    def contrastive_loss(self, motion_BE: torch.Tensor, text_BE: torch.Tensor,
                         same_text_BB: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """Symmetric InfoNCE. same_text_BB[i, j] (i != j) marks pairs not to be used as negatives."""
        logits_BB = motion_BE @ text_BE.T / self.config.temperature
        if same_text_BB is not None:
            eye_BB = torch.eye(len(logits_BB), dtype=torch.bool, device=logits_BB.device)
            logits_BB = logits_BB.masked_fill(same_text_BB & ~eye_BB, float("-inf"))
        targets_B = torch.arange(len(logits_BB), device=logits_BB.device)
        loss = (F.cross_entropy(logits_BB, targets_B) + F.cross_entropy(logits_BB.T, targets_B)) / 2
        with torch.no_grad():
            accuracy = (logits_BB.argmax(1) == targets_B).float().mean()
        return loss, {"loss": float(loss.detach()), "accuracy": float(accuracy)}

    # --- evaluation API (raw features, caption strings)

    def set_normalization(self, mean_D, std_D) -> None:
        self.feature_mean.copy_(torch.as_tensor(np.asarray(mean_D), dtype=torch.float32).reshape(-1))
        self.feature_std.copy_(torch.as_tensor(np.asarray(std_D), dtype=torch.float32).reshape(-1))

    @property
    def device(self) -> torch.device:
        return self.feature_mean.device

    @torch.no_grad()
    def embed_motions(self, features, lengths=None, *, normalized: bool = False, batch_size: int = 128
                      ) -> torch.Tensor:
        """(N, E) float32 CPU embeddings of motions given as a list of (T_i, D) arrays, or a zero-padded (N, T, D)
        array with `lengths`. Features are raw (denormalised) unless `normalized=True`."""
        motions, lengths = as_motion_list(features, lengths)
        too_short = [int(t) for t in lengths if t < self.config.downsample]
        if too_short:
            raise ValueError(f"motions must be at least {self.config.downsample} frames long, got {too_short[:3]}")
        was_training = self.training
        self.eval()
        outputs = []
        order = np.argsort(lengths, kind="stable")  # similar lengths together: less padding
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            batch_BTD, lengths_B = pad_motions([motions[i] for i in rows], self.device)
            if not normalized:
                valid_BT1 = (torch.arange(batch_BTD.shape[1], device=self.device)[None] < lengths_B[:, None])[..., None]
                batch_BTD = ((batch_BTD - self.feature_mean) / self.feature_std) * valid_BT1
            outputs.append(self.encode_motion(batch_BTD, lengths_B).float().cpu())
        self.train(was_training)
        embeddings = torch.cat(outputs) if outputs else torch.zeros(0, self.config.embed_dim)
        return embeddings[torch.as_tensor(np.argsort(order, kind="stable"))]

    @torch.no_grad()
    def embed_texts(self, captions: Sequence[str], cache=None, batch_size: int = 256) -> torch.Tensor:
        """(N, E) float32 CPU embeddings; token states come from `cache` (a moscale.model.text.TextCache) when it holds
        every caption, else from the frozen text encoder (loaded on first use)."""
        captions = list(captions)
        was_training = self.training
        self.eval()
        outputs = []
        use_cache = cache is not None and all(c in cache for c in captions)
        for start in range(0, len(captions), batch_size):
            chunk = captions[start:start + batch_size]
            if use_cache:
                tokens_BSD, mask_BS, _ = cache.lookup(chunk)
            else:
                tokens_BSD, mask_BS, _ = self.text_encoder.encode(chunk, warn=False)
            outputs.append(self.encode_text(tokens_BSD.to(self.device), mask_BS.to(self.device)).float().cpu())
        self.train(was_training)
        return torch.cat(outputs) if outputs else torch.zeros(0, self.config.embed_dim)

    @property
    def text_encoder(self):
        if not self._text_encoder_slot:
            from moscale.model.text import TextEncoder

            self.set_text_encoder(TextEncoder.load(self.config.text_encoder, self.config.max_text_tokens))
        return self._text_encoder_slot[0].to(self.device)

    def set_text_encoder(self, encoder) -> None:
        """Use an already loaded moscale.model.text.TextEncoder (its width must match)."""
        if encoder.config.dim != self.config.text_dim:
            raise ValueError(f"text encoder {encoder.config.name!r} is {encoder.config.dim}-d, the evaluator "
                             f"expects {self.config.text_dim}")
        self._text_encoder_slot[:] = [encoder]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # --- release folders

    def save_pretrained(self, folder: str | Path, training: dict | None = None) -> Path:
        from moscale.utils import atomic  # each file replaced whole: a cut-off save never leaves half a weights file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        atomic.save_safetensors(folder / WEIGHTS_FILE, state, metadata={"format": FORMAT_NAME})
        config = {"format": FORMAT_NAME, "version": CONFIG_VERSION, "evaluator": self.config.to_dict(),
                  "training": training or {}}
        atomic.write_text(folder / CONFIG_FILE, json.dumps(config, indent=2) + "\n")
        normalization = {"mean": self.feature_mean.cpu().tolist(), "std": self.feature_std.cpu().tolist()}
        atomic.write_text(folder / NORMALIZATION_FILE, json.dumps(normalization) + "\n")
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | Path, map_location: str | torch.device = "cpu") -> "TextMotionEvaluator":
        folder = Path(folder)
        model = load_weights(cls(read_evaluator_config(folder)), folder / WEIGHTS_FILE, "the evaluator weights")
        normalization = json.loads((folder / NORMALIZATION_FILE).read_text())
        model.set_normalization(normalization["mean"], normalization["std"])
        return model.to(map_location).eval()


def read_evaluator_config(folder: Path) -> EvaluatorConfig:
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (an evaluator folder holds {CONFIG_FILE}, {WEIGHTS_FILE} and "
                                f"{NORMALIZATION_FILE})")
    raw = json.loads(path.read_text())
    if not isinstance(raw, dict) or raw.get("format") != FORMAT_NAME:
        raise ValueError(f"{path}: not a MoScale evaluator config (expected format {FORMAT_NAME!r})")
    if int(raw.get("version", 0)) > CONFIG_VERSION:
        raise ValueError(f"{path}: version {raw['version']} is newer than this moscale reads ({CONFIG_VERSION})")
    return EvaluatorConfig.from_dict(raw["evaluator"])
