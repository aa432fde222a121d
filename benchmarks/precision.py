"""bf16 autocast against fp32 on one model: speed, and how far its numbers move.

    .venv/bin/python benchmarks/precision.py                       # the bundled model, test split of corpus/
    .venv/bin/python benchmarks/precision.py --model runs/gen/release --data corpus --clips 64

Rows, all on fixed inputs and seeds, one CPU thread (or --threads):
- generation time for a 196-frame clip, fast and best schedules (interleaved fp32 / bf16 runs, median);
- teacher-forced test loss and masked-token accuracy (the generator's own training objective on real test clips, the
  same HR/TR corruption drawn for both precisions): the quality change without sampling noise;
- decoder deviation: the same f_hat decoded in bf16 and fp32, joint positions in mm (mean and max);
- sampled token agreement: the share of finest-scale tokens that bf16 sampling picks identically at the same seed
  (a different token makes a different but equally plausible motion, so joint distances between such samples say
  nothing about quality: use `moscale eval generator --precision bf16` for top-1/FID).
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ["a person walks forward, stops and waves with the right hand", "a person jumps twice",
           "someone runs in a circle", "a person bows", "a person kicks with the left leg", "a person dances happily"]


def autocast(bf16: bool):
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)


def generation_times(pipe, schedule: str, repeats: int) -> dict[str, float]:
    times = {"fp32": [], "bf16": []}
    for precision in ("fp32", "bf16"):  # warm-up
        pipe.precision = precision
        pipe.generate(PROMPTS[0], frames=196, seed=0, schedule=schedule)
    for _ in range(repeats):
        for precision in ("fp32", "bf16"):
            pipe.precision = precision
            start = time.perf_counter()
            pipe.generate(PROMPTS[0], frames=196, seed=0, schedule=schedule)
            times[precision].append(time.perf_counter() - start)
    pipe.precision = "fp32"
    return {k: statistics.median(v) for k, v in times.items()}


def test_clips(pipe, data: Path, clips: int):
    from moscale.data.dataset import MotionDataset, collate_motions

    dataset = MotionDataset(data, "test", max_frames=pipe.window_frames)  # normalised with the data's Mean/Std
    rng = np.random.default_rng(0)
    items = [dataset[int(i)] for i in rng.choice(len(dataset), min(clips, len(dataset)), replace=False)]
    return collate_motions(items)


def teacher_forced(pipe, batch: dict) -> dict[str, dict[str, float]]:
    from moscale.train.token_batches import TrainOptions, loss_and_stats, next_scale_batch

    features_BTD, lengths_B, captions = batch["features"], batch["lengths"], batch["captions"]
    text = [pipe.text_encoder.encode([c])[:2] for c in captions]
    S = max(t.shape[1] for t, _ in text)
    text_BSD = torch.zeros(len(text), S, text[0][0].shape[-1])
    mask_BS = torch.zeros(len(text), S, dtype=torch.bool)
    for b, (t, m) in enumerate(text):
        text_BSD[b, :t.shape[1]], mask_BS[b, :m.shape[1]] = t[0], m[0]
    with torch.no_grad():
        f_BNC = pipe.tokenizer.encode_latent(features_BTD, lengths_B)
        torch.manual_seed(0)
        inputs = next_scale_batch(pipe.tokenizer, f_BNC, lengths_B, pipe.model.mask_id, TrainOptions())
        result = {}
        for precision in ("fp32", "bf16"):
            with autocast(precision == "bf16"):
                _, stats = loss_and_stats(pipe.model, inputs, (text_BSD, mask_BS), torch.zeros(len(text), dtype=bool))
            result[precision] = stats
        f_hat = pipe.tokenizer.init_f_hat(lengths_B)
        for k, idx in enumerate(pipe.tokenizer.encode(features_BTD, lengths_B)):
            f_hat = pipe.tokenizer.accumulate(f_hat, idx, k, lengths_B)
        decoded = {}
        for precision in ("fp32", "bf16"):
            with autocast(precision == "bf16"):
                decoded[precision] = pipe.tokenizer.denormalize(pipe.tokenizer.decode_latent(f_hat, lengths_B)).float()
    from moscale.motion import Motion

    distances = []
    for b, n in enumerate(lengths_B.tolist()):
        joints = [Motion.from_features(decoded[p][b, :n].numpy()).joints for p in ("fp32", "bf16")]
        distances.append(np.linalg.norm(joints[0] - joints[1], axis=-1).ravel())
    distances = np.concatenate(distances) * 1000
    result["decoder_mm"] = {"mean": float(distances.mean()), "max": float(distances.max())}
    return result


def token_agreement(pipe, seeds: int) -> float:
    from moscale.model.sampling import SamplingOptions, sample_next_scale

    same, total = 0, 0
    for seed in range(seeds):
        text_1SD, mask_1S = pipe.encode_text(PROMPTS[seed % len(PROMPTS)])
        finest = {}
        for precision in ("fp32", "bf16"):
            with torch.no_grad(), autocast(precision == "bf16"):
                indices, _ = sample_next_scale(pipe.model, pipe.tokenizer, text_1SD, mask_1S, 196,
                                               SamplingOptions(prefix=pipe.prefix),
                                               torch.Generator().manual_seed(seed))
            finest[precision] = indices[-1]
        same += int((finest["fp32"] == finest["bf16"]).sum())
        total += finest["fp32"].numel()
    return same / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "assets" / "model")
    parser.add_argument("--data", type=Path, default=ROOT / "corpus", help="HumanML3D-layout folder with test.txt")
    parser.add_argument("--clips", type=int, default=32, help="test clips for the teacher-forced rows")
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    from moscale.pipeline import MoScalePipeline

    torch.set_num_threads(args.threads)
    pipe = MoScalePipeline.from_pretrained(args.model, device="cpu")
    for prompt in PROMPTS:
        pipe.encode_text(prompt)
    print(f"\nbf16 autocast vs fp32, {args.model}, {args.threads} thread(s), torch {torch.__version__}\n")
    print("| | fp32 | bf16 | bf16 / fp32 |\n|---|---|---|---|")
    for schedule in ("fast", "best"):
        times = generation_times(pipe, schedule, args.repeats)
        print(f"| 196-frame clip, {schedule} schedule | {times['fp32'] * 1000:.0f} ms | {times['bf16'] * 1000:.0f} ms "
              f"| {times['bf16'] / times['fp32']:.2f} |")
    if (args.data / "test.txt").is_file():
        forced = teacher_forced(pipe, test_clips(pipe, args.data, args.clips))
        for key, name in (("loss", "teacher-forced test loss"), ("accuracy", "masked-token accuracy")):
            a, b = forced["fp32"][key], forced["bf16"][key]
            print(f"| {name} ({args.clips} test clips) | {a:.4f} | {b:.4f} | {b - a:+.4f} (difference) |")
        mm = forced["decoder_mm"]
        print(f"| decoder, same f_hat: joint deviation | - | mean {mm['mean']:.2f} mm, max {mm['max']:.2f} mm | |")
    agreement = token_agreement(pipe, args.seeds)
    print(f"| sampled finest-scale tokens equal to fp32's at the same seed ({args.seeds} seeds) | | {agreement:.1%} | |")


if __name__ == "__main__":
    main()
