"""`moscale convert`: read a motion file, write it in other formats.

    moscale convert clip.bvh -o clip.npz                 # AMASS-style .npz (SMPL pose parameters + our keys)
    moscale convert amass_clip.npz -o clip.bvh --fps 20  # an AMASS file in, resampled to the model's 20 fps
    moscale convert walk.npz -o walk.npy -o walk.gif

Inputs: .bvh (SMPL-22 joint names, or --joint-map), .npz (MoScale or AMASS SMPL / SMPL-H / SMPL-X), .npy (joints
or features, at --input-fps). Outputs by suffix, as `moscale export` writes them: .npz, .npy, .bvh, .gif/.png, and
.fbx/.blend through Blender's Python module.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from moscale.motion.skeleton import FPS


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("motion", type=Path, help="input: .bvh, .npz (MoScale or AMASS), .npy joints or features")
    parser.add_argument("-o", "--output", type=Path, action="append", required=True,
                        help="output file, repeatable: .npz (AMASS-style), .npy, .bvh, .gif/.png, .fbx/.blend")
    parser.add_argument("--fps", type=float, help="resample to this frame rate (default: keep the input's)")
    parser.add_argument("--input-fps", type=float, default=FPS, help=f"frame rate of a .npy input (default {FPS})")
    parser.add_argument("--joint-map", type=Path,
                        help="for .bvh input: JSON {SMPL joint name: file joint name} when the names differ")
    from moscale.cli.export import add_body_options

    add_body_options(parser)  # --smpl-model, --gender, --body-model, --betas for .fbx / .blend


def convert(source: Path, outputs: list[Path], fps: float | None = None, input_fps: float = FPS,
            joint_map: Path | None = None, body=None) -> list[Path]:
    """Load ``source``, optionally resample, write every output (``body``: a ``moscale.cli.scene.SmplBody`` for
    .fbx / .blend); returns the paths written."""
    from moscale.cli.export import write_outputs
    from moscale.motion.clip import Motion

    mapping = None
    if joint_map is not None:
        try:
            mapping = json.loads(Path(joint_map).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"cannot read joint map {joint_map}: {error}") from error
        if not isinstance(mapping, dict):
            raise ValueError(f"joint map {joint_map} must be a JSON object {{SMPL joint name: file joint name}}")
    if not Path(source).is_file():
        raise FileNotFoundError(f"{source}: no such file")
    motion = Motion.load(source, fps=input_fps, joint_map=mapping)
    if fps is not None and fps != motion.fps:
        motion = motion.resample(fps)
    return write_outputs(motion, outputs, fps=None, body=body)


def run(args: argparse.Namespace) -> int:
    from moscale.cli.export import body_from_args, command_status

    def work() -> None:
        for path in convert(args.motion, args.output, args.fps, args.input_fps, args.joint_map, body_from_args(args)):
            print(f"wrote {path}")

    return command_status(work)
