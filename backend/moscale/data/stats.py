"""`moscale data stats DIR`: what a HumanML3D-layout folder holds, split by split (clips, frames, minutes,
captions, training samples)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from moscale.data.dataset import FEATURES_DIR, TEXTS_DIR, check_dir, check_root, npy_shape, read_captions, read_split
from moscale.motion.skeleton import FPS


def split_stats(root: str | Path, split: str, *, fps: int = FPS, min_frames: int = 40) -> dict:
    """Counts for one split: listed and found clips, frames, minutes, captions, and samples (whole clips or captioned
    sub-ranges of at least `min_frames`)."""
    root = Path(root)
    names = read_split(root, split)
    found = frames = captions = samples = 0
    for name in names:
        path = root / FEATURES_DIR / f"{name}.npy"
        if not path.is_file():
            continue
        found += 1
        clip_frames = npy_shape(path)[0]
        frames += clip_frames
        text_path = root / TEXTS_DIR / f"{name}.txt"
        lines = read_captions(text_path) if text_path.is_file() else []
        captions += len(lines)
        ranges = {(0, clip_frames) if c.whole_clip else (int(c.start_s * fps), min(int(c.end_s * fps), clip_frames))
                  for c in lines}
        samples += sum(1 for start, stop in ranges if stop - start >= min_frames)
    return dict(split=split, listed=len(names), clips=found, frames=frames, minutes=frames / fps / 60,
                captions=captions, samples=samples)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", type=Path, help="HumanML3D-layout folder")
    parser.add_argument("--splits", nargs="*", default=None,
                        help="split names (default: every NAME.txt in the folder, train/val/test first)")
    parser.add_argument("--fps", type=int, default=FPS)
    parser.add_argument("--min-frames", type=int, default=40, help="shortest sample counted in 'samples'")


def run(args: argparse.Namespace) -> int:
    try:
        root = check_root(args.root)
        check_dir(root / FEATURES_DIR, "one (T, 263) float array per clip, NAME.npy")
        splits = args.splits or _splits_in(root)
        if not splits:
            raise FileNotFoundError(f"{root}: no split files (train.txt, val.txt, test.txt) found")
        rows = [split_stats(root, s, fps=args.fps, min_frames=args.min_frames) for s in splits]
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{root}")
    header = f"{'split':<10} {'clips':>8} {'missing':>8} {'frames':>10} {'minutes':>9} {'captions':>9} {'samples':>8}"
    print(header)
    for r in rows:
        print(f"{r['split']:<10} {r['clips']:>8} {r['listed'] - r['clips']:>8} {r['frames']:>10} "
              f"{r['minutes']:>9.1f} {r['captions']:>9} {r['samples']:>8}")
    for name in ("Mean.npy", "Std.npy"):
        path = root / name
        print(f"{name}: {npy_shape(path) if path.is_file() else 'MISSING'}")
    return 0


def _splits_in(root: Path) -> list[str]:
    names = sorted(p.stem for p in root.glob("*.txt"))
    first = [s for s in ("train", "val", "test") if s in names]
    return first + [s for s in names if s not in first]
