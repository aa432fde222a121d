"""Sampling: coarse-to-fine next-scale generation with per-scale mask-predict refinement, and the next-token baseline.

Next-scale: for scale k = 0..K-1 the tokens start as MASK and go through `schedule[k]` passes. Each pass predicts every
masked token (classifier-free guidance with weight max(0, s - decay * k), logits = (1 + w) cond - w uncond, cond and
uncond in one batch), samples them (temperature, top-k, top-p), and re-masks the lowest-confidence new tokens so that
floor(free * cos(pi/2 * pass / passes)) stay masked (MaskGIT's cosine schedule); the last pass keeps everything. Then
f_hat += upsample(codebook[tokens]) and the next scale reads f_hat downsampled. Earlier scales' keys/values sit in a
KV cache, so a pass only runs the current scale's tokens.

Which inputs of a finished scale go into the cache (`SamplingOptions.prefix`): a model trained with temporal
refinement saw earlier scales as their (nearly all visible) target tokens, never as all-MASK, so "final" caches each
scale computed from its *final* tokens, as the authors' code does when it recomputes the prefix. That costs no extra
pass: scale k-1's final tokens ride along in scale k's first pass (block-causal, so they cannot see scale k) and only
they are committed. A model trained without TR saw every scale as all MASK: "mask" caches the last pass's inputs.

`Constraint` locks tokens (and restores the source's f_hat outside a window after every scale): continuation of long
clips uses it here, zero-shot editing builds on it.

Long clips: windows of at most the model's length overlapping by `overlap_frames`; each window after the first is
generated as a continuation whose overlap is locked to the previous window's tokens, then the decoded features are
crossfaded linearly across the overlap. The features are velocities in the body frame, so concatenation keeps the
root trajectory continuous.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Callable

import torch

from moscale.model import scales
from moscale.model.tokenizer import MotionTokenizer
from moscale.model.transformer import NEXT_SCALE, Context, KVCache, MotionTransformer, scale_positions

SCHEDULES = {"fast": (1, 1, 1, 1), "best": (1, 2, 5, 10)}
PREFIX_MODES = ("final", "mask")


def prefix_mode(training_options: dict | None) -> str:
    """The cache state a release was trained for: its training options say whether TR was on (default: on)."""
    return "final" if (training_options or {}).get("temporal_refinement", True) else "mask"

ProgressFn = Callable[[int, int, str], None]  # (pass done, passes in total, what) -> None
CancelFlag = threading.Event | Callable[[], bool] | None


class Cancelled(Exception):
    """Raised between passes when the cancel flag is set."""


# The default classifier-free guidance weight. Measured on the test split (docs/results.md, "Guidance scale", and the
# bundled model: top-1 0.790 / FID 0.012 at 2 against 0.768 / 0.018 at 5): the small models follow the prompt best
# with light guidance; stronger guidance exaggerates and drifts from real motion.
DEFAULT_GUIDANCE = 2.0


@dataclass(frozen=True)
class SamplingOptions:
    schedule: tuple[int, ...] = SCHEDULES["fast"]  # mask-predict passes per scale
    guidance: float = DEFAULT_GUIDANCE  # CFG weight at the coarsest scale
    guidance_decay: float = 0.25  # subtracted per scale
    temperature: float = 1.0
    top_p: float | None = 0.9
    top_k: int | None = None
    prefix: str = "final"  # finished scales enter the KV cache with their final tokens ("final") or as MASK ("mask")

    def __post_init__(self):
        if self.prefix not in PREFIX_MODES:
            raise ValueError(f"prefix {self.prefix!r}: use one of {PREFIX_MODES}")

    def guidance_at(self, k: int) -> float:
        return max(0.0, self.guidance - self.guidance_decay * k)


def resolve_schedule(schedule: str | tuple[int, ...] | list[int], num_scales: int) -> tuple[int, ...]:
    if isinstance(schedule, str):
        if schedule in SCHEDULES:
            schedule = SCHEDULES[schedule]
        else:
            try:
                schedule = tuple(int(s) for s in schedule.split(","))
            except ValueError:
                raise ValueError(f"schedule {schedule!r}: use 'fast', 'best' or passes per scale like '1,2,5,10'") from None
    schedule = tuple(int(s) for s in schedule)
    if len(schedule) != num_scales or min(schedule) < 1:
        raise ValueError(f"schedule {schedule} needs {num_scales} positive pass counts, one per scale")
    return schedule


@dataclass
class Constraint:
    """Tokens fixed in advance, per scale, and latent steps whose f_hat is restored from a source after each scale."""
    locked: list[torch.Tensor]  # per scale (B, L_k) bool
    tokens: list[torch.Tensor]  # per scale (B, L_k) int64, read where locked
    source_f_hat: list[torch.Tensor] | None = None  # per scale (B, N, C): the source's f_hat after scale k
    keep_latent_BN: torch.Tensor | None = None  # (B, N) bool: latent steps taken from source_f_hat


@dataclass
class Trace:
    """What the last pass of each scale saw and produced (for tests: equals a full forward pass whose earlier scales
    hold their final tokens, or with prefix "mask" their last pass's inputs)."""
    inputs: list[torch.Tensor] = field(default_factory=list)  # per scale (B, L_k) input tokens of the last pass
    fhat_inputs: list[torch.Tensor | None] = field(default_factory=list)
    logits: list[torch.Tensor] = field(default_factory=list)  # per scale (B, L_k, V), conditional branch


# ---------------------------------------------------------------------------------------------------------------------
# token sampling


def filter_logits(logits_BLV: torch.Tensor, temperature: float, top_k: int | None, top_p: float | None) -> torch.Tensor:
    """Temperature, then keep the top-k and the smallest set with probability >= top_p; the rest -> -inf."""
    logits_BLV = logits_BLV / max(temperature, 1e-5)
    if top_k is not None and 0 < top_k < logits_BLV.shape[-1]:
        kth = torch.topk(logits_BLV, top_k, dim=-1).values[..., -1:]
        logits_BLV = logits_BLV.masked_fill(logits_BLV < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits_BLV, dim=-1, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        drop_sorted = cumulative - sorted_logits.softmax(-1) >= top_p  # keep the token that crosses top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits_BLV = logits_BLV.masked_fill(drop, float("-inf"))
    return logits_BLV


def sample_tokens(logits_BLV: torch.Tensor, options: SamplingOptions, generator: torch.Generator | None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens_BL, confidence_BL): a draw from the filtered distribution and its probability."""
    probs_BLV = filter_logits(logits_BLV.float(), options.temperature, options.top_k, options.top_p).softmax(-1)
    flat = probs_BLV.flatten(0, -2)
    tokens = torch.multinomial(flat, 1, generator=generator).view(probs_BLV.shape[:-1])
    return tokens, probs_BLV.gather(-1, tokens[..., None]).squeeze(-1)


def guided(logits_2BLV: torch.Tensor, weight: float, batch: int) -> torch.Tensor:
    """Combine [cond; uncond] logits; a batch of only `batch` rows means no unconditional branch was run."""
    if logits_2BLV.shape[0] == batch:
        return logits_2BLV
    cond, uncond = logits_2BLV[:batch], logits_2BLV[batch:]
    return (1 + weight) * cond - weight * uncond


def check_cancel(cancel: CancelFlag) -> None:
    if cancel is None:
        return
    flagged = cancel.is_set() if isinstance(cancel, threading.Event) else bool(cancel())
    if flagged:
        raise Cancelled("generation cancelled")


def masked_count(free: int, done: int, passes: int) -> int:
    """Tokens still masked after `done` of `passes` passes (cosine schedule, 0 after the last)."""
    return int(math.floor(free * math.cos(math.pi / 2 * done / passes)))


# ---------------------------------------------------------------------------------------------------------------------
# next-scale


def _context(model: MotionTransformer, text_BSD, text_mask_BS, use_cfg: bool) -> Context:
    if not use_cfg:
        return model.context(text_BSD, text_mask_BS)
    B = text_BSD.shape[0]
    drop_B = torch.arange(2 * B, device=text_BSD.device) >= B
    return model.context(torch.cat([text_BSD, text_BSD]), torch.cat([text_mask_BS, text_mask_BS]), drop_B)


@torch.no_grad()
def sample_next_scale(model: MotionTransformer, tokenizer: MotionTokenizer, text_BSD: torch.Tensor,
                      text_mask_BS: torch.Tensor, frames: int, options: SamplingOptions = SamplingOptions(),
                      generator: torch.Generator | None = None, progress: ProgressFn | None = None,
                      cancel: CancelFlag = None, constraint: Constraint | None = None, trace: Trace | None = None,
                      force_cfg: bool = False) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Generate B clips of `frames` frames. Returns (indices per scale [(B, L_k)], f_hat_BNC)."""
    config = model.config
    B, device = text_BSD.shape[0], text_BSD.device
    schedule = resolve_schedule(options.schedule, len(config.factors))
    n = scales.latent_length(frames, tokenizer.config.downsample)
    if n > config.max_latent:
        raise ValueError(f"{frames} frames is longer than the model's window ({config.max_latent} latent steps)")
    lengths_B = torch.full((B,), frames, dtype=torch.long, device=device)
    counts = scales.token_lengths(n, config.factors)
    use_cfg = force_cfg or any(options.guidance_at(k) > 0 for k in range(len(counts)))
    rows = 2 * B if use_cfg else B
    ctx, cache = _context(model, text_BSD, text_mask_BS, use_cfg), KVCache(config.n_layer)
    f_hat = tokenizer.init_f_hat(lengths_B)
    total, done = sum(schedule), 0
    indices = []
    previous = None  # prefix "final": (tokens, f̂ inputs, positions), CFG rows, of the finished scale not yet cached
    both_rows = (lambda x: torch.cat([x, x])) if use_cfg else (lambda x: x)
    for k, count in enumerate(counts):
        fhat_in = tokenizer.next_scale_input(f_hat, k, lengths_B) if k > 0 else None
        pos_BL = scale_positions(n, count).to(device)[None].expand(rows, -1)
        valid_BL = torch.ones(rows, count, dtype=torch.bool, device=device)
        locked = constraint.locked[k] if constraint is not None else torch.zeros(B, count, dtype=torch.bool, device=device)
        tokens = torch.full((B, count), model.mask_id, dtype=torch.long, device=device)
        if constraint is not None:
            tokens = torch.where(locked, constraint.tokens[k], tokens)
        fixed = locked.clone()
        free = int((~locked).sum(1).max())
        for step in range(1, schedule[k] + 1):
            check_cancel(cancel)
            both = both_rows(tokens)
            fhat_both = None if fhat_in is None else both_rows(fhat_in)
            if previous is not None:  # first pass of scale k also computes scale k-1 from its final tokens
                prev_tokens, prev_fhat, prev_pos = previous
                width = prev_tokens.shape[1]
                prev_fhat = prev_fhat if prev_fhat is not None else fhat_both.new_zeros(rows, width, fhat_both.shape[-1])
                levels_L = torch.cat([torch.full((width,), k - 1), torch.full((count,), k)]).to(device)
                logits = model.step(ctx, cache, torch.cat([prev_tokens, both], 1),
                                    torch.cat([prev_fhat, fhat_both], 1), levels_L, torch.cat([prev_pos, pos_BL], 1),
                                    torch.cat([torch.ones(rows, width, dtype=torch.bool, device=device), valid_BL], 1),
                                    n_query_slots=width if k == 1 else 0)[:, width:]
                cache.commit(first=width)
                previous = None
            else:
                logits = model.step(ctx, cache, both, fhat_both, k, pos_BL, valid_BL,
                                    n_query_slots=count if k == 0 else 0)
            if trace is not None and step == schedule[k]:
                trace.inputs.append(tokens.clone())
                trace.fhat_inputs.append(fhat_in)
                trace.logits.append(logits[:B].clone())
            sampled, confidence = sample_tokens(guided(logits, options.guidance_at(k), B), options, generator)
            tokens = torch.where(fixed, tokens, sampled)
            keep_masked = masked_count(free, step, schedule[k])
            if keep_masked > 0:
                confidence = confidence.masked_fill(fixed, float("inf"))
                ranks = confidence.argsort(dim=1).argsort(dim=1)
                remask = (ranks < keep_masked) & ~fixed
                tokens = tokens.masked_fill(remask, model.mask_id)
                fixed = ~remask
            else:
                fixed = torch.ones_like(fixed)
            done += 1
            if progress is not None:
                progress(done, total, f"scale {k + 1}/{len(counts)}, pass {step}/{schedule[k]}")
        if options.prefix == "final":
            previous = (both_rows(tokens), fhat_both, pos_BL)
        else:
            cache.commit()
        f_hat = tokenizer.accumulate(f_hat, tokens, k, lengths_B)
        if constraint is not None and constraint.keep_latent_BN is not None:
            f_hat = torch.where(constraint.keep_latent_BN[..., None], constraint.source_f_hat[k], f_hat)
        indices.append(tokens)
    return indices, f_hat


# ---------------------------------------------------------------------------------------------------------------------
# next-token baseline


@torch.no_grad()
def sample_next_token(model: MotionTransformer, tokenizer: MotionTokenizer, text_BSD: torch.Tensor,
                      text_mask_BS: torch.Tensor, frames: int, options: SamplingOptions = SamplingOptions(),
                      generator: torch.Generator | None = None, progress: ProgressFn | None = None,
                      cancel: CancelFlag = None) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Left-to-right over the finest scale's n tokens (END suppressed until n). Returns ([idx_BN], f_hat_BNC)."""
    config = model.config
    B, device = text_BSD.shape[0], text_BSD.device
    n = scales.latent_length(frames, tokenizer.config.downsample)
    if n > config.max_latent:
        raise ValueError(f"{frames} frames is longer than the model's window ({config.max_latent} latent steps)")
    use_cfg = options.guidance > 0
    rows = 2 * B if use_cfg else B
    ctx, cache = _context(model, text_BSD, text_mask_BS, use_cfg), KVCache(config.n_layer)
    Q = config.num_queries
    prefix = torch.full((rows, Q), model.mask_id, dtype=torch.long, device=device)
    pos = (torch.arange(Q, device=device, dtype=torch.float32) - Q)[None].expand(rows, -1)
    logits = model.step(ctx, cache, prefix, None, 0, pos, torch.ones(rows, Q, dtype=torch.bool, device=device),
                        n_query_slots=Q, causal=True)[:, -1:]
    cache.commit()
    tokens = []
    one_valid = torch.ones(rows, 1, dtype=torch.bool, device=device)
    for i in range(n):
        check_cancel(cancel)
        combined = guided(logits, options.guidance, B)[..., :config.num_codes]  # END is not allowed before n
        token, _ = sample_tokens(combined, options, generator)
        tokens.append(token)
        if progress is not None:
            progress(i + 1, n, f"token {i + 1}/{n}")
        if i + 1 < n:
            both = torch.cat([token, token]) if use_cfg else token
            pos = torch.full((rows, 1), float(i), device=device)
            logits = model.step(ctx, cache, both, None, 1, pos, one_valid, causal=True)
            cache.commit()
    idx_BN = torch.cat(tokens, dim=1)
    lengths_B = torch.full((B,), frames, dtype=torch.long, device=device)
    finest = len(tokenizer.config.scale_factors) - 1
    return [idx_BN], tokenizer.accumulate(tokenizer.init_f_hat(lengths_B), idx_BN, finest, lengths_B)


# ---------------------------------------------------------------------------------------------------------------------
# whole clips, any length


def window_plan(frames: int, window: int, overlap: int) -> list[tuple[int, int]]:
    """(start, stop) frame ranges covering [0, frames): the fewest windows of at most `window` frames, all of one
    length, consecutive ones overlapping by at least `overlap` frames."""
    if frames <= window:
        return [(0, frames)]
    if not 0 < overlap < window:
        raise ValueError(f"overlap ({overlap}) must be between 0 and the window ({window})")
    count = math.ceil((frames - overlap) / (window - overlap))
    length = min(window, math.ceil((frames + (count - 1) * overlap) / count))
    starts = [min(j * (length - overlap), frames - length) for j in range(count)]
    return [(start, start + length) for start in starts]


def continuation_constraint(tokenizer: MotionTokenizer, previous_BTD: torch.Tensor, frames: int,
                            factors: tuple[int, ...]) -> Constraint:
    """Lock the start of a `frames`-long window to `previous_BTD` (B, O, D) normalised features: tokens mostly inside
    the overlap are locked at every scale and f_hat over the overlap is restored from it after every scale."""
    B, overlap_frames, _ = previous_BTD.shape
    device, unit = previous_BTD.device, tokenizer.config.downsample
    lengths_B = torch.full((B,), frames, dtype=torch.long, device=device)
    kept = overlap_frames // unit  # whole latent steps inside the overlap
    if kept < 1:
        raise ValueError(f"an overlap of {overlap_frames} frames is shorter than one latent step ({unit} frames)")
    # Encode the overlap alone, then place its latents at the start of the window's latent grid.
    f_overlap = tokenizer.encode_latent(previous_BTD[:, :kept * unit],
                                        torch.full((B,), kept * unit, dtype=torch.long, device=device))
    n = scales.latent_length(frames, unit)
    f_src = torch.zeros(B, n, f_overlap.shape[-1], device=device, dtype=f_overlap.dtype)
    f_src[:, :kept] = f_overlap[:, :kept]
    locked, tokens, source_f_hat = [], [], []
    f_hat = tokenizer.init_f_hat(lengths_B)
    for k, factor in enumerate(factors):
        idx = tokenizer.quantize_scale(f_src, f_hat, k, lengths_B)
        f_hat = tokenizer.accumulate(f_hat, idx, k, lengths_B)
        window_BL = scales.window_token_mask(n, 0, kept, factor).to(device)[None].expand(B, -1)
        locked.append(window_BL.clone())
        tokens.append(idx)
        source_f_hat.append(f_hat)
    keep_BN = (torch.arange(n, device=device) < kept)[None].expand(B, -1)
    return Constraint(locked, tokens, source_f_hat, keep_BN)


def crossfade(first_BTD: torch.Tensor, second_BTD: torch.Tensor, overlap: int) -> torch.Tensor:
    """Join two feature sequences whose last/first `overlap` frames show the same moment, blending linearly."""
    weight_T1 = torch.linspace(0, 1, overlap + 2, device=first_BTD.device)[1:-1, None]
    blended = (1 - weight_T1) * first_BTD[:, -overlap:] + weight_T1 * second_BTD[:, :overlap]
    return torch.cat([first_BTD[:, :-overlap], blended, second_BTD[:, overlap:]], dim=1)


def decode_fp32(tokenizer: MotionTokenizer, f_hat_BNC: torch.Tensor, lengths_B: torch.Tensor) -> torch.Tensor:
    """Decode f̂ in fp32 even inside a bf16 autocast region: the decoder in bf16 moves joints by 3.6 mm on average
    (20 mm at worst; benchmarks/precision.py) for a few percent of the generation time."""
    with torch.autocast(f_hat_BNC.device.type, enabled=False):
        return tokenizer.decode_latent(f_hat_BNC.float(), lengths_B)


@torch.no_grad()
def generate_features(model: MotionTransformer, tokenizer: MotionTokenizer, text_BSD: torch.Tensor,
                      text_mask_BS: torch.Tensor, frames: int, options: SamplingOptions = SamplingOptions(),
                      generator: torch.Generator | None = None, progress: ProgressFn | None = None,
                      cancel: CancelFlag = None, overlap_frames: int = 48) -> torch.Tensor:
    """Normalised features (B, frames, D) for any length: one window, or overlapping continued windows."""
    window = model.config.max_latent * tokenizer.config.downsample
    plan = window_plan(frames, window, overlap_frames)
    B, device = text_BSD.shape[0], text_BSD.device
    passes = sum(resolve_schedule(options.schedule, len(model.config.factors))) if model.config.mode == NEXT_SCALE \
        else None
    result = None
    for w, (start, stop) in enumerate(plan):
        length = stop - start
        lengths_B = torch.full((B,), length, dtype=torch.long, device=device)
        window_progress = None
        if progress is not None:
            per_window = passes or scales.latent_length(length, tokenizer.config.downsample)
            window_progress = (lambda done, total, what, w=w, per=per_window:
                               progress(w * per + done, len(plan) * per, f"window {w + 1}/{len(plan)}, {what}"
                                        if len(plan) > 1 else what))
        if model.config.mode == NEXT_SCALE:
            constraint = None
            if result is not None:
                constraint = continuation_constraint(tokenizer, result[:, start:], length, model.config.factors)
            _, f_hat = sample_next_scale(model, tokenizer, text_BSD, text_mask_BS, length, options, generator,
                                         window_progress, cancel, constraint)
        else:
            if len(plan) > 1:
                raise ValueError(f"the next-token baseline generates at most {window} frames")
            _, f_hat = sample_next_token(model, tokenizer, text_BSD, text_mask_BS, length, options, generator,
                                         window_progress, cancel)
        features = decode_fp32(tokenizer, f_hat, lengths_B)
        result = features if result is None else crossfade(result, features, result.shape[1] - start)
    return result
