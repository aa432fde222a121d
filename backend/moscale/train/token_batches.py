"""Training batches for the generator, from a frozen tokenizer: teacher-forced token maps with the paper's
hierarchical refinement (HR: a coarse scale's tokens corrupted before the next scale is built on them) and temporal
refinement (TR: noisy tokens the model learns to re-predict), the next-token baseline's batches, the loss, and a
memo of the tokenizer's latents of clip windows seen before."""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from moscale.model import scales
from moscale.model.tokenizer import MotionTokenizer
from moscale.model.transformer import next_scale_layout, next_token_layout


@dataclass(frozen=True)
class TrainOptions:
    hierarchical_refinement: bool = True
    gamma_max: float = 0.6
    temporal_refinement: bool = True
    token_noise_max: float = 0.1
    text_dropout: float = 0.1



def random_codes_except(idx: torch.Tensor, num_codes: int) -> torch.Tensor:
    """A uniformly random code different from idx, elementwise."""
    other = torch.randint(0, num_codes - 1, idx.shape, device=idx.device)
    return other + (other >= idx).long()



def cosine_mask(counts_B: torch.Tensor, width: int, device) -> torch.Tensor:
    """(B, width) bool: for each sample ceil(cos(pi/2 * u) * count) random positions among its first `count` ones."""
    u_B = torch.rand(counts_B.shape, device=device)
    n_B = torch.ceil(torch.cos(math.pi / 2 * u_B) * counts_B).clamp(min=1)
    valid_BL = torch.arange(width, device=device)[None] < counts_B[:, None]
    scores_BL = torch.rand(counts_B.shape[0], width, device=device).masked_fill(~valid_BL, 2.0)
    ranks_BL = scores_BL.argsort(dim=1).argsort(dim=1)
    return (ranks_BL < n_B[:, None]) & valid_BL



def next_scale_batch(tokenizer: MotionTokenizer, f_BNC: torch.Tensor, lengths_B: torch.Tensor, mask_id: int,
                     options: TrainOptions) -> dict:
    """Teacher-forcing inputs, targets and loss mask over the concatenated scales (see the module docstring)."""
    device = f_BNC.device
    num_codes = tokenizer.config.codebook_size
    counts_BK = tokenizer.token_counts(lengths_B).to(device)
    layout = next_scale_layout(tokenizer.latent_lengths(lengths_B), tokenizer.config.scale_factors).to(device)
    K = len(layout.lengths)
    f_hat = tokenizer.init_f_hat(lengths_B)
    gamma_B = torch.rand(len(lengths_B), device=device) * options.gamma_max
    noise_B = torch.rand(len(lengths_B), device=device) * options.token_noise_max
    tokens, fhat_inputs, targets, selected = [], [], [], []
    for k in range(K):
        fhat_inputs.append(tokenizer.next_scale_input(f_hat, k, lengths_B))
        target_BL = tokenizer.quantize_scale(f_BNC, f_hat, k, lengths_B)
        # HR corrupts only what goes into f_hat (so scale k+1's targets are re-quantised against a wrong f_hat and
        # learn to correct it); the tokens shown inside scale k stay the clean targets, as in the paper and the
        # authors' code. Showing the corrupted codes as visible inputs taught TR to trust wrong context.
        accumulated_BL = target_BL
        if options.hierarchical_refinement and k < K - 1:
            wrong_BL = torch.rand(target_BL.shape, device=device) < gamma_B[:, None]
            accumulated_BL = torch.where(wrong_BL, random_codes_except(target_BL, num_codes), target_BL)
        f_hat = tokenizer.accumulate(f_hat, accumulated_BL, k, lengths_B)
        width = target_BL.shape[1]
        if options.temporal_refinement:
            chosen_BL = cosine_mask(counts_BK[:, k], width, device)
            noisy_BL = (torch.rand(target_BL.shape, device=device) < noise_B[:, None]) & ~chosen_BL
            roll_BL = torch.rand(target_BL.shape, device=device)
            input_BL = torch.where(noisy_BL | (chosen_BL & (roll_BL >= 0.8) & (roll_BL < 0.9)),
                                   torch.randint_like(target_BL, num_codes), target_BL)
            input_BL = input_BL.masked_fill(chosen_BL & (roll_BL < 0.8), mask_id)
        else:
            chosen_BL = torch.arange(width, device=device)[None] < counts_BK[:, k:k + 1]
            input_BL = torch.full_like(target_BL, mask_id)
        tokens.append(input_BL)
        targets.append(target_BL)
        selected.append(chosen_BL)
    return dict(tokens=torch.cat(tokens, 1), fhat=torch.cat(fhat_inputs, 1), targets=torch.cat(targets, 1),
                loss_mask=torch.cat(selected, 1) & layout.valid_BL, layout=layout)



