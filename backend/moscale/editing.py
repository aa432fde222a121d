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

The result is assembled in joint space (`splice`): frames outside [start, end) are the source's own array values, bit
for bit. Inside, the generated motion is split into a root trajectory (heading about +Y, XZ position) and a root-
relative pose; the trajectory is re-integrated from the source's root at frame start - 1 with the generated per-frame
turns and steps, bent so that it lands on the source's root at frame `end`, and near each seam (`blend_frames`) the
steps and the pose cross-fade from the source's own frames to the generated ones. The seam therefore carries the
source's velocity whatever the model produced (tests/test_editing.py bounds it with real motion).
"""
from __future__ import annotations

import argparse
import json
import math
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from moscale import feet
from moscale import features as feature_codec
from moscale import scales
from moscale.kinematics import facing_directions, filter_jitter, retarget_bone_lengths
from moscale.motion import Motion
from moscale.sampling import (DEFAULT_GUIDANCE, CancelFlag, Constraint, ProgressFn, SamplingOptions, decode_fp32,
                              resolve_schedule, sample_next_scale)
from moscale.skeleton import BONE_LENGTHS_M, FPS
from moscale.transformer import NEXT_SCALE

BLEND_FRAMES = 8  # frames inside the range, at each seam, that blend toward the source's continuation (0.4 s)
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
        else:  # the piece ends its window: what follows it is regenerated by the next piece
            window_start = max(hi - window, 0)
            window_stop = min(window_start + window, num_frames)
            pieces.append(Piece(lo, hi, window_start, window_stop, window_stop, False))
    return pieces


# ---------------------------------------------------------------------------------------------------------------------
# root trajectory and root-relative pose


def wrap(angle: np.ndarray) -> np.ndarray:
    """Angles (radians) wrapped to [-pi, pi)."""
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi


def rotate_y(vectors_N3: np.ndarray, angle: np.ndarray | float) -> np.ndarray:
    """Rotate (..., 3) vectors about +Y by `angle` radians (shape broadcastable to vectors.shape[:-1]); +Z turns
    toward +X."""
    angle = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(angle)[..., None], np.sin(angle)[..., None]
    x, y, z = vectors_N3[..., 0:1], vectors_N3[..., 1:2], vectors_N3[..., 2:3]
    return np.concatenate([c * x + s * z, np.broadcast_to(y, (c * x).shape), c * z - s * x], axis=-1)


def decompose(joints_TJ3: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(heading_T radians, root_T3 with y = 0, pose_TJ3): joints = rotate_y(pose, heading) + root. The heading is the
    unsmoothed hip/shoulder facing; the pose keeps absolute heights (like the features' root-relative positions)."""
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    forward_T3 = facing_directions(joints)
    heading_T = np.arctan2(forward_T3[:, 0], forward_T3[:, 2])
    root_T3 = joints[:, 0] * np.array([1.0, 0.0, 1.0])
    pose_TJ3 = rotate_y(joints - root_T3[:, None], -heading_T[:, None])
    return heading_T, root_T3, pose_TJ3


def compose(heading_T: np.ndarray, root_T3: np.ndarray, pose_TJ3: np.ndarray) -> np.ndarray:
    return rotate_y(pose_TJ3, heading_T[:, None]) + root_T3[:, None]


def smootherstep(x: np.ndarray) -> np.ndarray:
    """0 -> 1 with zero first and second derivatives at both ends."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * x * (x * (6 * x - 15) + 10)


def _fall(distance: np.ndarray, blend: int) -> np.ndarray:
    """Weight of the source's own frames at `distance` frames from a seam's outside frame (steps sit at half frames):
    1 on the crossing step, falling smoothly to 0 after `blend` frames."""
    if blend == 0:
        return np.zeros(np.shape(distance))
    return 1.0 - smootherstep((np.asarray(distance, dtype=np.float64) - 0.5) / blend)


def _steps(heading_T: np.ndarray, root_T3: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame turns (radians) and steps (metres, in the heading of the frame they leave) of a root trajectory."""
    return np.diff(heading_T), rotate_y(np.diff(root_T3, axis=0), -heading_T[:-1])


