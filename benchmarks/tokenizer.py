"""Tokenizer speed on this machine: encode/decode time for 196-frame clips and training samples per second.

    .venv/bin/python benchmarks/tokenizer.py                      # small preset, 1 and 2 threads
    .venv/bin/python benchmarks/tokenizer.py --presets small paper
    .venv/bin/python benchmarks/tokenizer.py --width 192 --code-dim 192   # try a variant of the first preset

Timings are the median of several runs after a warm-up; quote them from an idle machine (a second busy process on a
2-core CPU makes 2-thread timings many times worse).
"""
from __future__ import annotations

import argparse
import dataclasses

import torch
from _common import median_s

from moscale.model.tokenizer import MotionTokenizer, TokenizerConfig, count_parameters


def bench_inference(model: MotionTokenizer, batch: int, frames: int, repeats: int) -> tuple[float, float]:
    features = torch.randn(batch, frames, model.config.feature_dim)
    lengths = torch.full((batch,), frames)
    with torch.inference_mode():
        indices = model.encode(features, lengths)
        encode_ms = 1000 * median_s(lambda: model.encode(features, lengths), repeats)
        decode_ms = 1000 * median_s(lambda: model.decode(indices, lengths), repeats)
    return encode_ms, decode_ms


def bench_training(config: TokenizerConfig, batch: int, frames: int, steps: int) -> float:
    model = MotionTokenizer(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.99))
    features = torch.randn(batch, frames, config.feature_dim)
    lengths = torch.full((batch,), frames)

    def step() -> None:
        _, _, losses = model(features, lengths)
        optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        optimizer.step()

    return batch / median_s(step, steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["small"], choices=["small", "paper"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--frames", type=int, default=196, help="clip length for encode/decode")
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 32])
    parser.add_argument("--crop-frames", type=int, default=64, help="training crop length")
    parser.add_argument("--train-batch", type=int, default=128)
    parser.add_argument("--train-steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--width", type=int, help="override the width of the first preset")
    parser.add_argument("--code-dim", type=int, help="override the code dimension of the first preset")
    parser.add_argument("--codebook-size", type=int, help="override the codebook size of the first preset")
    parser.add_argument("--depth", type=int, help="override the residual depth of the first preset")
    args = parser.parse_args()

    overrides = {
        name: value
        for name, value in (("width", args.width), ("code_dim", args.code_dim),
                            ("codebook_size", args.codebook_size), ("depth", args.depth))
        if value is not None
    }
    header = f"{'config':<28} {'threads':>7} " + " ".join(
        f"{'enc B=' + str(b):>10} {'dec B=' + str(b):>10}" for b in args.batches
    ) + f" {'train/s':>9}"
    print(f"encode/decode: median ms for {args.frames}-frame clips; train: samples/s on {args.crop_frames}-frame crops, "
          f"batch {args.train_batch}, AdamW")
    print(header)
    print("-" * len(header))
    for position, preset in enumerate(args.presets):
        config = TokenizerConfig.preset(preset)
        if position == 0 and overrides:
            config = dataclasses.replace(config, **overrides)
        name = f"{preset} w{config.width} c{config.codebook_size}x{config.code_dim}"
        torch.manual_seed(0)
        model = MotionTokenizer(config).eval()
        for threads in args.threads:
            torch.set_num_threads(threads)
            cells = []
            for batch in args.batches:
                encode_ms, decode_ms = bench_inference(model, batch, args.frames, args.repeats)
                cells.append(f"{encode_ms:>10.2f} {decode_ms:>10.2f}")
            rate = bench_training(config, args.train_batch, args.crop_frames, args.train_steps)
            print(f"{name:<28} {threads:>7} " + " ".join(cells) + f" {rate:>9.0f}", flush=True)
        print(f"{name}: {count_parameters(model) / 1e6:.2f} M parameters")


if __name__ == "__main__":
    main()
