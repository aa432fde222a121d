"""`moscale train evaluator`: train the text-motion evaluator that `moscale eval` scores generators with.

    moscale train evaluator --data corpus/ --out runs/evaluator [--iters 2000] [--batch-size 64]

Training pairs are the train split's samples with one random caption each (new draws every epoch); the motion encoder
reads the normalised features, the text side reads frozen token states from OUT/text_cache.safetensors (every caption
of the corpus, encoded once). The loss is the symmetric InfoNCE over the batch, where pairs with identical or nearly
identical captions (pooled text cosine >= --negative-threshold) are not counted as negatives.

OUT holds checkpoint.pt (--resume), train_log.csv, loss_curves.png, evaluator/ (the release folder, rewritten at every
save) and metrics.json: the ground-truth scores on the test split that bound what a generator can reach (R-precision
top-1/2/3, MM-Dist and Diversity over 20 repeats) and the FID between the test and train ground truth. One process
(the loss needs the whole batch). The default size (1.0 M parameters, 2000 iterations of 64) took 12 min on one thread
of a 2-core CPU shared with another training job.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from moscale.data.dataset import LengthBucketSampler, MotionDataset, all_captions, collate_motions
from moscale.evaluation import metrics
from moscale.evaluation.evaluator import EvaluatorConfig, TextMotionEvaluator
from moscale.model.text import TextCache, TextEncoder, build_text_cache
from moscale.train import common

CHECKPOINT_FILE = "checkpoint.pt"
RELEASE_DIR = "evaluator"
LOG_FILE = "train_log.csv"
CURVES_FILE = "loss_curves.png"
METRICS_FILE = "metrics.json"
TEXT_CACHE_FILE = "text_cache.safetensors"
# The progress bar's postfix and the columns of a --no-progress log line.
POSTFIX = {"loss": "{loss:.3f}", "acc": "{accuracy:.3f}"}
LOG_KEYS = ("loss", "accuracy", "lr", "samples_per_s")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="HumanML3D-layout folder")
    parser.add_argument("--out", type=Path, required=True, help="output folder (checkpoint, logs, evaluator/)")
    parser.add_argument("--iters", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--clip", type=float, default=1.0, help="gradient-norm clip")
    parser.add_argument("--embed-dim", type=int, default=512)
    parser.add_argument("--width", type=int, default=128, help="width of both encoders")
    parser.add_argument("--motion-layers", type=int, default=2)
    parser.add_argument("--text-layers", type=int, default=1)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--temperature", type=float, default=0.1)
    parser.add_argument("--negative-threshold", type=float, default=0.95,
                        help="captions at least this similar (pooled cosine) are not negatives of each other")
    parser.add_argument("--text-encoder", default="all-MiniLM-L6-v2", help="packaged name or model directory")
    parser.add_argument("--max-text-tokens", type=int, default=24)
    parser.add_argument("--max-frames", type=int, default=196)
    parser.add_argument("--repeats", type=int, default=20, help="repeats of the final test-split scores")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, help="CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--save-every", type=int, default=500)
    parser.add_argument("--no-progress", action="store_true")


def build_config(args: argparse.Namespace, text_dim: int) -> EvaluatorConfig:
    return EvaluatorConfig(text_dim=text_dim, embed_dim=args.embed_dim, motion_width=args.width,
                           motion_layers=args.motion_layers, text_width=args.width, text_layers=args.text_layers,
                           heads=args.heads, dropout=args.dropout, temperature=args.temperature,
                           text_encoder=args.text_encoder, max_text_tokens=args.max_text_tokens)


def text_cache_for(data: Path, path: Path, encoder_name: str, max_tokens: int) -> TextCache:
    """OUT/text_cache.safetensors with every caption of every split; rebuilt when a caption or the encoder differs."""
    captions = []
    for split in ("train", "val", "test"):
        if (Path(data) / f"{split}.txt").is_file():
            captions += all_captions(data, split)
    if path.is_file():
        cache = TextCache.load(path)
        same_encoder = (cache.encoder.name, cache.encoder.max_tokens) == (encoder_name, max_tokens)
        if same_encoder and all(c in cache for c in captions if c.strip()):
            return cache
    cache = build_text_cache(TextEncoder.load(encoder_name, max_tokens), captions)
    path.parent.mkdir(parents=True, exist_ok=True)
    cache.save(path)
    return cache


def same_text_mask(captions: list[str], pooled_BD: torch.Tensor, threshold: float) -> torch.Tensor:
    """(B, B) True where two captions are identical or their pooled encodings have cosine >= threshold."""
    keys = [" ".join(c.split()) for c in captions]
    identical_BB = torch.tensor([[a == b for b in keys] for a in keys], dtype=torch.bool)
    unit_BD = F.normalize(pooled_BD.float(), dim=-1)
    return identical_BB.to(pooled_BD.device) | (unit_BD @ unit_BD.T >= threshold)


def train_step(model: TextMotionEvaluator, batch: dict, cache: TextCache, optimizer, threshold: float, clip: float,
               device: torch.device) -> dict[str, float]:
    tokens_BSD, mask_BS, pooled_BD = cache.lookup(batch["captions"])
    motion_BE = model.encode_motion(batch["features"].to(device), batch["lengths"].to(device))
    text_BE = model.encode_text(tokens_BSD.to(device), mask_BS.to(device))
    same_BB = same_text_mask(batch["captions"], pooled_BD.to(device), threshold)
    loss, stats = model.contrastive_loss(motion_BE, text_BE, same_BB)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    stats["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(model.parameters(), clip))
    optimizer.step()
    return stats


def run(args: argparse.Namespace) -> int:
    runtime = common.setup_runtime(args.device, args.threads)
    if runtime.distributed:
        print("moscale train evaluator runs in one process (the contrastive loss needs the whole batch)",
              file=sys.stderr)
        return 2
    try:
        train(args, runtime)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def train(args: argparse.Namespace, runtime: common.Runtime) -> dict:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = runtime.device
    cache = text_cache_for(args.data, out / TEXT_CACHE_FILE, args.text_encoder, args.max_text_tokens)
    checkpoint = common.load_checkpoint(out / CHECKPOINT_FILE) if args.resume else None
    config = (EvaluatorConfig.from_dict(checkpoint["config"]) if checkpoint
              else build_config(args, cache.encoder.dim))
    common.seed_everything(args.seed)

    dataset = MotionDataset(args.data, "train", max_frames=args.max_frames, seed=args.seed, length_coin=True)
    sampler = LengthBucketSampler(dataset.lengths, args.batch_size, shuffle=True, seed=args.seed,
                                  drop_last=len(dataset) >= args.batch_size)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_motions)
    model = TextMotionEvaluator(config).to(device).train()
    model.set_normalization(dataset.mean, dataset.std)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    step, epoch = 0, 0
    if checkpoint:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        step, epoch = int(checkpoint["step"]), int(checkpoint["epoch"])
        common.set_rng_state(checkpoint["rng"])
        print(f"resumed from {out / CHECKPOINT_FILE} at iteration {step}")
    print(f"evaluator {model.num_parameters() / 1e6:.2f} M parameters, config {json.dumps(config.to_dict())}")
    print(f"{len(dataset)} training items, batch {args.batch_size}, {args.iters} iterations on {device} "
          f"({torch.get_num_threads()} threads), {len(cache)} cached captions", flush=True)
    val_set = _split_set(args, "val", dataset) or _split_set(args, "test", dataset)
    log = common.LossLog(out / LOG_FILE, resume_from_step=step if checkpoint else None)

    bar = common.progress(args.iters, initial=step, enabled=not args.no_progress)
    throughput = common.Throughput()
    means = common.RunningMeans(runtime, log, bar, POSTFIX, LOG_KEYS, echo=args.no_progress)
    started = time.perf_counter()
    for epoch, batch in common.cycle(loader, sampler, dataset, start_epoch=epoch):
        if step >= args.iters:
            break
        lr = common.learning_rate(step, base_lr=args.lr, total_steps=args.iters, warmup_steps=args.warmup,
                                  schedule="cosine")
        common.set_learning_rate(optimizer, lr)
        stats = train_step(model, batch, cache, optimizer, args.negative_threshold, args.clip, device)
        step += 1
        bar.update(1)
        throughput.add(len(batch["lengths"]))
        means.add(stats)
        if common.is_due(step, args.log_every, args.iters):
            means.flush(step=step, epoch=epoch, lr=lr, samples_per_s=throughput.rate(),
                        elapsed_s=time.perf_counter() - started)
        if common.is_due(step, args.save_every, args.iters):
            _save(out, model, optimizer, step, epoch, args, log, cache, val_set)
    bar.close()
    minutes = (time.perf_counter() - started) / 60
    print(f"trained {step} iterations in {minutes:.1f} min; scoring the test split", flush=True)
    result = final_scores(model, args, cache)
    result["train_minutes"] = minutes
    (out / METRICS_FILE).write_text(json.dumps(result, indent=2) + "\n")
    _save(out, model, optimizer, step, epoch, args, log, cache, None, result)
    print(_format_scores(result))
    print(f"evaluator release folder: {out / RELEASE_DIR}")
    return result


def _split_set(args, split: str, train_set: MotionDataset):
    if not (Path(args.data) / f"{split}.txt").is_file():
        return None
    from moscale.evaluation.generation import load_eval_set

    return load_eval_set(args.data, split, max_frames=args.max_frames)


def validation_scores(model: TextMotionEvaluator, eval_set, cache: TextCache, repeats: int = 5) -> dict[str, float]:
    """Mean ground-truth R-precision and MM-Dist over a few caption draws (for the curves)."""
    motion = np.asarray(model.embed_motions(eval_set.features), dtype=np.float64)
    rows = []
    for repeat in range(repeats):
        rng = np.random.default_rng((repeat, 0))
        text = np.asarray(model.embed_texts(eval_set.choose_captions(rng), cache=cache), dtype=np.float64)
        top = metrics.r_precision(text, motion, rng=np.random.default_rng((repeat, 1)))
        rows.append({"val_top1": top[0], "val_top3": top[2], "val_mm_dist": metrics.matching_distance(text, motion)})
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def final_scores(model: TextMotionEvaluator, args, cache: TextCache) -> dict:
    """Ground-truth metrics on the test split and the FID between the test and train ground truth."""
    from moscale.evaluation.generation import EvalContext, evaluate_ground_truth, load_eval_set

    split = "test" if (Path(args.data) / "test.txt").is_file() else "val"
    eval_set = load_eval_set(args.data, split, max_frames=args.max_frames)
    train_set = load_eval_set(args.data, "train", max_frames=args.max_frames)
    context = EvalContext(model, eval_set, text_cache=cache, reference_set=train_set)
    row = evaluate_ground_truth(context, repeats=args.repeats, seed=args.seed)
    return {"split": split, "items": len(eval_set), "repeats": args.repeats, "ground_truth": row["metrics"],
            "fid_test_vs_train": context.fid_test_vs_train, "parameters": model.num_parameters()}


def _format_scores(result: dict) -> str:
    gt = result["ground_truth"]
    parts = [f"{name} {metrics.format_mean_ci(gt[name])}" for name in ("top1", "top2", "top3", "mm_dist", "diversity")]
    return (f"ground truth on {result['split']} ({result['items']} items, {result['repeats']} repeats): "
            + ", ".join(parts) + f"; FID test vs train {result['fid_test_vs_train']:.4f}")


def _save(out: Path, model, optimizer, step: int, epoch: int, args, log, cache, val_set, result=None) -> None:
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "epoch": epoch,
             "config": model.config.to_dict(), "rng": common.rng_state()}
    common.save_checkpoint(out / CHECKPOINT_FILE, state)
    training = {"step": step, "data": str(args.data), "batch_size": args.batch_size, "lr": args.lr,
                "negative_threshold": args.negative_threshold}
    if result is not None:
        training["test_scores"] = {k: v["mean"] for k, v in result["ground_truth"].items()}
        training["fid_test_vs_train"] = result["fid_test_vs_train"]
    model.save_pretrained(out / RELEASE_DIR, training=training)
    if val_set is not None:
        log.merge(step, validation_scores(model, val_set, cache))
        model.train()
    log.plot(out / CURVES_FILE, ["loss", "accuracy", "val_top1", "val_top3", "val_mm_dist", "lr"],
             title=f"evaluator training, step {step}")


def main(argv: list[str] | None = None) -> int:
    return common.command_main("moscale train evaluator", __doc__, configure_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