def splice(source_TJ3: np.ndarray, generated_TJ3: np.ndarray, start: int, end: int, blend: int = BLEND_FRAMES,
           anchor_start: bool = True, anchor_end: bool = True) -> np.ndarray:
    """The source with frames [start, end) replaced by `generated` (same length; read on [start - 1, end]). Frames
    outside [start, end) are copied unchanged (same dtype, same bits).

    The generated root trajectory is re-integrated from the source's root at start - 1 and bent (away from the seams)
    to land on the source's root at `end`; within `blend` frames of a seam, turns, steps and the root-relative pose
    cross-fade from the source's own frames (its old content, or the coasting placeholder of an extension) to the
    generated ones, so each seam carries the source's velocity. A seam at the clip's edge (or with its anchor off) is
    free: the trajectory is integrated from the other one, or kept as generated when neither exists."""
    out = np.array(source_TJ3, copy=True)
    has_start, has_end = anchor_start and start >= 1, anchor_end and end < len(out)
    first, last = (start - 1 if has_start else start), (end if has_end else end - 1)
    s_head, s_root, s_pose = decompose(np.asarray(source_TJ3)[first:last + 1])
    g_head, g_root, g_pose = decompose(np.asarray(generated_TJ3)[first:last + 1])
    s_head, g_head = np.unwrap(s_head), np.unwrap(g_head)
    length = end - start

    def source_weight(distance_from_start: np.ndarray) -> np.ndarray:
        weight = np.zeros(len(distance_from_start))
        if has_start:
            weight = np.maximum(weight, _fall(distance_from_start, blend))
        if has_end:
            weight = np.maximum(weight, _fall(length + 1 - distance_from_start, blend))
        return weight

    k = np.arange(last - first) + 0.5 + (first - (start - 1))  # step midpoints, in frames after frame start - 1
    weight = source_weight(k)
    (s_turn, s_step), (g_turn, g_step) = _steps(s_head, s_root), _steps(g_head, g_root)
    turn = (1 - weight) * g_turn + weight * s_turn
    step = (1 - weight[:, None]) * g_step + weight[:, None] * s_step
    if has_start:
        heading = s_head[0] + np.concatenate([[0.0], np.cumsum(turn)])
        if has_end:  # bend the path, away from the seams, so that it lands on the source's heading and root
            share = (1 - weight) * np.sin(np.pi * k / (length + 1)) ** 2  # ~0 within the seams' blends
            share /= share.sum()
            heading = heading + np.concatenate([[0.0], np.cumsum(share)]) * wrap(s_head[-1] - heading[-1])
        root = s_root[0] + np.concatenate([np.zeros((1, 3)), np.cumsum(rotate_y(step, heading[:-1]), axis=0)])
        if has_end:
            root = root + np.concatenate([[0.0], np.cumsum(share)])[:, None] * (s_root[-1] - root[-1])
    elif has_end:  # only an end seam (a lead-in): integrate backwards from the source's root at `end`
        heading = s_head[-1] - np.concatenate([np.cumsum(turn[::-1])[::-1], [0.0]])
        moves = rotate_y(step, heading[:-1])
        root = s_root[-1] - np.concatenate([np.cumsum(moves[::-1], axis=0)[::-1], np.zeros((1, 3))])
    else:
        heading, root = g_head, g_root
    inside = np.arange(start, end) - first
    weight = source_weight(np.arange(start, end) - (start - 1.0))[:, None, None]
    pose = (1 - weight) * g_pose[inside] + weight * s_pose[inside]
    out[start:end] = compose(heading[inside], root[inside], pose)
    return out