def next_token_batch(tokenizer: MotionTokenizer, f_BNC: torch.Tensor, lengths_B: torch.Tensor, num_queries: int,
                     end_id: int) -> dict:
    """Finest-scale codes quantised directly from f (one level); targets t_0..t_{n-1}, END."""
    device = f_BNC.device
    finest = tokenizer.config.num_scales - 1
    idx_BN = tokenizer.quantize_scale(f_BNC, torch.zeros_like(f_BNC), finest, lengths_B)
    latent_B = tokenizer.latent_lengths(lengths_B).to(device)
    layout = next_token_layout(latent_B, num_queries).to(device)
    B, N = idx_BN.shape
    L = num_queries + N
    targets_BL = torch.full((B, L), end_id, dtype=torch.long, device=device)
    targets_BL[:, num_queries - 1:num_queries - 1 + N] = idx_BN
    position_L = torch.arange(L, device=device)
    targets_BL = torch.where(position_L[None] == (num_queries - 1 + latent_B)[:, None], end_id, targets_BL)
    loss_mask = (position_L[None] >= num_queries - 1) & (position_L[None] <= (num_queries - 1 + latent_B)[:, None])
    return dict(tokens=idx_BN, fhat=None, targets=targets_BL, loss_mask=loss_mask, layout=layout)



def loss_and_stats(model, batch: dict, text: tuple, drop_text_B: torch.Tensor) -> tuple[torch.Tensor, dict]:
    text_BSD, text_mask_BS = text
    logits_BLV = model(batch["tokens"], batch["fhat"], batch["layout"], text_BSD, text_mask_BS, drop_text_B)
    mask_BL = batch["loss_mask"]
    logits_MV, targets_M = logits_BLV[mask_BL].float(), batch["targets"][mask_BL]
    loss = F.cross_entropy(logits_MV, targets_M)
    with torch.no_grad():
        accuracy = (logits_MV.argmax(-1) == targets_M).float().mean()
    return loss, {"loss": float(loss.detach()), "accuracy": float(accuracy)}



class LatentMemo:
    """Encoder outputs of clip windows seen before (the tokenizer is frozen), up to `max_bytes` of CPU memory."""

    def __init__(self, tokenizer: MotionTokenizer, max_bytes: int = 1 << 30):
        self.tokenizer, self.max_bytes, self.bytes = tokenizer, max_bytes, 0
        self.store: dict[tuple, torch.Tensor] = {}

    @staticmethod
    def key(name: str, features_TD: torch.Tensor) -> tuple:
        return name, features_TD.shape[0], hashlib.blake2b(features_TD.numpy().tobytes(), digest_size=16).digest()

    @torch.no_grad()
    def latents(self, batch: dict, device: torch.device) -> torch.Tensor:
        """f (B, N, C) for a collated batch (features on the CPU)."""
        lengths_B = batch["lengths"]
        keys = [self.key(name, batch["features"][b, :int(lengths_B[b])]) for b, name in enumerate(batch["names"])]
        missing = [b for b, key in enumerate(keys) if key not in self.store]
        fresh = {}
        if missing:
            rows = torch.tensor(missing)
            f_new = self.tokenizer.encode_latent(batch["features"][rows].to(device), lengths_B[rows].to(device))
            for j, b in enumerate(missing):
                n = scales.latent_length(int(lengths_B[b]), self.tokenizer.config.downsample)
                fresh[b] = f_new[j, :n].cpu()
                if self.bytes + fresh[b].numel() * 4 <= self.max_bytes:
                    self.store[keys[b]] = fresh[b]
                    self.bytes += fresh[b].numel() * 4
        n_max = scales.latent_length(int(lengths_B.max()), self.tokenizer.config.downsample)
        f_BNC = torch.zeros(len(keys), n_max, self.tokenizer.config.code_dim)
        for b, key in enumerate(keys):
            latent = fresh[b] if b in fresh else self.store[key]
            f_BNC[b, :latent.shape[0]] = latent
        return f_BNC.to(device)
