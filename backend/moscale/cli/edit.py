"""`moscale edit`: regenerate a frame range (or a timeline segment), extend, prepend or in-between motions.

    moscale edit walk.npz --frames 60:100 "jumps instead" -o edited.bvh [--figure edit.png]
    moscale edit walk.npz --extend 3 "the person turns left" -o longer.npz
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from moscale.cli.generate import warn_out_of_reach
from moscale.model.sampling import DEFAULT_GUIDANCE
from moscale.motion.clip import Motion
from moscale.motion.preview import edit_figure, render_preview
from moscale.motion.splice import BLEND_FRAMES, seam_jumps
from moscale.pipeline import MoScalePipeline, default_model_folder
from moscale.motion.skeleton import FPS
from moscale.pipeline.checks import check_blend_frames
from moscale.pipeline.editing import ALIGNMENTS


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
    try:  # the files first: a BVH of an unknown rig, or a range the edit cannot hold, is said before a model loads
        source = _load(args.source, FPS)
        second = _load(args.inbetween, FPS) if args.inbetween is not None else None
        if args.frames is not None:
            start, end = parse_frames(args.frames, source.num_frames)
            if 0 <= start < end <= source.num_frames:
                seams = int(start >= 1) + int(end < source.num_frames)
                check_blend_frames(args.blend_frames, end - start, seams, BLEND_FRAMES, "--blend-frames")
        pipe = MoScalePipeline.from_pretrained(folder, device=args.device)
        warn_out_of_reach(pipe, [args.prompt])
        pipe.encode_text(args.prompt)
        started = time.perf_counter()
        if args.frames is not None:
            result = pipe.edit(source, start, end, args.prompt, **sampling)
            reference = source.joints
        elif args.segment is not None:
            result = pipe.regenerate_segment(source, args.segment - 1, prompt=args.prompt, **sampling)
            reference = source.joints
        elif args.extend is not None:
            result = pipe.extend(source, args.extend, args.prompt, **sampling)
            reference = np.concatenate([source.joints, np.full_like(result.joints[source.num_frames:], np.nan)])
        elif args.prepend is not None:
            result = pipe.prepend(source, args.prepend, args.prompt, **sampling)
            reference = np.concatenate([np.full_like(result.joints[:-source.num_frames], np.nan), source.joints])
        else:
            result = pipe.inbetween(source, second, args.gap, args.prompt, align=args.align, **sampling)
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
