"""`python build.py bench`: generation speed in one table, MoScale against a next-token baseline of the same size.

    python build.py bench                         # small (the bundled model) and paper presets, 1 thread
    python build.py bench -- --threads 1 2 --busy # also 2 threads, with a busy loop on a second core meanwhile
    .venv/bin/python benchmarks/speed.py --presets small --repeats 3

Rows: preset (small = the bundled model's sizes, with its trained weights when assets/model is there; paper = the
published sizes, random weights), model (next-scale with the fast (1,1,1,1) and best (1,2,5,10) schedules; the
next-token baseline with the same transformer, tokenizer and text width), a 196-frame clip (one window) and, for the
small preset, a 10 s clip (200 frames, two continued windows). Guidance is on (cond + uncond batched), as in use.

GFLOP is counted by torch's FlopCounterMode on one generation (matrix products and convolutions; the attention
score products, which it does not see on the CPU, are a few per cent more), so "of peak" is the achieved GFLOP/s over
this machine's fp32 matmul rate measured at the same thread count (best of square products of 1024 and 2048, before
and after the rows).
Costs of random-weight models equal those of trained ones: the passes and lengths are fixed, END is suppressed.
Quote numbers from an idle machine; `--busy` measures the case of a second busy process (Blender, a training job).
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "assets" / "model"
PROMPT = "a person walks forward, stops and waves with the right hand"
SCHEDULES = {"fast": "fast", "best": "best", "next-token": None}


def matmul_rate_gflops(threads: int, seconds: float = 0.5) -> float:
    """This machine's fp32 matrix-multiply rate at `threads` threads: the best of square products."""
    torch.set_num_threads(threads)
    best = 0.0
    for n in (1024, 2048):
        a, b = torch.randn(n, n), torch.randn(n, n)
        a @ b
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            a @ b
            runs += 1
        best = max(best, 2 * n ** 3 * runs / (time.perf_counter() - start) / 1e9)
    return best


def release_folders(preset: str, root: Path) -> dict[str, Path]:
    """{"next-scale": folder, "next-token": folder} of one size."""
    from moscale.pipeline import read_release_config, save_random_release
    from moscale.model.text import TextEncoderConfig
    from moscale.model.tokenizer import MotionTokenizer, TokenizerConfig
    from moscale.model.transformer import TransformerConfig

    if preset == "small" and (BUNDLED / "config.json").is_file():
        config = read_release_config(BUNDLED)
        transformer = TransformerConfig.from_dict(config["transformer"])
        tokenizer = MotionTokenizer.from_pretrained(BUNDLED / config.get("tokenizer", "tokenizer")).config
        folders = {"next-scale": BUNDLED}
    else:
        tokenizer = TokenizerConfig.preset(preset)
        transformer = TransformerConfig.preset(preset, num_codes=tokenizer.codebook_size, code_dim=tokenizer.code_dim,
                                               text_dim=384)
        folders = {"next-scale": save_random_release(root / f"{preset}-next-scale", transformer, tokenizer,
                                                     TextEncoderConfig())}
    baseline = TransformerConfig.from_dict({**transformer.to_dict(), "mode": "next-token"})
    folders["next-token"] = save_random_release(root / f"{preset}-next-token", baseline, tokenizer, TextEncoderConfig())
    return folders


def generation_gflop(pipe, frames: int, schedule: str | None) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    for module in (pipe.model, pipe.tokenizer):
        module.requires_grad_(False)  # the counter's module tracker needs leaf tensors without grad
    with FlopCounterMode(display=False) as counter:
        pipe.generate(PROMPT, frames=frames, seed=0, schedule=schedule or "fast")
    return counter.get_total_flops() / 1e9


def measure(presets: list[str], threads: int, repeats: int, root: Path) -> tuple[list[dict], float]:
    from moscale.pipeline import MoScalePipeline

    torch.set_num_threads(threads)
    peak = matmul_rate_gflops(threads)  # before and after the rows, the best: a passing load lowers one of them
    rows, encoder = [], None
    for preset in presets:
        for mode, folder in release_folders(preset, root).items():
            pipe = MoScalePipeline.from_pretrained(folder, device="cpu", text_encoder=encoder)
            encoder = pipe.text_encoder
            pipe.encode_text(PROMPT)  # memoised: generation only below
            schedules = ["fast", "best"] if mode == "next-scale" else [None]
            lengths = [196, 200] if preset == "small" and mode == "next-scale" else [196]
            for schedule in schedules:
                for frames in lengths:
                    if frames == 200 and schedule == "best":
                        continue
                    run = lambda: pipe.generate(PROMPT, frames=frames, seed=0, schedule=schedule or "fast")
                    run()
                    times = []
                    for _ in range(repeats if preset == "small" else max(1, repeats // 2)):
                        start = time.perf_counter()
                        run()
                        times.append(time.perf_counter() - start)
                    rows.append(dict(preset=preset, mode=mode, schedule=schedule or "next-token", frames=frames,
                                     parameters=pipe.model.num_parameters(), time_s=statistics.median(times),
                                     gflop=generation_gflop(pipe, frames, schedule)))
    return rows, max(peak, matmul_rate_gflops(threads))


def print_table(results: dict[int, tuple[list[dict], float]], busy: bool) -> None:
    threads = sorted(results)
    first_rows = results[threads[0]][0]
    load = ", a busy loop on another core" if busy else ""
    print(f"\nGeneration per clip, CPU, torch {torch.__version__}, guidance on (batched){load}; fp32 matmul peak: "
          + ", ".join(f"{results[t][1]:.0f} GFLOP/s at {t} thread{'s' * (t > 1)}" for t in threads) + "\n")
    header = ["preset", "model", "passes", "clip", "GFLOP"]
    for t in threads:
        header += [f"time, {t} thr", f"GFLOP/s, {t} thr", f"of peak, {t} thr"]
    header += ["vs next-token"]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    passes = {"fast": "4", "best": "18", "next-token": "1 per token"}
    for i, row in enumerate(first_rows):
        name = "next-token baseline" if row["mode"] == "next-token" else f"MoScale {row['schedule']}"
        clip = f"{row['frames']} frames" + (" (2 windows)" if row["frames"] > 196 else "")
        cells = [row["preset"] + f" ({row['parameters'] / 1e6:.1f} M)", name, passes[row["schedule"]], clip,
                 f"{row['gflop']:.1f}"]
        for t in threads:
            rows, peak = results[t]
            r = rows[i]
            rate = r["gflop"] / r["time_s"]
            cells += [f"{r['time_s'] * 1000:.0f} ms", f"{rate:.0f}", f"{rate / peak:.0%}"]
        baseline = next((r for r in first_rows if r["preset"] == row["preset"] and r["mode"] == "next-token"), None)
        ratio = "" if baseline is None or row is baseline else f"{row['time_s'] / baseline['time_s']:.2f}x"
        print("| " + " | ".join(cells + [ratio]) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", choices=["small", "paper"], default=["small", "paper"])
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per row after a warm-up (paper: half)")
    parser.add_argument("--busy", action="store_true", help="run a busy loop in another process meanwhile")
    args = parser.parse_args(argv)
    busy = subprocess.Popen([sys.executable, "-c", "while 1: pass"]) if args.busy else None
    try:
        with tempfile.TemporaryDirectory() as temporary:
            results = {t: measure(args.presets, t, args.repeats, Path(temporary)) for t in args.threads}
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    print_table(results, args.busy)
    return 0


if __name__ == "__main__":
    sys.exit(main())
