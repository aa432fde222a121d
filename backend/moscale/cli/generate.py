"""`moscale generate`: a motion from text (or a prompt timeline) with a release folder, written by suffix.

    moscale generate "a person jumps twice" --seconds 5 -o jump.bvh      # also .fbx .blend .npy .npz .gif .png
    moscale generate --sequence "walks forward:3" "waves with the right hand:2" -o take.npz
    moscale generate "a person walks" --path path.json -o walk.npz                    # along a drawn path
    moscale generate "a person jogs" --seconds 2 --loop --in-place -o cycle.fbx      # a game cycle
    moscale generate "a person waves" --seconds 4 --pose-at 0 a.bvh --pose-at 60 b.npz@12 -o keyed.npz
    moscale generate "a person walks" --path path.json --pose-at 70 a.npz@70 -o along.npz  # both: poses on the path
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from moscale.cli import checks, export, scene
from moscale.motion.clip import Motion
from moscale.motion.paths import GroundPath
from moscale.model.sampling import DEFAULT_GUIDANCE
from moscale.pipeline import MoScalePipeline, default_model_folder, timeline
from moscale.pipeline.text_to_motion import PRECISIONS


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", nargs="?", help="what the person does, e.g. 'a person jumps twice'")
    parser.add_argument("--sequence", nargs="+", metavar="PROMPT:SECONDS",
                        help="a timeline instead of one prompt, e.g. --sequence \"walks forward:3\" \"waves with the "
                             "right hand:2\": each segment continues the one before (moscale.pipeline.timeline)")
    parser.add_argument("--no-foot-lock", action="store_true",
                        help="keep the feet as the model made them (default: pinned where it predicts contact)")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--seconds", type=float, help="length in seconds (default: one model window, 10 s for the bundled model)")
    length.add_argument("--frames", type=int, help="length in frames at 20 fps")
    parser.add_argument("-o", "--output", type=Path, default=Path("motion.npz"),
                        help="output file: .fbx or .blend (the SMPL character, through the bpy module), .bvh, .npy "
                             "(joints), .npz (AMASS-style SMPL poses + joints, features, settings), .gif or .png "
                             "(preview); several samples get _0, _1, ... suffixes")
    control = parser.add_argument_group("control beyond words (docs/control.md)")
    control.add_argument("--path", type=Path, metavar="PATH.json",
                         help='travel along a drawn path: {"points": [[x, z], ...]} in metres on the floor (Y up), '
                              "starting at the first point; without --seconds the length follows from the path and "
                              "the prompt's pace")
    control.add_argument("--pose-at", nargs=2, action="append", default=[], metavar=("FRAME", "FILE[@N]"),
                         help="pass through a pose at FRAME (20 fps): the first frame of an .npz/.bvh/.npy, or its "
                              "frame N with FILE@N; repeatable; with --path, each pose's pelvis within 0.5 m of the "
                              "path (where along it the take is at that frame)")
    control.add_argument("--loop", action="store_true", help="the last frame flows into the first (a cycle)")
    control.add_argument("--in-place", action="store_true", help="no travel: the pelvis stays over its start")
    parser.add_argument("--model", type=Path, help="release folder (default: $MOSCALE_MODEL or the bundled model)")
    parser.add_argument("--seed", type=int, help="random seed (default: random, printed)")
    parser.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE,
                        help=f"classifier-free guidance weight (default {DEFAULT_GUIDANCE:g})")
    parser.add_argument("--schedule", default="fast", help="'fast' (1,1,1,1), 'best' (1,2,5,10) or e.g. '1,2,3,4'")
    parser.add_argument("--num-samples", type=int, default=1)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-p", type=float, default=0.9)
    parser.add_argument("--top-k", type=int)
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, ...")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="fp32 (default) or bf16 autocast (faster on CPUs/GPUs with bf16 units; see "
                             "benchmarks/precision.py for its measured deviation)")
    export.add_scene_options(parser)  # --preset unity|unreal, --fps (for .fbx / .blend)


def run(args: argparse.Namespace) -> int:
    import time

    folder = args.model or default_model_folder()
    if folder is None:
        print("no model: pass --model FOLDER (a release folder from `moscale train generator`) or set MOSCALE_MODEL",
              file=sys.stderr)
        return 2
    suffix = args.output.suffix.lower()
    known = export.SCENE_SUFFIXES + export.MOTION_SUFFIXES + export.PREVIEW_SUFFIXES
    if suffix not in known:
        print(f"{args.output}: unknown output type; use {', '.join(known)}", file=sys.stderr)
        return 2
    if suffix in export.SCENE_SUFFIXES:
        try:
            scene.require_bpy()  # before generating: say what to install
        except scene.BlenderUnavailable as error:
            print(f"error: {error}", file=sys.stderr)
            return 3
    if (args.prompt is None) == (args.sequence is None):
        print("error: give a prompt, or --sequence \"prompt:seconds\" ... (not both)", file=sys.stderr)
        return 2
    if args.sequence and (args.seconds is not None or args.frames is not None or args.num_samples != 1):
        print("error: with --sequence each segment sets its own length; drop --seconds/--frames/--num-samples",
              file=sys.stderr)
        return 2
    sampling = dict(guidance=args.guidance, schedule=args.schedule, temperature=args.temperature, top_p=args.top_p,
                    top_k=args.top_k, foot_lock=not args.no_foot_lock)
    if args.sequence and (args.pose_at or args.loop or args.in_place):
        print("error: --pose-at, --loop and --in-place work on one prompt, not a --sequence (a sequence takes --path)",
              file=sys.stderr)
        return 2
    try:
        path = GroundPath.load(args.path) if args.path is not None else None
        controls = dict(path=path, poses=read_poses(args.pose_at), loop=args.loop, in_place=args.in_place)
        pipe = MoScalePipeline.from_pretrained(folder, device=args.device, precision=args.precision)
        segments = [timeline.parse_segment(text) for text in args.sequence or ()]
        warn_out_of_reach(pipe, [segment.prompt for segment in segments] or [args.prompt])
        if args.sequence:
            for segment in segments:
                pipe.encode_text(timeline.caption(segment.prompt))
            started = time.perf_counter()
            result = pipe.timeline(segments, seed=args.seed, path=path, **sampling)
        else:
            pipe.encode_text(args.prompt)  # so the timing below is generation only
            started = time.perf_counter()
            result = pipe.generate(args.prompt, seconds=args.seconds, frames=args.frames, seed=args.seed,
                                   num_samples=args.num_samples, **controls, **sampling)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    motions = result if isinstance(result, list) else [result]
    for i, motion in enumerate(motions):
        path = checks.sample_path(args.output, i, len(motions))
        export.write_outputs(motion, [path], args.preset, args.fps, title=motion.prompt)
        print(f"{path}: {motion.num_frames} frames ({motion.seconds:.2f} s), seed {motion.metadata['seed']}")
        for number, segment in enumerate(motion.metadata.get("segments", []), start=1):
            print(f"  segment {number}: frames {segment['start']}:{segment['end']} {segment['caption']!r}")
        if motion.metadata.get("segments"):
            print(f"  seam jumps (m/frame; real motion: median 0.025, p95 0.14): {timeline.seam_report(motion)}; "
                  f"re-make one with: moscale edit {path.name} --segment N \"new prompt\"")
    print(f"generated in {elapsed:.2f} s on {pipe.device}")
    return 0


def read_poses(pairs: list[list[str]]) -> dict[int, np.ndarray]:
    """--pose-at FRAME FILE[@N] pairs -> {frame: (22, 3) joints}: frame N (default 0) of the file, in metres."""
    poses = {}
    for frame_text, spec in pairs:
        try:
            frame = int(frame_text)
        except ValueError:
            raise ValueError(f"--pose-at {frame_text} {spec}: FRAME must be a whole number of frames at 20 fps") from None
        name, at, index_text = spec.rpartition("@") if "@" in Path(spec).name else (spec, "", "0")
        if not index_text.isdigit():
            raise ValueError(f"--pose-at {frame_text} {spec}: write the file's frame as FILE@N with N a whole number")
        motion = Motion.load(name)
        index = int(index_text)
        if index >= motion.num_frames:
            raise ValueError(f"--pose-at {frame_text} {spec}: {name} has {motion.num_frames} frames (0 to "
                             f"{motion.num_frames - 1})")
        if frame in poses:
            raise ValueError(f"--pose-at: frame {frame} is keyed twice")
        poses[frame] = np.asarray(motion.joints[index])
    return poses


def warn_out_of_reach(pipe: MoScalePipeline, prompts: list[str]) -> None:
    """A warning line for each prompt (or timeline segment) longer than the encoder reads or far from everything the
    model was trained on (the English-text warnings were printed by the checks, before the model loaded)."""
    for warning in pipe.prompt_warnings(prompts, text=False):
        print(f"warning: {warning}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="moscale generate", description="generate a motion from text")
    configure_parser(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