def coast(joints_TJ3: np.ndarray, frames: int, decay_frames: float = 4.0) -> np.ndarray:
    """`frames` new frames (frames, 22, 3) after the last one: its last turn and step continue and its pose keeps
    moving, with Gaussian decays (pose twice as fast), so the body glides to a stop. The placeholder that extension,
    lead-ins and in-betweening regenerate, and what their seams blend from."""
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    tail = joints[-2:] if len(joints) > 1 else np.concatenate([joints, joints])
    head, root, pose = decompose(tail)
    turn, step = _steps(np.unwrap(head), root)
    factor = np.exp(-0.5 * (np.arange(1, frames + 1) / decay_frames) ** 2)
    heading = head[1] + turn[0] * np.cumsum(factor)
    leaving = np.concatenate([[head[1]], heading[:-1]])
    path = root[1] + np.cumsum(rotate_y(factor[:, None] * step[0], leaving), axis=0)
    pose_factor = np.exp(-0.5 * (np.arange(1, frames + 1) / (decay_frames / 2)) ** 2)
    return compose(heading, path, pose[1] + np.cumsum(pose_factor)[:, None, None] * (pose[1] - pose[0]))


def seam_jumps(joints_TJ3: np.ndarray, start: int, end: int) -> list[float]:
    """Joint velocity change across each seam of a [start, end) edit (metres per frame, max over joints): at the start
    |v(s-1 -> s) - v(s-2 -> s-1)|, at the end |v(e -> e+1) - v(e-1 -> e)|; seams without two outside frames are
    skipped. Compare with `acceleration_profile` of real motion."""
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    jumps = []
    for a, b, c in ((start - 2, start - 1, start), (end - 1, end, end + 1)):
        if a >= 0 and c < len(joints):
            jumps.append(float(np.linalg.norm(joints[c] - 2 * joints[b] + joints[a], axis=-1).max()))
    return jumps


def acceleration_profile(joints_TJ3: np.ndarray) -> np.ndarray:
    """(T - 2,) the same velocity change at every frame of a motion (max over joints, metres per frame)."""
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    return np.linalg.norm(np.diff(joints, n=2, axis=0), axis=-1).max(axis=1)


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


