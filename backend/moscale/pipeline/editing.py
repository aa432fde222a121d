"""Zero-shot editing: regenerate a frame range, continue a motion (extend / prepend), fill a gap (in-betweening).

    edited = pipe.edit(motion, 60, 100, "a person jumps instead", seed=1)      # frames [60, 100) at 20 fps
    longer = pipe.extend(motion, 2.0, "then sits down")                        # +2 s after the last frame
    joined = pipe.inbetween(first, second, 1.0, "turns around")                # a 1 s gap between two clips

The model part follows the paper (DESIGN.md, "Editing"): the window the model sees is tokenised at every scale; tokens
whose span lies more than half inside the edit's latent steps (every 4-frame step holding a frame of the range) are
masked and re-predicted by the generator's own mask-predict loop (`sampling.sample_next_scale` with a `Constraint`),
the others are locked to the source's tokens, and after every scale the source's f_hat is restored outside the edit.
The shortest range is one token of the finest scale (4 frames). Extension, lead-ins and in-betweening are edits of a
longer clip whose new frames hold a placeholder (`coast`: the motion gliding to a stop). Motions longer than one
model window are edited in pieces of at most `window - 2 * context` frames, each in a window around it (only windows
touching the range run); a piece followed by another sees its future as free, the last piece sees the source after
the range as locked context.

The result is assembled in joint space (`moscale.motion.splice`): frames outside [start, end) are the source's own array values, bit
for bit. Inside, the generated motion is split into a root trajectory (heading about +Y, XZ position) and a root-
relative pose; the trajectory is re-integrated from the source's root at frame start - 1 with the generated per-frame
turns and steps, bent so that it lands on the source's root at frame `end`, and near each seam (`blend_frames`) the
steps and the pose cross-fade from the source's own frames to the generated ones. The seam therefore carries the
source's velocity whatever the model produced (tests/test_editing.py bounds it with real motion).
"""
from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from moscale.model import scales
from moscale.model.sampling import (DEFAULT_GUIDANCE, CancelFlag, Constraint, ProgressFn, SamplingOptions, decode_fp32,
                                    resolve_schedule, sample_next_scale)
from moscale.model.transformer import NEXT_SCALE
from moscale.motion import feet
from moscale.motion import features as feature_codec
from moscale.motion.clip import Motion
from moscale.motion.kinematics import filter_jitter, retarget_bone_lengths
from moscale.motion.skeleton import BONE_LENGTHS_M, FPS
from moscale.motion.splice import BLEND_FRAMES, canonical_frame, coast, place_after, rotate_y, smootherstep, splice
from moscale.pipeline import checks

CONTEXT_FRAMES = 48  # long clips: source frames the model sees on each side of a piece (at most window / 4)
ALIGNMENTS = ("continue", "absolute")


# ---------------------------------------------------------------------------------------------------------------------
# ranges and pieces


def min_edit_frames(downsample: int, factors: tuple[int, ...]) -> int:
    """The shortest range: one token of the finest scale (4 frames for the (8, 4, 2, 1) schedule)."""
    return downsample * min(factors)


def check_range(num_frames: int, start: int, end: int, min_frames: int) -> tuple[int, int]:
    """Validate a [start, end) frame range of a clip of `num_frames` frames; returns it as ints."""
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"edit {name} frame must be a whole number, got {value!r}")
    start, end = int(start), int(end)
    if end <= start:
        raise ValueError(f"edit range [{start}, {end}) is empty or inverted: the end frame (exclusive) must come after "
                         f"the start frame")
    if start < 0 or end > num_frames:
        raise ValueError(f"edit range [{start}, {end}) is outside the clip (frames 0 to {num_frames}, end exclusive)")
    if end - start < min_frames:
        raise ValueError(f"edit range [{start}, {end}) is {end - start} frames, shorter than one token of the finest "
                         f"scale ({min_frames} frames = {min_frames / 20:.2f} s at 20 fps)")
    return start, end


