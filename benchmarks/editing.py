"""Editing: latency per edit (range edits, long clips, extension, lead-in, in-betweening), seam smoothness measured
against real motion, and a figure of a source and its edit with the range shaded.

    .venv/bin/python benchmarks/editing.py                              # random-weight small preset
    .venv/bin/python benchmarks/editing.py --model runs/gen/release --figure out/editing.png

The source is the HumanML3D reference clip 012314 from tests/fixtures (170 frames, 8.5 s, a spin then a walk); the
long source (25.5 s) plays it forward, backward and forward again. Seam jump: the joint velocity change across each
seam (max over joints, metres per frame; `moscale.motion.splice.seam_jumps`), over random ranges, next to the same quantity
at every frame of the real clip. A random-weight model makes garbage inside the range, so its seam numbers show what
the splice guarantees; a trained model's show the real thing. Timings are the median of several runs after a warm-up
(text encoding excluded: it is memoised per prompt); quote them from an idle machine.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from _common import median_s

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "humanml3d"
PROMPT = "a person jumps up and down"


def random_release(preset: str, root: Path) -> Path:
    from moscale.pipeline import save_random_release
    from moscale.model.text import TextEncoderConfig
    from moscale.model.tokenizer import TokenizerConfig
    from moscale.model.transformer import TransformerConfig

    tokenizer = TokenizerConfig.preset(preset)
    transformer = TransformerConfig.preset(preset, num_codes=tokenizer.codebook_size, code_dim=tokenizer.code_dim,
                                           text_dim=384)
    return save_random_release(root / preset, transformer, tokenizer, TextEncoderConfig(),
                               mean=np.load(FIXTURES / "Mean.npy"), std=np.load(FIXTURES / "Std.npy"))


def cases(pipe, clip, long_clip):
    from moscale.pipeline import editing
    from moscale.motion import Motion

    first, second = Motion(clip.joints[:100]), Motion(clip.joints[120:])
    return [
        ("(reference) generate 8.5 s, fast", lambda: pipe.generate(PROMPT, frames=clip.num_frames, seed=0)),
        ("edit 2 s of an 8.5 s clip (frames 60:100), fast", lambda: editing.edit(pipe, clip, 60, 100, PROMPT, seed=0)),
        ("edit 2 s of an 8.5 s clip, best (18 passes)",
         lambda: editing.edit(pipe, clip, 60, 100, PROMPT, seed=0, schedule="best")),
        ("edit 0.5 s at the clip start (0:10)", lambda: editing.edit(pipe, clip, 0, 10, PROMPT, seed=0)),
        ("edit 2 s in a 25.5 s clip (one window runs)",
         lambda: editing.edit(pipe, long_clip, 300, 340, PROMPT, seed=0)),
        ("edit 20 s of a 25.5 s clip (pieces)", lambda: editing.edit(pipe, long_clip, 50, 450, PROMPT, seed=0)),
        ("extend 5 s by 2 s", lambda: editing.extend(pipe, first, 2.0, PROMPT, seed=0)),
        ("lead-in of 2 s before 2.5 s", lambda: editing.prepend(pipe, second, 2.0, PROMPT, seed=0)),
        ("in-between 1 s (5 s + gap + 2.5 s)", lambda: editing.inbetween(pipe, first, second, 1.0, PROMPT, seed=0)),
    ]


def seam_statistics(pipe, clip, count: int) -> dict[str, float]:
    from moscale.motion import splice
    from moscale.pipeline import editing

    rng = np.random.default_rng(0)
    jumps, added, edits = [], [], 0
    source = clip.joints.astype(np.float64)
    while edits < count:
        start, end = sorted(int(x) for x in rng.choice(clip.num_frames + 1, 2, replace=False))
        if end - start < 8:
            continue
        edits += 1
        edited = editing.edit(pipe, clip, start, end, PROMPT, seed=edits).joints.astype(np.float64)
        jumps += splice.seam_jumps(edited, start, end)
        if start >= 2:
            added.append(np.linalg.norm(edited[start] - source[start], axis=-1).max())
        if end + 1 < clip.num_frames:
            added.append(np.linalg.norm(edited[end - 1] - source[end - 1], axis=-1).max())
    real = splice.acceleration_profile(source)
    return dict(real_median=float(np.median(real)), real_p95=float(np.percentile(real, 95)), real_max=float(real.max()),
                edit_median=float(np.median(jumps)), edit_max=float(np.max(jumps)), added_max=float(np.max(added)),
                seams=len(jumps))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a next-scale release folder (default: random-weight preset)")
    parser.add_argument("--preset", choices=["small", "paper"], default="small")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seam-edits", type=int, default=40, help="random edits for the seam statistics")
    parser.add_argument("--figure", type=Path, default=Path("out/editing.png"), help="where to write the figure")
    args = parser.parse_args()

    from moscale.motion import Motion, preview
    from moscale.pipeline import MoScalePipeline, editing

    real = np.load(FIXTURES / "new_joints" / "012314.npy")
    clip = Motion(real, prompt="a person spins, then walks")
    long_clip = Motion(np.concatenate([real, real[::-1], real]))
    with tempfile.TemporaryDirectory() as temporary:
        folder = args.model or random_release(args.preset, Path(temporary))
        label = str(args.model) if args.model else f"random-weight {args.preset} preset"
        pipe = MoScalePipeline.from_pretrained(folder, device="cpu")
        pipe.encode_text(PROMPT)
        rows = {}
        for threads in args.threads:
            torch.set_num_threads(threads)
            for name, run in cases(pipe, clip, long_clip):
                rows.setdefault(name, []).append(median_s(run, args.repeats))
        torch.set_num_threads(args.threads[0])
        seams = seam_statistics(pipe, clip, args.seam_edits)
        edited = editing.edit(pipe, clip, 60, 100, PROMPT, seed=0)
        preview.edit_figure(clip.joints, edited.joints, 60, 100, args.figure,
                            title=f"frames 60-100 of 012314 -> '{PROMPT}' ({label})")
        parameters = pipe.model.num_parameters()
    print(f"\nEdit latency, {label} (transformer {parameters / 1e6:.1f} M, window {pipe.window_frames} frames), "
          f"guidance 5, CPU (torch {torch.__version__}), median of {args.repeats} runs\n")
    header = "| edit | " + " | ".join(f"{t} thread{'s' * (t > 1)}" for t in args.threads) + " |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for name, times in rows.items():
        print(f"| {name} | " + " | ".join(f"{t * 1000:.0f} ms" for t in times) + " |")
    print(f"\nSeam jump (joint velocity change across a seam, max over joints, m/frame), {seams['seams']} seams of "
          f"{args.seam_edits} random edits of clip 012314:\n")
    print("| | median | 95th pct | max |")
    print("|---|---|---|---|")
    print(f"| real motion, every frame of 012314 | {seams['real_median']:.3f} | {seams['real_p95']:.3f} | "
          f"{seams['real_max']:.3f} |")
    print(f"| edits, at their seams | {seams['edit_median']:.3f} | | {seams['edit_max']:.3f} |")
    print(f"| edits, the part the edit adds (first/last edited frame vs the old one) | | | {seams['added_max']:.3f} |")
    print(f"\nfigure: {args.figure}")


if __name__ == "__main__":
    main()
