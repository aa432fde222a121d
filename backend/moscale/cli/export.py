"""`moscale export`: write a motion file as .fbx / .blend (the SMPL character, through bpy), .bvh, .npy, .npz, preview.

    moscale export walk.npz -o walk.fbx -o walk.blend -o walk.bvh -o walk.gif [--preset unreal] [--fps 30]
    moscale export walk.npz -o walk.fbx --smpl-model ~/smpl --gender female --betas 0.5,-1   # the real SMPL body

`write_outputs` is every command's writer (generate, edit, convert): motion files by Motion.save, previews by
moscale.motion.preview, scenes by moscale.cli.scene (the add-on's own code, headless).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

from moscale.cli import scene
from moscale.cli.scene import PRESETS, SCENE_SUFFIXES, BlenderUnavailable, SmplBody, write_scene

MOTION_SUFFIXES = (".bvh", ".npy", ".npz")  # written by Motion.save (no Blender needed)
PREVIEW_SUFFIXES = (".gif", ".png")  # stick-figure preview (matplotlib)


def add_scene_options(parser: argparse.ArgumentParser) -> None:
    """--preset and --fps, for every command that can write .fbx / .blend (`moscale generate` too)."""
    parser.add_argument("--preset", choices=PRESETS, default="unity",
                        help="FBX axes and scale for the engine (default unity)")
    parser.add_argument("--fps", type=float, help="frame rate of .fbx/.blend keys (default: the motion's, 20)")


def add_body_options(parser: argparse.ArgumentParser) -> None:
    """--smpl-model, --gender, --body-model, --betas: the real SMPL body on .fbx / .blend characters."""
    parser.add_argument("--smpl-model", type=Path, metavar="FOLDER",
                        help="your SMPL / SMPL-H / SMPL-X model files (licensed separately, .npz preferred): .fbx and "
                             ".blend get the real body instead of the mannequin")
    parser.add_argument("--gender", choices=("neutral", "female", "male"), default="neutral")
    parser.add_argument("--body-model", choices=("auto", "smpl", "smplh", "smplx"), default="auto")
    parser.add_argument("--betas", default="", help="comma-separated shape coefficients, e.g. 0.5,-1 (up to 10)")


def body_from_args(args: argparse.Namespace) -> SmplBody | None:
    if getattr(args, "smpl_model", None) is None:
        return None
    from moscale.cli.checks import parse_betas

    return SmplBody(args.smpl_model, args.gender, args.body_model, parse_betas(args.betas))


def write_outputs(motion, outputs: Sequence[Path], preset: str = "unity", fps: float | None = None,
                  title: str = "", body: SmplBody | None = None) -> list[Path]:
    """Every output by suffix: .fbx/.blend through bpy (one scene), .bvh/.npy/.npz, .gif/.png previews."""
    outputs = [Path(p) for p in outputs]
    known = SCENE_SUFFIXES + MOTION_SUFFIXES + PREVIEW_SUFFIXES
    unknown = [str(p) for p in outputs if p.suffix.lower() not in known]
    if unknown:
        raise ValueError(f"{', '.join(unknown)}: unknown output type; use {', '.join(known)}")
    written = []
    for path in outputs:  # every writer below is atomic (moscale.utils.atomic)
        if path.suffix.lower() in MOTION_SUFFIXES:
            motion.save(path)
            written.append(path)
        elif path.suffix.lower() in PREVIEW_SUFFIXES:
            from moscale.motion.preview import render_preview

            written.append(render_preview(motion.joints, path, fps=motion.fps, title=title or motion.prompt))
    scenes = [p for p in outputs if p.suffix.lower() in SCENE_SUFFIXES]
    if scenes:
        written += write_scene(motion, scenes, preset, fps, body=body)
    return written


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("motion", type=Path,
                        help="a motion file: .npz (as `moscale generate` writes it, or AMASS), .npy joints, .bvh")
    parser.add_argument("-o", "--output", type=Path, action="append", required=True,
                        help="output file, repeatable: .fbx, .blend (through bpy), .bvh, .npy, .npz, .gif/.png preview")
    add_scene_options(parser)
    add_body_options(parser)
    parser.add_argument("--filmstrip", type=Path, help="also render a filmstrip PNG with Cycles on the CPU")
    parser.add_argument("--filmstrip-frames", type=int, default=6)
    parser.add_argument("--samples", type=int, default=16, help="Cycles samples per filmstrip frame")


def command_status(work: Callable[[], None]) -> int:
    """Run a file-writing command's body; errors a user can act on become one line and an exit status
    (2: bad input, 3: bpy missing for .fbx/.blend) instead of a traceback."""
    try:
        work()
    except BlenderUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def run(args: argparse.Namespace) -> int:
    from moscale.motion.clip import Motion

    def work() -> None:
        motion = Motion.load(args.motion)
        body = body_from_args(args)
        for path in write_outputs(motion, args.output, args.preset, args.fps, body=body):
            print(f"wrote {path}")
        if args.filmstrip is not None:
            if any(p.suffix.lower() in SCENE_SUFFIXES for p in args.output):
                writer = scene.headless()  # the scene write_outputs built
            else:
                writer = scene.new_session()
                writer.build_scene(motion, args.fps, body=body)
            strip = writer.render_filmstrip(args.filmstrip, frames=args.filmstrip_frames, samples=args.samples,
                                              threads=getattr(args, "threads", None))
            print(f"wrote {strip}")

    return command_status(work)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="moscale export", description="write a motion as FBX, .blend, BVH, preview")
    configure_parser(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
