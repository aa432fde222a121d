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
token grid uses per-sample matrices (`moscale.model.scales`), so a clip's tokens and its reconstruction do not depend on what else
is in the batch. The codebook is updated by EMA (no gradient) with dead-code reset; the encoder learns through a
straight-through estimator and a commitment loss.

The transformer uses the same per-scale pieces: `init_f_hat`, `next_scale_input` (teacher-forcing input of scale k),
`accumulate` (add one scale's tokens), `quantize_scale` (tokens of scale k given a possibly corrupted f_hat), `embed_codes`,
`upsample_to_latent`, `teacher_forcing` and `decode_latent`.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from moscale.model import scales, tokenizer_files
from moscale.model.codec import Decoder, Encoder, frame_mask, pelvis_aligned_joints, root_track
from moscale.model.quantizer import SharedCodebook
from moscale.model.tokenizer_config import (CONFIG_FILE, FORMAT_NAME, NORMALIZATION_FILE, WEIGHTS_FILE,
                                            TokenizerConfig)


# ---------------------------------------------------------------------------------------------------------------------
# the tokenizer


ROOT_CHANNELS = 4  # features[0:4]: root yaw velocity, x/z velocity in the facing frame, height


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
        # Training the decoder alone (`freeze_codes`): the encoder and codebook stay as they are, so every clip keeps
        # its tokens and a generator trained on them is still right.
        self.codes_frozen = False

    def freeze_codes(self, root_only: bool = False) -> None:
        """Train only the decoder from now on: the encoder's weights, the codebook (no EMA update, no dead-code reset)
        and so every token stay as they are; the encoder runs in eval mode. `root_only`: only the decoder's output
        of the ROOT_CHANNELS trains (its last layer's rows for them), every other channel's output stays bit for bit
        (the pose as decoded before; a floor drift is a root-velocity matter)."""
        self.codes_frozen = True
        kept = [*self.encoder.parameters(), *self.quantizer.parameters()]
        if root_only:
            head = self.decoder.conv_out
            kept += [p for p in self.decoder.parameters() if p is not head.weight and p is not head.bias]
            for parameter in (head.weight, head.bias):
                rows = torch.zeros_like(parameter)
                rows[:ROOT_CHANNELS] = 1
                parameter.register_hook(lambda grad, rows=rows: grad * rows)
        for parameter in kept:
            parameter.requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True) -> MotionTokenizer:
        super().train(mode)
        if self.codes_frozen:
            self.encoder.eval()
        return self

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
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.codes_frozen):
            f_BNC = self.encode_latent(features_BTD, lengths_B).float()
        # Nearest codes and the EMA codebook stay in fp32 under mixed-precision training (autocast off here).
        with torch.no_grad(), torch.autocast(f_BNC.device.type, enabled=False):
            f_hat, indices, residuals = self._residual_quantize(f_BNC.detach(), lengths_B)
            if self.training and self.codes_frozen:
                self.last_stats = {**self.quantizer.usage(torch.bincount(residuals[1], minlength=self.quantizer.size)
                                                          .float()), "reset": 0.0}
            elif self.training:
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
        recon_BTJ3, target_BTJ3 = (pelvis_aligned_joints(self.denormalize(x)) for x in (recon_BTD, target_BTD))
        distance_BTJ = (recon_BTJ3 - target_BTJ3).norm(dim=-1)
        pose = (distance_BTJ * frames_BT1).sum() / (frames_BT1.sum() * distance_BTJ.shape[-1])
        total = total + self.config.pose_weight * pose
        losses = {"total": total, "recon": recon, "joints": joints, "commit": commit, "pose": pose}
        if self.config.velocity_weight > 0:
            # Frame-to-frame joint moves, over pairs of frames that both lie inside their clip.
            move_error_BTJ = (recon_BTJ3.diff(dim=1) - target_BTJ3.diff(dim=1)).norm(dim=-1)
            pairs_BT1 = frames_BT1[:, 1:] * frames_BT1[:, :-1]
            pairs = pairs_BT1.sum().clamp(min=1) * move_error_BTJ.shape[-1]
            losses["velocity"] = (move_error_BTJ * pairs_BT1).sum() / pairs
            losses["total"] = losses["total"] + self.config.velocity_weight * losses["velocity"]
        if self.config.root_weight > 0:
            drift_BT = (root_track(self.denormalize(recon_BTD)) - root_track(self.denormalize(target_BTD))).norm(dim=-1)
            losses["root"] = (drift_BT * frames_BT1[..., 0]).sum() / frames_BT1.sum()
            losses["total"] = losses["total"] + self.config.root_weight * losses["root"]
        return losses

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
        tokenizer_files.load_release_state(self, other.release_state_dict(), Path(source) / WEIGHTS_FILE)

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write config.json, tokenizer.safetensors and normalization.json into `folder` (created if needed)."""
        from moscale.utils import atomic  # each file replaced whole: a cut-off save never leaves half a weights file

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
        config = TokenizerConfig.from_dict(tokenizer_files.read_json(folder / CONFIG_FILE))
        model = cls(config)
        state = tokenizer_files.read_safetensors(folder / WEIGHTS_FILE)
        tokenizer_files.load_release_state(model, state, folder / WEIGHTS_FILE)
        normalization = tokenizer_files.read_json(folder / NORMALIZATION_FILE)
        try:
            model.set_normalization(normalization["mean"], normalization["std"])
        except (KeyError, TypeError, RuntimeError, ValueError) as error:
            raise ValueError(
                f"{folder / NORMALIZATION_FILE}: expected {{'mean': [{config.feature_dim} floats], 'std': [...]}} ({error})"
            ) from error
        return model.to(map_location).eval()


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

