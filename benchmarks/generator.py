"""Generation speed on this machine: seconds per clip for 2, 5 and 10 s with the fast (1,1,1,1) and best (1,2,5,10)
schedules and with the next-token baseline of the same size, guidance on (cond + uncond batched), peak RSS, at 1 and
2 threads. Also training samples/s of the transformer.

    .venv/bin/python benchmarks/generator.py                        # random-weight small preset
    .venv/bin/python benchmarks/generator.py --model runs/gen/release
    .venv/bin/python benchmarks/generator.py --preset paper --repeats 3

Each thread count runs in its own process (so its peak RSS is its own). A 10 s clip (200 frames) is longer than the
196-frame model window and is made of two continued windows; the 9.8 s row is one window. The next-token baseline
stops at one window. Text encoding is memoised per prompt by the pipeline and is timed separately. Timings are the
median of several runs after a warm-up: quote them from an idle machine.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _common import median_s

LENGTHS_S = (2.0, 5.0, 9.8, 10.0)
PROMPT = "a person walks forward, stops and waves with the right hand"


def random_releases(preset: str, root: Path) -> dict[str, Path]:
    """Untrained next-scale and next-token release folders of one size (the costs are those of trained ones)."""
    from moscale.pipeline import save_random_release
    from moscale.model.text import TextEncoderConfig
    from moscale.model.tokenizer import TokenizerConfig
    from moscale.model.transformer import TransformerConfig

    tokenizer = TokenizerConfig.preset(preset)
    folders = {}
    for mode in ("next-scale", "next-token"):
        transformer = TransformerConfig.preset(preset, num_codes=tokenizer.codebook_size, code_dim=tokenizer.code_dim,
                                               text_dim=384, mode=mode)
        folders[mode] = save_random_release(root / mode, transformer, tokenizer, TextEncoderConfig())
    return folders


def training_rate(model, tokenizer, batch: int, frames: int, repeats: int) -> float:
    """Samples/s of one AdamW step on `batch` clips of `frames` frames (teacher forcing with HR + TR)."""
    from moscale.train.token_batches import TrainOptions, loss_and_stats, next_scale_batch, next_token_batch
    from moscale.model.transformer import NEXT_SCALE

    model = model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    lengths_B = torch.full((batch,), frames)
    with torch.no_grad():
        f_BNC = tokenizer.encode_latent(torch.randn(batch, frames, 263), lengths_B)
    text = (torch.randn(batch, 12, model.config.text_dim), torch.ones(batch, 12, dtype=torch.bool))

    def step():
        if model.config.mode == NEXT_SCALE:
            inputs = next_scale_batch(tokenizer, f_BNC, lengths_B, model.mask_id, TrainOptions())
        else:
            inputs = next_token_batch(tokenizer, f_BNC, lengths_B, model.config.num_queries, model.end_id)
        loss, _ = loss_and_stats(model, inputs, text, torch.rand(batch) < 0.1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    rate = batch / median_s(step, repeats)
    model.eval()
    return rate


def child(args) -> None:
    """One thread count: print a JSON line of timings."""
    from moscale.pipeline import MoScalePipeline

    torch.set_num_threads(args.threads)
    folders = json.loads(args.folders)
    results = {"threads": args.threads, "rows": []}
    for mode, folder in folders.items():
        pipe = MoScalePipeline.from_pretrained(folder, device="cpu", load_text_encoder=False)
        start = time.perf_counter()
        pipe.text_encoder.encode([PROMPT])
        results["text_load_s"] = time.perf_counter() - start
        results["text_encode_s"] = median_s(lambda: pipe.text_encoder.encode([PROMPT]), args.repeats)
        pipe.encode_text(PROMPT)
        results.setdefault("parameters", {})[mode] = pipe.model.num_parameters()
        schedules = ("fast", "best") if mode == "next-scale" else ("next-token",)
        for schedule in schedules:
            for seconds in LENGTHS_S:
                frames = round(seconds * 20)
                if frames > pipe.max_frames:
                    continue
                run = lambda: pipe.generate(PROMPT, frames=frames, seed=0, guidance=5.0,
                                            schedule="fast" if schedule == "next-token" else schedule)
                results["rows"].append(dict(schedule=schedule, seconds=seconds, time_s=median_s(run, args.repeats)))
    # Peak before the training-speed rows (their optimizer state and activations are not generation's).
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.train_batch:
        for mode, folder in folders.items():
            pipe = MoScalePipeline.from_pretrained(folder, device="cpu", load_text_encoder=False)
            results.setdefault("train_samples_per_s", {})[mode] = training_rate(
                pipe.model, pipe.tokenizer, args.train_batch, 196, max(2, args.repeats // 2))
    print("RESULT " + json.dumps(results), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a next-scale release folder (default: random-weight preset)")
    parser.add_argument("--baseline", type=Path, help="a next-token release folder to compare (with --model)")
    parser.add_argument("--preset", choices=["small", "paper"], default="small")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--train-batch", type=int, default=32, help="batch for the training-speed row (0: skip)")
    parser.add_argument("--folders", help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.threads = args.threads[0]
        return child(args)

    with tempfile.TemporaryDirectory() as temporary:
        if args.model is not None:
            folders = {"next-scale": str(args.model)}
            if args.baseline is not None:
                folders["next-token"] = str(args.baseline)
            label = str(args.model)
        else:
            folders = {mode: str(path) for mode, path in random_releases(args.preset, Path(temporary)).items()}
            label = f"random-weight {args.preset} preset"
        results = []
        for threads in args.threads:
            command = [sys.executable, __file__, "--child", "--threads", str(threads), "--repeats", str(args.repeats),
                       "--folders", json.dumps(folders), "--train-batch", str(args.train_batch)]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            results.append(json.loads(next(line for line in output.splitlines() if line.startswith("RESULT "))[7:]))
    print_table(label, results)


def print_table(label: str, results: list[dict]) -> None:
    threads = [r["threads"] for r in results]
    params = ", ".join(f"{mode} {n / 1e6:.1f} M" for mode, n in results[0]["parameters"].items())
    print(f"\nGeneration time per clip, {label} (transformer {params}), guidance 5, CPU "
          f"({torch.__version__}), median of runs\n")
    header = "| model / schedule | passes | clip | " + " | ".join(f"{t} thread{'s' * (t > 1)}" for t in threads) + " |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    passes = {"fast": "4", "best": "18", "next-token": "1/token"}
    for i, row in enumerate(results[0]["rows"]):
        cells = [f"{r['rows'][i]['time_s'] * 1000:.0f} ms" for r in results]
        clip = f"{row['seconds']:g} s" + (" (2 windows)" if row["seconds"] * 20 > 196 else "")
        name = "next-token baseline" if row["schedule"] == "next-token" else f"next-scale {row['schedule']}"
        print(f"| {name} | {passes[row['schedule']]} | {clip} | " + " | ".join(cells) + " |")
    print("\n| | " + " | ".join(f"{t} thread{'s' * (t > 1)}" for t in threads) + " |")
    print("|---|" + "---|" * len(threads))
    print("| text encoding (one prompt, memoised afterwards) | " +
          " | ".join(f"{r['text_encode_s'] * 1000:.0f} ms" for r in results) + " |")
    for mode in results[0].get("train_samples_per_s", {}):
        print(f"| training, {mode}, 196-frame clips | " +
              " | ".join(f"{r['train_samples_per_s'][mode]:.1f} samples/s" for r in results) + " |")
    print("| peak RSS while generating (whole process: torch, text encoder, both models) | " +
          " | ".join(f"{r['peak_rss_mb']:.0f} MB" for r in results) + " |")


if __name__ == "__main__":
    main()
