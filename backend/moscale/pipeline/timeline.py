"""A prompt timeline: segments (prompt, seconds) generated as one take.

The first segment is generated from its prompt; every later one continues the take so far (`editing.extend`: the
model sees the last frames of the take as locked context tokens, so the motion carries on rather than restarting,
and every frame already made stays bit-identical). Each seam's joint-velocity jump is measured (`moscale.motion.splice.seam_jumps`,
metres per frame; real motion's median is about 0.025, its 95th percentile 0.14). Any one segment can later be made
again alone as an edit of its frame range (`regenerate_segment`), the rest of the take untouched.

Segments are written "prompt:seconds" on the command line. A prompt that starts with a verb ("walks forward") gets
the subject the training captions always have ("a person walks forward").
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from moscale.motion.splice import seam_jumps
from moscale.pipeline import checks

SUBJECTS = {"a", "an", "the", "someone", "somebody", "person", "he", "she", "they", "man", "woman", "figure",
            "character", "human", "guy", "girl", "boy", "people", "one"}
SEGMENT_PATTERN = re.compile(r"^(?P<prompt>.*\S)\s*:\s*(?P<seconds>[0-9]*\.?[0-9]+)\s*s?$")


@dataclass(frozen=True)
class Segment:
    """One part of a timeline: a prompt and its length, checked as ``generate`` checks them (a negative or NaN
    length used to make a 4-frame motion)."""
    prompt: str
    seconds: float

    def __post_init__(self) -> None:
        checks.check_prompt(self.prompt, "segment prompt")
        checks.check_seconds(self.seconds, f"segment {checks._shown(self.prompt, 40)} seconds")


def parse_segment(text: str) -> Segment:
    """'walks forward:3' (or '... : 2.5s') -> Segment('walks forward', 3.0)."""
    match = SEGMENT_PATTERN.match(str(text).strip())
    if match is None:
        raise ValueError(f"segment {text!r}: write it as \"prompt:seconds\", e.g. \"walks forward:3\"")
    seconds = float(match["seconds"])
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"segment {text!r}: the length must be a positive number of seconds")
    checks.check_seconds(seconds, f"segment {text!r}: length")
    return Segment(match["prompt"].strip(), seconds)


def caption(prompt: str) -> str:
    """The prompt as the model's captions read: with a subject in front of a bare verb phrase."""
    words = prompt.strip().split()
    if not words or words[0].lower().strip(",.") in SUBJECTS:
        return prompt.strip()
    return "a person " + prompt.strip()


def segment_frames(segments: Sequence[Segment], fps: int, unit: int, min_frames: int) -> list[int]:
    """Frames per segment: the seconds rounded to whole latent steps (`unit` frames), at least `min_frames`."""
    frames = []
    for segment in segments:
        count = max(min_frames, int(round(segment.seconds * fps / unit)) * unit)
        frames.append(count)
    return frames


def generate_sequence(pipe, segments: Sequence[Segment | str], *, seed: int | None = None,
                      progress=None, cancel=None, **sampling: Any):
    """One Motion for the whole timeline. metadata['segments'] lists each segment's prompt, caption and frame range;
    metadata['seam_jumps'] the velocity jump at each seam (m/frame)."""
    import random

    from moscale.pipeline.editing import min_edit_frames

    segments = [s if isinstance(s, Segment) else parse_segment(s) for s in segments]
    if not segments:
        raise ValueError("a timeline needs at least one segment")
    unit = pipe.tokenizer.config.downsample
    later_min = min_edit_frames(unit, pipe.model.config.factors)
    frames = segment_frames(segments, pipe.fps, unit, pipe.min_frames)
    frames = [frames[0]] + [max(f, later_min) for f in frames[1:]]
    total = sum(frames)
    if total > pipe.max_frames:
        raise ValueError(f"the timeline is {total / pipe.fps:.1f} s long; at most {pipe.max_frames / pipe.fps:.0f} s")
    seed = random.randrange(2**31) if seed is None else int(seed)

    def part_progress(offset):
        if progress is None:
            return None
        return lambda done, count, what: progress(offset * count + done, len(segments) * count,
                                                  f"segment {offset + 1}/{len(segments)}, {what}")

    motion = pipe.generate(caption(segments[0].prompt), frames=frames[0], seed=seed, progress=part_progress(0),
                           cancel=cancel, **sampling)
    bounds = [(0, frames[0])]
    done_frames = frames[0]
    for i, (segment, count) in enumerate(zip(segments[1:], frames[1:]), start=1):
        motion = pipe.extend(motion, None, caption(segment.prompt), frames=count, seed=seed + i,
                             progress=part_progress(i), cancel=cancel, **sampling)
        bounds.append((done_frames, done_frames + count))
        done_frames += count
    jumps = [seam_jumps(motion.joints, start, len(motion.joints))[0] for start, _ in bounds[1:]
             if start >= 2]
    motion.prompt = " | ".join(s.prompt for s in segments)
    motion.metadata = dict(motion.metadata, kind="sequence", seed=seed, frames=len(motion.joints),
                           segments=[dict(asdict(s), caption=caption(s.prompt), start=a, end=b)
                                     for s, (a, b) in zip(segments, bounds)],
                           seam_jumps=jumps)
    motion.metadata.pop("edit_start", None)
    motion.metadata.pop("edit_end", None)
    return motion


def regenerate_segment(pipe, motion, index: int, *, prompt: str | None = None, seed: int | None = None,
                       **sampling: Any):
    """The take with segment `index` made again (optionally from a new prompt) as an edit of its frame range; every
    other frame stays bit-identical."""
    segments = motion.metadata.get("segments")
    if not segments:
        raise ValueError("this motion has no timeline segments (make it with generate_sequence / --sequence)")
    if not 0 <= index < len(segments):
        raise ValueError(f"segment {index + 1} does not exist: the timeline has {len(segments)} segments")
    entry = dict(segments[index])
    if prompt is not None:
        entry.update(prompt=prompt, caption=caption(prompt))
    edited = pipe.edit(motion, int(entry["start"]), int(entry["end"]), entry["caption"], seed=seed, **sampling)
    updated = [dict(s) for s in segments]
    updated[index] = entry
    edited.metadata = dict(edited.metadata, segments=updated)
    edited.prompt = " | ".join(s["prompt"] for s in updated)
    return edited


def seam_report(motion) -> str:
    jumps = motion.metadata.get("seam_jumps") or []
    return ", ".join(f"{j:.3f}" for j in jumps) if jumps else "-"