def canonical_frame(joints_TJ3: np.ndarray) -> tuple[float, np.ndarray]:
    """(heading radians, origin) that put frame 0's root at XZ 0 facing +Z and the lowest joint on y = 0."""
    heading, root, _ = decompose(joints_TJ3[:1])
    origin = root[0] + np.array([0.0, float(np.asarray(joints_TJ3)[..., 1].min()), 0.0])
    return float(heading[0]), origin


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
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
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
def _regenerate(pipe, joints_TJ3: np.ndarray, start: int, end: int, prompt: str, *, kind: str, seed, guidance,
                schedule, temperature, top_p, top_k, blend_frames, progress, cancel, foot_lock: bool = True,
                anchor_end: bool = True, **metadata: Any) -> Motion:
    """The shared core: regenerate [start, end) of `joints_TJ3` (already checked) piece by piece; with `foot_lock`
    the feet are pinned where the model predicts contact, inside [start, end) only."""
    text = pipe.encode_text(prompt)
    options, seed = _sampling(pipe, seed, guidance, schedule, temperature, top_p, top_k)
    if int(blend_frames) != blend_frames or blend_frames < 0:
        raise ValueError(f"blend_frames must be a whole number >= 0, got {blend_frames!r}")
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
        working = splice(working, generated, piece.start, piece.stop, int(blend_frames), anchor_end=piece.anchor_end)
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
    `foot_lock` pins the feet where the model predicts contact (moscale.feet), inside the range only."""
    joints = _check_source(pipe, source)
    start, end = check_range(len(joints), start_frame, end_frame, min_edit_frames(
        pipe.tokenizer.config.downsample, pipe.model.config.factors))
    return _regenerate(pipe, joints, start, end, prompt, kind="edit", seed=seed, guidance=guidance,
                       schedule=schedule, temperature=temperature, top_p=top_p, top_k=top_k,
                       blend_frames=blend_frames, foot_lock=foot_lock, progress=progress, cancel=cancel,
                       source_prompt=source.prompt, **_source_file(source))


def _source_file(source: Motion) -> dict:
    """The file an edit came from (metadata['source']), so that saving the edit can write into it and keep every
    frame outside the range as the file has it (moscale.edit_files)."""
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
    return _regenerate(pipe, working, len(joints), len(working), prompt, kind="extend", **_defaults(sampling),
                       source_prompt=source.prompt)


def prepend(pipe, source: Motion, seconds: float | None, prompt: str, *, frames: int | None = None,
            **sampling: Any) -> Motion:
    """A lead-in of `seconds` (or `frames`) before `source`: the last len(source) frames are the source's, bit for
    bit, and the lead-in ends where the source starts."""
    joints = _check_source(pipe, source)
    added = _added_frames(pipe, seconds, frames)
    working = np.concatenate([coast(joints[::-1], added)[::-1].astype(np.float32), joints])
    return _regenerate(pipe, working, 0, added, prompt, kind="prepend", **_defaults(sampling),
                       source_prompt=source.prompt)


def place_after(first_TJ3: np.ndarray, second_TJ3: np.ndarray, gap: int) -> np.ndarray:
    """`second` moved rigidly (about +Y and along XZ) to start with the heading `first` ends with, where `first`'s last
    step, repeated over the gap, would take its root."""
    head_a, root_a, _ = decompose(first_TJ3[-2:] if len(first_TJ3) > 1 else first_TJ3)
    head_b, root_b, _ = decompose(np.asarray(second_TJ3)[:1])
    step = root_a[-1] - root_a[0]
    moved = rotate_y(np.asarray(second_TJ3, dtype=np.float64) - root_b[0], np.full(1, head_a[-1] - head_b[0]))
    return (moved + root_a[-1] + (gap + 1) * step).astype(np.float32)


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
    return _regenerate(pipe, working, len(joints_a), len(joints_a) + gap, prompt, kind="inbetween",
                       **_defaults(sampling), align=align)


def _defaults(sampling: dict) -> dict:
    known = dict(seed=None, guidance=DEFAULT_GUIDANCE, schedule="fast", temperature=1.0, top_p=0.9, top_k=None,
                 blend_frames=BLEND_FRAMES, foot_lock=True, progress=None, cancel=None)
    unknown = sorted(set(sampling) - set(known))
    if unknown:
        raise TypeError(f"unexpected keyword arguments {unknown}")
    return {**known, **sampling}


# ---------------------------------------------------------------------------------------------------------------------
# figure


def edit_figure(reference_TJ3: np.ndarray, edited_TJ3: np.ndarray, start: int, end: int, path: str | Path,
                fps: float = 20, title: str = "") -> Path:
    """A PNG of a source and its edit on the edit's timeline: the root path from above, joint heights, root X/Z and the
    mean joint speed over time, the edited range shaded. `reference` has NaN on frames it lacks (new frames)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    reference, edited = np.asarray(reference_TJ3, np.float64), np.asarray(edited_TJ3, np.float64)
    seconds = np.arange(len(edited)) / fps
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), dpi=100)
    top, heights, root, speed = axes.ravel()
    top.plot(reference[:, 0, 0], reference[:, 0, 2], "--", color="0.55", label="source")
    top.plot(edited[:, 0, 0], edited[:, 0, 2], color="#1f77b4", lw=1, label="edit")
    top.plot(edited[start:end, 0, 0], edited[start:end, 0, 2], color="#d62728", lw=2, label="edited range")
    top.set(xlabel="x (m)", ylabel="z (m)", title="root path, from above", aspect="equal")
    top.legend(fontsize=8)
    for joint, name, color in ((15, "head", "#404040"), (20, "left wrist", "#17becf"), (21, "right wrist", "#ff7f0e"),
                               (10, "left foot", "#1f77b4"), (11, "right foot", "#d62728")):
        heights.plot(seconds, reference[:, joint, 1], "--", color=color, alpha=0.5)
        heights.plot(seconds, edited[:, joint, 1], color=color, label=name)
    heights.set(ylabel="height (m)", title="joint heights (dashed: source)")
    heights.legend(fontsize=7, ncol=3)
    for axis, name, color in ((0, "root x", "#2ca02c"), (2, "root z", "#9467bd")):
        root.plot(seconds, reference[:, 0, axis], "--", color=color, alpha=0.5)
        root.plot(seconds, edited[:, 0, axis], color=color, label=name)
    root.set(xlabel="time (s)", ylabel="metres", title="root position")
    root.legend(fontsize=8)
    for joints, style, label in ((reference, "--", "source"), (edited, "-", "edit")):
        velocity = np.linalg.norm(np.diff(joints, axis=0), axis=-1) * fps
        speed.plot(seconds[1:], velocity.mean(1), style, color="0.55" if style == "--" else "#1f77b4", label=label)
    speed.set(xlabel="time (s)", ylabel="m/s", title="mean joint speed")
    speed.legend(fontsize=8)
    for axis in (heights, root, speed):
        axis.axvspan(start / fps, end / fps, color="#d62728", alpha=0.12, lw=0)
    fig.suptitle(title or f"edit of frames {start}-{end}", fontsize=10)
    fig.tight_layout()
    from moscale.atomic import replacing

    path = Path(path)
    with replacing(path) as temporary:
        fig.savefig(temporary, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------------------------------
# command line: moscale edit SOURCE --frames 60:100 "jumps instead" -o edited.bvh


def parse_frames(text: str, num_frames: int) -> tuple[int, int]:
    """'60:100' -> (60, 100), end exclusive; '60:' runs to the end, ':100' starts at 0."""
    if text.count(":") != 1:
        raise ValueError(f"--frames {text!r}: use START:END (20 fps frames, end exclusive), e.g. 60:100")
    lo, hi = text.split(":")
    try:
        return (int(lo) if lo.strip() else 0), (int(hi) if hi.strip() else num_frames)
    except ValueError:
        raise ValueError(f"--frames {text!r}: START and END must be whole numbers") from None


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", type=Path, help="the motion to edit: .bvh, .npz or .npy (joints or features)")
    parser.add_argument("prompt", help="what happens in the edited (or added) frames")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--frames", help="regenerate START:END (20 fps frames, end exclusive), e.g. 60:100")
    what.add_argument("--segment", type=int, metavar="N",
                      help="regenerate segment N (1 = first) of a take made with `moscale generate --sequence`")
    what.add_argument("--extend", type=float, metavar="SECONDS", help="continue the motion for SECONDS")
    what.add_argument("--prepend", type=float, metavar="SECONDS", help="add a lead-in of SECONDS")
    what.add_argument("--inbetween", type=Path, metavar="SECOND", help="fill a gap (--gap) between SOURCE and SECOND")
    parser.add_argument("--gap", type=float, default=1.0, help="in-betweening: gap length in seconds (default 1)")
    parser.add_argument("--align", choices=ALIGNMENTS, default="continue",
                        help="in-betweening: move SECOND to continue SOURCE (default) or keep it where it is")
    parser.add_argument("-o", "--output", type=Path, default=Path("edited.npz"),
                        help="output: .bvh, .npy (joints), .npz, or a .gif/.png stick-figure preview")
    parser.add_argument("--figure", type=Path, help="also write a PNG of source and edit with the range shaded")
    parser.add_argument("--model", type=Path, help="release folder (default: $MOSCALE_MODEL or the bundled model)")
    parser.add_argument("--seed", type=int, help="random seed (default: random, printed)")
    parser.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE)
    parser.add_argument("--schedule", default="fast", help="'fast' (1,1,1,1), 'best' (1,2,5,10) or e.g. '1,2,3,4'")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-p", type=float, default=0.9)
    parser.add_argument("--top-k", type=int)
    parser.add_argument("--blend-frames", type=int, default=BLEND_FRAMES, help="seam blend inside the range (frames)")
    parser.add_argument("--no-foot-lock", action="store_true",
                        help="keep the new frames' feet as the model made them (default: pinned on contact)")
    parser.add_argument("--device", default="auto")


