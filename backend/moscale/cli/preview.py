"""`moscale preview`: a stick-figure GIF or filmstrip PNG of a clip (.npz, .npy joints or features, .bvh).

    moscale preview walk.npz -o walk.gif
    moscale preview take.bvh --own-skeleton -o take.png --frames 6
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from moscale.motion.preview import load_bvh_joints, load_clip_joints, render_preview


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("clip", type=Path, help=".npz motion (ours or AMASS), .npy joints (T,22,3) or features "
                                                "(T,263), or .bvh")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help=".gif animation or .png filmstrip (default: CLIP.gif)")
    parser.add_argument("--fps", type=float, default=None, help="playback frames per second (default: the clip's, 20)")
    parser.add_argument("--title", default=None, help="text above the figure (default: the file name)")
    parser.add_argument("--mean", type=Path, default=None, help="Mean.npy for normalised features")
    parser.add_argument("--std", type=Path, default=None, help="Std.npy for normalised features")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--normalized", dest="normalized", action="store_true", default=None,
                       help="features are normalised (default: guessed when Mean/Std are known)")
    group.add_argument("--raw", dest="normalized", action="store_false", help="features are raw")
    parser.add_argument("--rig", default=None, help="BVH: built-in rig map name (default: detected)")
    parser.add_argument("--rig-map", type=Path, default=None, help="BVH: rig map JSON (see moscale.motion.sources)")
    parser.add_argument("--own-skeleton", action="store_true",
                        help="BVH: draw the file's own skeleton instead of the SMPL-22 joints mapped from it")
    parser.add_argument("--frames", type=int, default=8, help="panels in a .png filmstrip")
    parser.add_argument("--size", type=int, default=360, help="image height in pixels")
    parser.add_argument("--start", type=float, default=0.0, help="first second to show")
    parser.add_argument("--seconds", type=float, default=None, help="how many seconds to show (default: all)")


def run(args: argparse.Namespace) -> int:
    skeleton: dict = {}
    try:
        if args.clip.suffix.lower() == ".bvh":
            if not args.clip.is_file():
                raise FileNotFoundError(f"{args.clip}: no such file")
            bvh = load_bvh_joints(args.clip, rig=args.rig, rig_map=args.rig_map, own_skeleton=args.own_skeleton)
            joints, clip_fps = bvh.positions, bvh.fps
            if not bvh.smpl:
                skeleton = dict(chains=bvh.chains, head_joint=None, root_joint=bvh.root_joint)
        else:
            joints, clip_fps = load_clip_joints(args.clip, mean=args.mean, std=args.std, normalized=args.normalized)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    fps = args.fps or clip_fps
    first = int(round(args.start * clip_fps))
    last = None if args.seconds is None else first + max(1, int(round(args.seconds * clip_fps)))
    joints = joints[first:last]
    if len(joints) == 0:
        print(f"error: {args.clip}: no frames from {args.start} s", file=sys.stderr)
        return 2
    output = args.output or args.clip.with_suffix(".gif")
    title = args.clip.stem if args.title is None else args.title
    path = render_preview(joints, output, fps=fps, title=title, size_px=args.size,
                          filmstrip_frames=args.frames, **skeleton)
    print(f"{path}: {len(joints)} frames")
    return 0