@dataclass(frozen=True)
class Piece:
    """One model call: frames [start, stop) are regenerated and spliced; the model sees [window_start, window_stop),
    with latents from `start` up to `free_stop` masked (free_stop > stop when a later piece overwrites what follows)."""
    start: int
    stop: int
    window_start: int
    window_stop: int
    free_stop: int
    anchor_end: bool  # blend into the source at `stop` (False when a later piece continues from here)


def plan_pieces(num_frames: int, start: int, end: int, window: int, context: int,
                anchor_end: bool = True) -> list[Piece]:
    """Split [start, end) of a clip into pieces of at most `window - 2 * context` frames, each with its window."""
    if num_frames <= window:
        return [Piece(start, end, 0, num_frames, end, anchor_end)]
    span = window - 2 * context
    if span < 1:
        raise ValueError(f"context ({context} frames per side) leaves no room in a {window}-frame window")
    count = math.ceil((end - start) / span)
    bounds = [start + round(i * (end - start) / count) for i in range(count + 1)]
    pieces = []
    for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        if i == count - 1:  # centred: real context on both sides
            window_start = min(max(lo - (window - (hi - lo)) // 2, 0), num_frames - window)
            pieces.append(Piece(lo, hi, window_start, window_start + window, hi, anchor_end))
        else:  # its window runs `context` frames past it, generated free: the next piece's seam blends out of them
            # (a window's last frames are its ending, where the model settles: a seam there popped)
            window_start = min(max(hi + context - window, 0), num_frames - window)
            window_stop = min(window_start + window, num_frames)
            pieces.append(Piece(lo, hi, window_start, window_stop, window_stop, False))
    return pieces


# ---------------------------------------------------------------------------------------------------------------------
# the model side


def feature_facing(pipe) -> str:
    """The facing convention of the features the model was trained on (release config `features.facing` or
    `training.facing`; the corpus builder's default, 'corrected', when neither says)."""
    if pipe.folder is not None and (Path(pipe.folder) / "config.json").is_file():
        config = json.loads((Path(pipe.folder) / "config.json").read_text())
        for section in ("features", "training"):
            if isinstance(config.get(section), dict) and config[section].get("facing"):
                return str(config[section]["facing"])
    return "corrected"


def window_features(joints_TJ3: np.ndarray, frames: int, facing: str) -> tuple[np.ndarray, float, np.ndarray]:
    """Raw features (frames, 263) of a window given its joints (frames + 1, or frames: the last one is extrapolated),
    retargeted to the uniform skeleton and moved to the canonical frame; also that frame (heading, origin)."""
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    if len(joints) == frames:
        joints = np.concatenate([joints, 2 * joints[-1:] - joints[-2:-1]])
    joints = retarget_bone_lengths(joints, BONE_LENGTHS_M)
    heading, origin = canonical_frame(joints)
    canonical = rotate_y(joints - origin, -heading)
    return feature_codec.joints_to_features(canonical, facing=facing), heading, origin


def edit_constraint(tokenizer, features_1TD: torch.Tensor, latent_begin: int, latent_end: int) -> Constraint:
    """Tokens of a window at every scale; those more than half inside latent steps [begin, end) are free, the rest
    locked; f_hat outside [begin, end) is restored from the window's own after every scale."""
    device = features_1TD.device
    lengths_B = torch.tensor([features_1TD.shape[1]], device=device)
    f_BNC = tokenizer.encode_latent(features_1TD, lengths_B)
    n = f_BNC.shape[1]
    f_hat = tokenizer.init_f_hat(lengths_B)
    locked, tokens, source_f_hat = [], [], []
    for k, factor in enumerate(tokenizer.config.scale_factors):
        idx_BL = tokenizer.quantize_scale(f_BNC, f_hat, k, lengths_B)
        f_hat = tokenizer.accumulate(f_hat, idx_BL, k, lengths_B)
        inside_L = scales.window_token_mask(n, latent_begin, latent_end, factor).to(device)
        locked.append(~inside_L[None])
        tokens.append(idx_BL)
        source_f_hat.append(f_hat)
    steps = torch.arange(n, device=device)
    keep_BN = ((steps < latent_begin) | (steps >= latent_end))[None]
    return Constraint(locked, tokens, source_f_hat, keep_BN)


def generate_piece(pipe, joints_TJ3: np.ndarray, piece: Piece, text, options: SamplingOptions,
                   generator: torch.Generator, progress: ProgressFn | None, cancel: CancelFlag,
                   facing: str) -> tuple[np.ndarray, np.ndarray]:
    """The model's motion for a piece's window, in the clip's world frame: (window frames, 22, 3), and the foot
    contacts it predicts with it, (window frames, 4) bool."""
    tokenizer, unit = pipe.tokenizer, pipe.tokenizer.config.downsample
    a, b = piece.window_start, piece.window_stop
    raw, heading, origin = window_features(joints_TJ3[a:b + 1], b - a, facing)
    features_1TD = tokenizer.normalize(torch.from_numpy(raw).to(pipe.device)[None])
    begin, stop = (piece.start - a) // unit, -(-(piece.free_stop - a) // unit)
    constraint = edit_constraint(tokenizer, features_1TD, begin, stop)
    _, f_hat = sample_next_scale(pipe.model, tokenizer, *text, b - a, options, generator, progress, cancel, constraint)
    decoded = tokenizer.denormalize(decode_fp32(tokenizer, f_hat, torch.tensor([b - a], device=pipe.device)))
    features = decoded[0].double().cpu().numpy()
    joints = filter_jitter(feature_codec.features_to_joints(features), FPS)  # the decoder's frame-to-frame jitter
    return rotate_y(joints.astype(np.float64), heading) + origin, feet.contacts_from_features(features)


def _sampling(pipe, seed, guidance, schedule, temperature, top_p, top_k) -> tuple[SamplingOptions, int]:
    if pipe.model.config.mode != NEXT_SCALE:
        raise ValueError("editing needs a next-scale model; this release is the next-token baseline")
    guidance, temperature, top_p, top_k, seed = checks.check_sampling(
        guidance=guidance, temperature=temperature, top_p=top_p, top_k=top_k, seed=seed)
    schedule = resolve_schedule(schedule, len(pipe.model.config.factors))
    seed = random.randrange(2**31) if seed is None else int(seed)
    return SamplingOptions(schedule=schedule, guidance=float(guidance), temperature=float(temperature), top_p=top_p,
                           top_k=top_k, prefix=pipe.prefix), seed


def _check_source(pipe, motion: Motion, name: str = "source") -> np.ndarray:
    if not isinstance(motion, Motion):
        raise TypeError(f"{name} must be a moscale.motion.Motion, got {type(motion).__name__}")
    if motion.fps != pipe.fps:
        raise ValueError(f"{name} is at {motion.fps:g} fps; the model works at {pipe.fps} fps "
                         f"(use motion.resample({pipe.fps}) first)")
    return motion.joints


@torch.inference_mode()
def regenerate_range(pipe, joints_TJ3: np.ndarray, start: int, end: int, prompt: str, *, kind: str, seed, guidance,
                     schedule, temperature, top_p, top_k, blend_frames, progress, cancel, foot_lock: bool = True,
                     anchor_end: bool = True, **metadata: Any) -> Motion:
    """The shared core of every edit: regenerate [start, end) of `joints_TJ3` (a range already checked, every sampling
    setting given: `sampling_defaults` fills them) piece by piece; frames outside keep their bits. With `foot_lock`
    the feet are pinned where the model predicts contact, inside [start, end) only."""
    options, seed = _sampling(pipe, seed, guidance, schedule, temperature, top_p, top_k)
    seams = int(start >= 1) + int(anchor_end and end < len(joints_TJ3))
    blend_frames = checks.check_blend_frames(blend_frames, end - start, seams, BLEND_FRAMES)
    text = pipe.encode_text(prompt)
    window = pipe.window_frames
    context = min(CONTEXT_FRAMES, window // 4) // pipe.tokenizer.config.downsample * pipe.tokenizer.config.downsample
    pieces = plan_pieces(len(joints_TJ3), start, end, window, context, anchor_end)
    passes = sum(options.schedule)
    generator = torch.Generator(device=pipe.device).manual_seed(seed)
    facing = feature_facing(pipe)
    working = np.asarray(joints_TJ3)
    contacts = np.zeros((len(working), 4), dtype=bool)
    for i, piece in enumerate(pieces):
        piece_progress = None
        if progress is not None:
            piece_progress = (lambda done, total, what, i=i: progress(
                i * passes + done, len(pieces) * passes, f"piece {i + 1}/{len(pieces)}, {what}" if len(pieces) > 1
                else what))
        generated = np.array(working, dtype=np.float64)
        generated[piece.window_start:piece.window_stop], window_contacts = generate_piece(
            pipe, working, piece, text, options, generator, piece_progress, cancel, facing)
        contacts[piece.start:piece.stop] = window_contacts[piece.start - piece.window_start:
                                                           piece.stop - piece.window_start]
        # A piece that a later one continues is spliced on over the next seam's blend (its own free frames; never past
        # the range, never into the frames the range's end blends from): the next piece's seam then blends out of
        # this piece's continuation. Spliced only to `stop`, the source's old frames sat right after it, and the next
        # seam blended out of those: a pop at every boundary between pieces (third differences up to 12x the source's).
        stop = piece.stop if piece.anchor_end else min(piece.free_stop, piece.stop + int(blend_frames) + 1, end)
        working = splice(working, generated, piece.start, stop, int(blend_frames), anchor_end=piece.anchor_end)
    if foot_lock:
        editable = np.zeros(len(working), dtype=bool)
        editable[start:end] = True
        working = feet.lock_feet(working, contacts & feet.near_floor(working), editable_T=editable,
                                 border=max(int(blend_frames), 1))
    settings = dict(kind=kind, seed=seed, guidance=float(guidance), schedule=list(options.schedule),
                    temperature=float(temperature), top_p=top_p, top_k=top_k, edit_start=start, edit_end=end,
                    blend_frames=int(blend_frames), foot_lock=bool(foot_lock), windows=len(pieces),
                    frames=len(working), model=str(pipe.folder) if pipe.folder else None, **metadata)
    return Motion(working, fps=pipe.fps, prompt=prompt, metadata=settings)


# ---------------------------------------------------------------------------------------------------------------------
# public API (MoScalePipeline.edit / extend / prepend / inbetween delegate here)


def edit(pipe, source: Motion, start_frame: int, end_frame: int, prompt: str, *, seed: int | None = None,
         guidance: float = DEFAULT_GUIDANCE, schedule: str | tuple[int, ...] = "fast", temperature: float = 1.0,
         top_p: float | None = 0.9, top_k: int | None = None, blend_frames: int = BLEND_FRAMES,
         foot_lock: bool = True, progress: ProgressFn | None = None, cancel: CancelFlag = None) -> Motion:
    """Regenerate frames [start_frame, end_frame) (20 fps, end exclusive) to follow `prompt`. Returns a Motion of the
    source's length whose frames outside the range are the source's, bit for bit; `metadata['seed']` replays it.
    `foot_lock` pins the feet where the model predicts contact (moscale.motion.feet), inside the range only."""
    joints = _check_source(pipe, source)
    start, end = check_range(len(joints), start_frame, end_frame, min_edit_frames(
        pipe.tokenizer.config.downsample, pipe.model.config.factors))
    return regenerate_range(pipe, joints, start, end, prompt, kind="edit", seed=seed, guidance=guidance,
                            schedule=schedule, temperature=temperature, top_p=top_p, top_k=top_k,
                            blend_frames=blend_frames, foot_lock=foot_lock, progress=progress, cancel=cancel,
                            source_prompt=source.prompt, **_source_file(source))


def _source_file(source: Motion) -> dict:
    """The file an edit came from (metadata['source']), so that saving the edit can write into it and keep every
    frame outside the range as the file has it (moscale.motion.edit_files)."""
    return {"source": source.metadata["source"]} if source.metadata.get("source") else {}


def _added_frames(pipe, seconds: float | None, frames: int | None) -> int:
    if seconds is None and frames is None:
        raise ValueError("give the added length in seconds or in frames")
    return pipe.resolve_frames(seconds, frames)


def extend(pipe, source: Motion, seconds: float | None, prompt: str, *, frames: int | None = None,
           **sampling: Any) -> Motion:
    """Continue `source` for `seconds` (or `frames`): the first len(source) frames are the source's, bit for bit."""
    joints = _check_source(pipe, source)
    added = _added_frames(pipe, seconds, frames)
    working = np.concatenate([joints, coast(joints, added).astype(np.float32)])
    return regenerate_range(pipe, working, len(joints), len(working), prompt, kind="extend",
                            **sampling_defaults(sampling), source_prompt=source.prompt)


def prepend(pipe, source: Motion, seconds: float | None, prompt: str, *, frames: int | None = None,
            **sampling: Any) -> Motion:
    """A lead-in of `seconds` (or `frames`) before `source`: the last len(source) frames are the source's, bit for
    bit, and the lead-in ends where the source starts."""
    joints = _check_source(pipe, source)
    added = _added_frames(pipe, seconds, frames)
    working = np.concatenate([coast(joints[::-1], added)[::-1].astype(np.float32), joints])
    return regenerate_range(pipe, working, 0, added, prompt, kind="prepend", **sampling_defaults(sampling),
                            source_prompt=source.prompt)


def inbetween(pipe, first: Motion, second: Motion, seconds: float | None, prompt: str, *, frames: int | None = None,
              align: str = "continue", **sampling: Any) -> Motion:
    """`first`, a generated gap of `seconds` (or `frames`), then `second`. The first len(first) frames are `first`'s
    and the last len(second) are `second`'s, bit for bit: as given with align='absolute', or (align='continue', the
    default) moved rigidly to start where and how `first` was heading (`place_after`)."""
    joints_a, joints_b = _check_source(pipe, first, "first"), _check_source(pipe, second, "second")
    gap = _added_frames(pipe, seconds, frames)
    if align not in ALIGNMENTS:
        raise ValueError(f"align must be one of {ALIGNMENTS}, got {align!r}")
    if align == "continue":
        joints_b = place_after(joints_a, joints_b, gap)
    weight = smootherstep(np.arange(1, gap + 1) / (gap + 1))[:, None, None]
    filler = (1 - weight) * coast(joints_a, gap) + weight * coast(joints_b[::-1], gap)[::-1]
    working = np.concatenate([joints_a, filler.astype(np.float32), joints_b])
    return regenerate_range(pipe, working, len(joints_a), len(joints_a) + gap, prompt, kind="inbetween",
                            **sampling_defaults(sampling), align=align)


def sampling_defaults(sampling: dict) -> dict:
    """`sampling` (keyword arguments of an edit) with the defaults filled in for `regenerate_range`; raises TypeError
    on a name it does not take."""
    known = dict(seed=None, guidance=DEFAULT_GUIDANCE, schedule="fast", temperature=1.0, top_p=0.9, top_k=None,
                 blend_frames=BLEND_FRAMES, foot_lock=True, progress=None, cancel=None)
    unknown = sorted(set(sampling) - set(known))
    if unknown:
        raise TypeError(f"unexpected keyword arguments {unknown}")
    return {**known, **sampling}