def _load(path: Path, fps: int) -> Motion:
    motion = Motion.load(path)
    if motion.fps != fps:
        print(f"{path}: resampled from {motion.fps:g} to {fps} fps (frame numbers are {fps} fps frames)")
        motion = motion.resample(fps)
    return motion


def run(args: argparse.Namespace) -> int:
    import time

    from moscale.pipeline import MoScalePipeline, default_model_folder

    folder = args.model or default_model_folder()
    if folder is None:
        print("no model: pass --model FOLDER or set MOSCALE_MODEL", file=sys.stderr)
        return 2
    suffix = args.output.suffix.lower()
    if suffix not in (".bvh", ".npy", ".npz", ".gif", ".png"):
        print(f"{args.output}: unknown output type; use .bvh, .npy, .npz, .gif or .png", file=sys.stderr)
        return 2
    sampling = dict(seed=args.seed, guidance=args.guidance, schedule=args.schedule, temperature=args.temperature,
                    top_p=args.top_p, top_k=args.top_k, blend_frames=args.blend_frames,
                    foot_lock=not args.no_foot_lock)
    try:
        pipe = MoScalePipeline.from_pretrained(folder, device=args.device)
        source = _load(args.source, pipe.fps)
        pipe.encode_text(args.prompt)
        started = time.perf_counter()
        if args.frames is not None:
            start, end = parse_frames(args.frames, source.num_frames)
            result = edit(pipe, source, start, end, args.prompt, **sampling)
            reference = source.joints
        elif args.segment is not None:
            from moscale.timeline import regenerate_segment

            result = regenerate_segment(pipe, source, args.segment - 1, prompt=args.prompt, **sampling)
            reference = source.joints
        elif args.extend is not None:
            result = extend(pipe, source, args.extend, args.prompt, **sampling)
            reference = np.concatenate([source.joints, np.full_like(result.joints[source.num_frames:], np.nan)])
        elif args.prepend is not None:
            result = prepend(pipe, source, args.prepend, args.prompt, **sampling)
            reference = np.concatenate([np.full_like(result.joints[:-source.num_frames], np.nan), source.joints])
        else:
            second = _load(args.inbetween, pipe.fps)
            result = inbetween(pipe, source, second, args.gap, args.prompt, align=args.align, **sampling)
            gap = result.num_frames - source.num_frames - second.num_frames
            reference = np.concatenate([source.joints, np.full((gap, 22, 3), np.nan, np.float32),
                                        result.joints[-second.num_frames:]])
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    start, end = result.metadata["edit_start"], result.metadata["edit_end"]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if suffix in (".gif", ".png"):
        from moscale.preview import render_preview

        render_preview(result.joints, args.output, fps=result.fps, title=args.prompt)
    else:
        result.save(args.output)
    print(f"{args.output}: {result.num_frames} frames ({result.seconds:.2f} s), frames {start}-{end} regenerated "
          f"in {result.metadata['windows']} window(s), seed {result.metadata['seed']}")
    if args.figure is not None:
        edit_figure(reference, result.joints, start, end, args.figure, result.fps,
                    title=f"{result.metadata['kind']} {start}:{end}: {args.prompt}")
        print(f"{args.figure}: figure")
    jumps = ", ".join(f"{j:.3f}" for j in seam_jumps(result.joints, start, end)) or "none"
    print(f"edited in {elapsed:.2f} s on {pipe.device}; seam jumps (m/frame): {jumps}")
    return 0
