"""The controlled comparison, end to end: train what is missing, then evaluate and write docs/results.md.

    .venv/bin/python benchmarks/comparison.py                 # everything (hours on a 2-core CPU)
    .venv/bin/python benchmarks/comparison.py --skip-training # only `moscale eval compare --config comparison.json`

Every variant shares one frozen tokenizer, one size (the `small` preset), the corpus, the batch, the iterations and one
CPU thread each, so they differ only in what the comparison is about: MoScale (next-scale with hierarchical and
temporal refinement), without HR, without TR, and the next-token baseline. A finished run (its release folder at the
final step) is kept; an interrupted one resumes. Evaluations are cached under docs/compare_cache/, so a rerun after a
change only computes what is new. The evaluator and the tokenizer are trained first when missing.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = Path(__file__).with_name("comparison.json")
MOSCALE = [sys.executable, "-m", "moscale.cli"]

# name → extra `moscale train generator` flags; everything else is shared (the matched budget).
VARIANTS = {"moscale": [], "no-hr": ["--no-hr"], "no-tr": ["--no-tr"], "next-token": ["--mode", "next-token"]}
BUDGET = ["--preset", "small", "--iters", "1000", "--batch-size", "32", "--warmup", "100", "--threads", "1",
          "--save-every", "500", "--snapshot-every", "250", "--val-clips", "64", "--no-progress"]
TOKENIZER = ["--preset", "small", "--iters", "2000", "--threads", "1", "--save-every", "500", "--val-clips", "133",
             "--no-progress"]
EVALUATOR = ["--iters", "2000", "--batch-size", "64", "--no-progress"]


def finished(release: Path, step: int) -> bool:
    config = release / "config.json"
    return config.is_file() and json.loads(config.read_text()).get("training", {}).get("step") == step


def train(kind: str, out: Path, flags: list[str], log: Path) -> None:
    resume = ["--resume"] if (out / "checkpoint.pt").is_file() else []
    command = [*MOSCALE, "train", kind, "--out", str(out), *flags, *resume]
    print("$", " ".join(command), f"> {log}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}  # busy-waiting OpenMP threads stall a shared 2-core CPU
    with log.open("a") as handle:
        subprocess.run(command, check=True, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=ROOT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / "corpus", help="HumanML3D-layout corpus (default corpus/)")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "compare", help="training output folder")
    parser.add_argument("--evaluator", type=Path, default=ROOT / "runs" / "evaluator",
                        help="evaluator training folder (its evaluator/ release is what comparison.json names)")
    parser.add_argument("--skip-training", action="store_true", help="evaluate what is there")
    args = parser.parse_args()
    if not args.skip_training:
        if not (args.data / "train.txt").is_file():
            raise SystemExit(f"{args.data}: no corpus; build it with `moscale data build` (see README, Training)")
        data = ["--data", str(args.data)]
        if not finished(args.evaluator / "evaluator", 2000):
            train("evaluator", args.evaluator, [*data, *EVALUATOR], args.evaluator.with_suffix(".log"))
        tokenizer_run = args.runs / "tokenizer-run"
        if not (tokenizer_run / "tokenizer" / "config.json").is_file():
            train("tokenizer", tokenizer_run, [*data, *TOKENIZER], args.runs / "tokenizer.log")
        for name, flags in VARIANTS.items():
            out = args.runs / name
            if not finished(out / "release", 1000):
                train("generator", out, [*data, "--tokenizer", str(tokenizer_run / "tokenizer"), *BUDGET, *flags],
                      args.runs / f"{name}.log")
    command = [*MOSCALE, "eval", "compare", "--config", str(CONFIG)]
    print("$", " ".join(command), flush=True)
    return subprocess.run(command, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
