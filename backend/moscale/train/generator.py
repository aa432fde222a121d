"""`moscale train generator`: train the text-to-token transformer on top of a frozen tokenizer.

    moscale train generator --data corpus/ --tokenizer runs/tok/tokenizer --preset small --out runs/gen
    moscale train generator ... --no-hr --no-tr                # ablations
    moscale train generator ... --mode next-token              # the T2M-GPT-like baseline, same backbone
    torchrun --nproc_per_node=8 -m moscale.train.generator --data ... --preset paper --out ...   # DDP
    moscale train generator ... --grad-accum 4 --amp bf16      # a big global batch on a small GPU (docs/training.md)

One step (next-scale): the frozen tokenizer encodes the batch to latents f (memoised per clip window, since the
tokenizer never changes), then, coarse to fine, scale k's targets are quantised against f_hat so far:
- hierarchical refinement (HR): a fraction gamma ~ U[0, gamma_max] of the codes that go into f_hat is replaced by wrong
  codes, so the next scale's targets are re-quantised against a corrupted f_hat and learn to correct it (the tokens
  shown within a scale stay clean: only f_hat is corrupted);
- temporal refinement (TR): per scale, a cosine-schedule fraction of the tokens is selected (80% MASK, 10% random,
  10% kept) and the other tokens get 0-10% random-token noise; without TR every token of a scale is MASK (plain VAR);
- 10% of the prompts are replaced by the learned unconditional embedding (classifier-free guidance).
The loss is cross-entropy on the selected tokens. Captions are encoded once into OUT/text_cache.safetensors.

OUT holds checkpoint.pt (for --resume), train_log.csv, loss_curves.png, and release/ (config.json,
generator.safetensors, tokenizer/), rewritten at every save; `moscale generate --model OUT/release` uses it.
With --snapshot-every N, OUT/snapshots/step-NNNNNN/ keeps the release folder of every N-th iteration, and
train_log.csv's elapsed_s column counts training seconds without saving and validation: together they are the
quality-against-training-time curve of `moscale eval compare`.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from moscale.model import scales
from moscale.data import balance
from moscale.data.dataset import LengthBucketSampler, MotionDataset, all_captions, collate_motions, source_repeats
from moscale.model.text import TextCache, load_or_build_text_cache
from moscale.model.tokenizer import MotionTokenizer
from moscale.train import common
from moscale.train.tokenizer import parse_oversample
from moscale.train.token_batches import (LatentMemo, TrainOptions, loss_and_stats, next_scale_batch,
                                         next_token_batch)
from moscale.model.transformer import NEXT_SCALE, NEXT_TOKEN, MotionTransformer, TransformerConfig

CHECKPOINT_FILE = "checkpoint.pt"
RELEASE_DIR = "release"
SNAPSHOT_DIR = "snapshots"
LOG_FILE = "train_log.csv"
CURVES_FILE = "loss_curves.png"
TEXT_CACHE_FILE = "text_cache.safetensors"
NEXT_TOKEN_QUERIES = 6
# The progress bar's postfix and the columns of a --no-progress log line.
POSTFIX = {"loss": "{loss:.3f}", "acc": "{accuracy:.3f}", "sps": "{samples_per_s:.0f}"}
LOG_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "grad_norm", "lr", "samples_per_s")

DEFAULTS = {
    "paper": dict(iters=200_000, warmup=2000, batch_size=64, lr=3e-4),
    "small": dict(iters=20_000, warmup=500, batch_size=64, lr=5e-4),
}


# ---------------------------------------------------------------------------------------------------------------------
# command line


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="HumanML3D-layout folder")
    parser.add_argument("--tokenizer", type=Path, required=True, help="tokenizer release folder (frozen)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (checkpoint, logs, release/)")
    parser.add_argument("--preset", choices=sorted(DEFAULTS), default="small", help="transformer size (default small)")
    parser.add_argument("--mode", choices=[NEXT_SCALE, NEXT_TOKEN], default=NEXT_SCALE)
    parser.add_argument("--layers", type=int, help="override the preset's number of blocks")
    parser.add_argument("--width", type=int, help="override the preset's width")
    parser.add_argument("--heads", type=int, help="override the preset's attention heads")
    parser.add_argument("--no-hr", action="store_true", help="no cross-scale hierarchical refinement")
    parser.add_argument("--no-tr", action="store_true", help="no in-scale temporal refinement (all tokens MASK)")
    parser.add_argument("--gamma-max", type=float, default=0.6, help="largest HR corruption fraction (default 0.6)")
    parser.add_argument("--token-noise", type=float, default=0.1, help="largest TR random-token noise (default 0.1)")
    parser.add_argument("--text-dropout", type=float, default=0.1, help="unconditional fraction (default 0.1)")
    parser.add_argument("--text-encoder", default="all-MiniLM-L6-v2", help="packaged name or model directory")
    parser.add_argument("--max-text-tokens", type=int, default=24)
    parser.add_argument("--max-frames", type=int, default=196, help="longest training window = model window")
    parser.add_argument("--iters", type=int, help="iterations (default: small 20000, paper 200000)")
    parser.add_argument("--batch-size", type=int, help="global batch (default 64)")
    parser.add_argument("--lr", type=float, help="peak learning rate (default: small 5e-4, paper 3e-4)")
    parser.add_argument("--warmup", type=int, help="warm-up iterations (default: small 500, paper 2000)")
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--clip", type=float, default=2.0, help="gradient-norm clip")
    parser.add_argument("--amp", choices=list(common.AMP_CHOICES), default="auto",
                        help="mixed precision: auto (bf16 on CUDA where supported, else fp16; off on the CPU), off, "
                             "bf16, or fp16 with a gradient scaler (explicit bf16/fp16 also on the CPU)")
    parser.add_argument("--oversample", action="append", default=[], metavar="SOURCE=N",
                        help="visit the windows of a data source (clip-name prefix, e.g. deepmimic) N times per "
                             "epoch, each time a new crop and caption; repeatable")
    parser.add_argument("--balance", type=float, default=0.0, metavar="POWER",
                        help="action-balanced sampling (moscale.data.balance): each window visited (largest action's "
                             "windows / its action's) ** POWER times per epoch, e.g. 0.5; 0 (default) is uniform; "
                             "multiplies --oversample; needs the corpus's manifest.json")
    parser.add_argument("--balance-cap", type=int, default=16, metavar="N",
                        help="the most visits per epoch --balance gives a window (default 16)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument("--init", type=Path, default=None, metavar="RELEASE",
                        help="start from a released generator's weights and config (a release folder trained on "
                             "the same tokenizer, e.g. assets/model) instead of random ones: fine-tuning")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, help="CPU threads per process")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--save-every", type=int, default=1000)
    parser.add_argument("--snapshot-every", type=int, default=0,
                        help="also keep the release folder of every N-th iteration under OUT/snapshots/ "
                             "(quality against training time in `moscale eval compare`; 0: none)")
    parser.add_argument("--val-clips", type=int, default=256, help="val-split clips scored at every save (0: none)")
    parser.add_argument("--latent-memo-mb", type=int, default=1024, help="memory for memoised tokenizer latents")
    parser.add_argument("--no-progress", action="store_true")
    common.add_scaling_options(parser, amp=False)  # --grad-accum, --workers


def resolve_settings(args: argparse.Namespace) -> argparse.Namespace:
    settings = argparse.Namespace(**vars(args))
    for name, value in DEFAULTS[args.preset].items():
        if getattr(settings, name, None) is None:
            setattr(settings, name, value)
    return settings


def build_config(args, tokenizer: MotionTokenizer, text_dim: int) -> TransformerConfig:
    overrides = {key: value for key, value in dict(n_layer=args.layers, n_embd=args.width, n_head=args.heads).items()
                 if value is not None}
    max_latent = scales.latent_length(args.max_frames, tokenizer.config.downsample)
    factors = tokenizer.config.scale_factors
    # next-scale: one query per token of the coarsest scale; next-token: a fixed prefix of 6 (any tokenizer schedule)
    queries = scales.token_length(max_latent, factors[0]) if args.mode == NEXT_SCALE else NEXT_TOKEN_QUERIES
    return TransformerConfig.preset(
        args.preset, num_codes=tokenizer.config.codebook_size, code_dim=tokenizer.config.code_dim, text_dim=text_dim,
        factors=factors, max_latent=max_latent, num_queries=queries, mode=args.mode, **overrides)


def train_options(args) -> TrainOptions:
    return TrainOptions(hierarchical_refinement=not args.no_hr, gamma_max=args.gamma_max,
                        temporal_refinement=not args.no_tr, token_noise_max=args.token_noise,
                        text_dropout=args.text_dropout)


def run(args: argparse.Namespace) -> int:
    args = resolve_settings(args)
    runtime = common.setup_runtime(args.device, args.threads)
    try:
        train(args, runtime)
    finally:
        common.teardown_runtime()
    return 0


def _text_cache(args, runtime: common.Runtime) -> TextCache:
    """OUT/text_cache.safetensors holding every train and val caption: built once by rank 0, read by the others."""
    path = Path(args.out) / TEXT_CACHE_FILE
    if runtime.is_main:
        captions = all_captions(args.data, "train")
        try:
            captions += all_captions(args.data, "val")
        except FileNotFoundError:
            pass
        cache = _cache_if_complete(path, args.text_encoder, args.max_text_tokens, captions)
        if cache is None:
            from moscale.model.text import TextEncoder

            encoder = TextEncoder.load(args.text_encoder, args.max_text_tokens)
            cache = load_or_build_text_cache(path, encoder.config, captions, encoder)
    if runtime.distributed:
        torch.distributed.barrier()
    return cache if runtime.is_main else TextCache.load(path)


def _cache_if_complete(path: Path, name: str, max_tokens: int, captions: list[str]) -> TextCache | None:
    """The cache at `path` when it was made by this encoder and holds every caption (no need to load the encoder)."""
    if not path.is_file():
        return None
    cache = TextCache.load(path)
    if (cache.encoder.name, cache.encoder.max_tokens) != (name, max_tokens):
        return None
    return cache if all(c in cache for c in captions if c.strip()) else None


def train(args: argparse.Namespace, runtime: common.Runtime) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    say = print if runtime.is_main else (lambda *a, **k: None)
    grad_accum = getattr(args, "grad_accum", 1)
    try:
        local_batch = common.micro_batch_size(args.batch_size, runtime.world_size, grad_accum)
    except ValueError as error:
        raise SystemExit(str(error)) from None

    tokenizer = MotionTokenizer.from_pretrained(args.tokenizer, map_location=runtime.device).eval()
    tokenizer.requires_grad_(False)
    text_cache = _text_cache(args, runtime)
    checkpoint = common.load_checkpoint(out / CHECKPOINT_FILE) if args.resume else None
    init = _init_weights(args.init, tokenizer) if args.init is not None and not checkpoint else None
    config = (TransformerConfig.from_dict(checkpoint["config"]) if checkpoint
              else init.config if init is not None else build_config(args, tokenizer, text_cache.encoder.dim))
    if init is not None:  # the window follows --max-frames (no weight depends on it: positions are rotary)
        try:  # replace() runs the config's own checks
            config = replace(config, max_latent=scales.latent_length(args.max_frames, tokenizer.config.downsample))
        except ValueError as error:
            raise SystemExit(f"--max-frames {args.max_frames} does not fit the --init model: {error}") from None
    options = TrainOptions(**checkpoint["options"]) if checkpoint else train_options(args)
    common.seed_everything(args.seed)

    dataset = MotionDataset(args.data, "train", max_frames=args.max_frames, seed=args.seed + runtime.rank,
                            mean=tokenizer.feature_mean.cpu().numpy(), std=tokenizer.feature_std.cpu().numpy())
    try:
        repeats = source_repeats(dataset.names, parse_oversample(args.oversample))
        if args.balance:
            groups = balance.window_groups(args.data, dataset.names)
            visits = balance.balanced_repeats(groups, args.balance, args.balance_cap)
            repeats = repeats * visits
            say(f"balanced sampling (power {args.balance}, cap {args.balance_cap}), windows -> visits per epoch: "
                f"{balance.group_table(groups, visits)}")
    except ValueError as error:
        raise SystemExit(str(error)) from None
    sampler = LengthBucketSampler(dataset.lengths, local_batch, shuffle=True, seed=args.seed,
                                  drop_last=int(repeats.sum()) >= args.batch_size, num_replicas=runtime.world_size,
                                  rank=runtime.rank, repeats=repeats)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_motions,
                        **common.loader_options(getattr(args, "workers", 0)))

    model = MotionTransformer(config).to(runtime.device).train()
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "emb" not in n and "queries" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "emb" not in n and "queries" not in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.98))
    if init is not None:
        model.load_state_dict(init.state_dict())
        say(f"initialised from {args.init}")
    if runtime.rank > 0:  # per-rank masks, corruption and text dropout; rank 0 keeps a world of one's stream
        common.seed_everything(common.rank_seed(args.seed, runtime.rank))
    step, epoch = 0, 0
    # Seconds spent training, not saving or validating: the x axis of quality-against-training-time plots.
    training_seconds = 0.0
    if checkpoint:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        step, epoch = int(checkpoint["step"]), int(checkpoint["epoch"])
        training_seconds = float(checkpoint.get("elapsed_s", 0.0))
        common.set_rng_state(checkpoint["rng"][runtime.rank % len(checkpoint["rng"])])
        say(f"resumed from {out / CHECKPOINT_FILE} at iteration {step}")
    ddp_model = model
    if runtime.distributed:
        device_ids = [runtime.device.index] if runtime.device.type == "cuda" else None
        ddp_model = DistributedDataParallel(model, device_ids=device_ids)
    amp_dtype = _amp_dtype(args.amp, runtime.device)
    scaler = common.grad_scaler(runtime.device, amp_dtype)
    if checkpoint and checkpoint.get("scaler"):
        scaler.load_state_dict(checkpoint["scaler"])

    say(f"generator ({config.mode}) {model.num_parameters() / 1e6:.2f} M parameters, options {asdict(options)}, "
        f"config {json.dumps(config.to_dict())}")
    chosen = ([f"--oversample {' '.join(args.oversample)}"] if args.oversample else []) + (
        [f"--balance {args.balance}"] if args.balance else [])
    oversampled = f" ({len(sampler.items)} visits per epoch: {', '.join(chosen)})" if chosen else ""
    say(f"{len(dataset)} training items{oversampled}, global batch {args.batch_size} on {runtime.world_size} process(es) "
        f"({runtime.device}, {torch.get_num_threads()} threads each), {args.iters} iterations, "
        f"{len(text_cache)} cached captions")
    log = common.LossLog(out / LOG_FILE, resume_from_step=step if checkpoint else None) if runtime.is_main else None
    val_set = _validation_set(args, dataset) if runtime.is_main else None
    memo = LatentMemo(tokenizer, max_bytes=args.latent_memo_mb << 20)

    bar = common.progress(args.iters, initial=step, enabled=runtime.is_main and not args.no_progress)
    throughput = common.Throughput()
    means = common.RunningMeans(runtime, log, bar, POSTFIX, LOG_KEYS, echo=args.no_progress)
    clock = common.Stopwatch(training_seconds)
    started = time.perf_counter()
    batches = common.cycle(loader, sampler, dataset, start_epoch=epoch)
    for epoch, micro_batches in common.accumulated(batches, grad_accum):
        if step >= args.iters:
            break
        lr = common.learning_rate(step, base_lr=args.lr, total_steps=args.iters, warmup_steps=args.warmup,
                                  schedule="cosine")
        common.set_learning_rate(optimizer, lr)
        stats = train_step(ddp_model, model, tokenizer, memo, text_cache, micro_batches, options, optimizer, scaler,
                           args.clip, runtime.device, amp_dtype)
        step += 1
        bar.update(1)
        throughput.add(sum(len(batch["lengths"]) for batch in micro_batches) * runtime.world_size)
        means.add(stats)
        if common.is_due(step, args.log_every, args.iters):
            means.flush(step=step, epoch=epoch, lr=lr, samples_per_s=throughput.rate(), elapsed_s=clock.seconds())
        snapshot = args.snapshot_every > 0 and step % args.snapshot_every == 0
        if common.is_due(step, args.save_every, args.iters) or snapshot:
            with clock.paused():
                _save(out, model, tokenizer, optimizer, step, epoch, runtime, log, options, text_cache, val_set, args,
                      clock.seconds(), snapshot, scaler)
    bar.close()
    say(f"done: {step} iterations in {(time.perf_counter() - started) / 60:.1f} min; release folder {out / RELEASE_DIR}")


def _init_weights(folder: Path, tokenizer: MotionTokenizer) -> MotionTransformer:
    """The generator of a release folder, checked against the tokenizer it will be trained on."""
    from moscale.pipeline import load_generator, read_release_config

    folder = Path(folder)
    if not (folder / "generator.safetensors").is_file():
        raise SystemExit(f"--init {folder}: no generator.safetensors there (give a release folder, e.g. assets/model)")
    try:  # a release keeps the transformer config in config.json, not in the weights' metadata
        model = load_generator(folder, read_release_config(folder))
    except ValueError as error:
        raise SystemExit(f"--init {folder}: {error}") from None
    c, t = model.config, tokenizer.config
    if (c.num_codes, c.code_dim, tuple(c.factors)) != (t.codebook_size, t.code_dim, tuple(t.scale_factors)):
        raise SystemExit(f"--init {folder}: made for a tokenizer with {c.num_codes} codes of width {c.code_dim} and "
                         f"scales {c.factors}; --tokenizer has {t.codebook_size} x {t.code_dim}, {t.scale_factors}")
    return model


def _amp_dtype(choice: str, device: torch.device):
    return common.amp_dtype(choice, device)


def prepare_batch(model: MotionTransformer, tokenizer: MotionTokenizer, memo: LatentMemo, text_cache: TextCache,
                  batch: dict, options: TrainOptions, device: torch.device) -> tuple[dict, tuple, torch.Tensor]:
    f_BNC = memo.latents(batch, device)
    lengths_B = batch["lengths"].to(device)
    if model.config.mode == NEXT_SCALE:
        inputs = next_scale_batch(tokenizer, f_BNC, lengths_B, model.mask_id, options)
    else:
        inputs = next_token_batch(tokenizer, f_BNC, lengths_B, model.config.num_queries, model.end_id)
    text_BSD, text_mask_BS, _ = text_cache.lookup(batch["captions"])
    drop_B = torch.rand(len(lengths_B), device=device) < options.text_dropout
    return inputs, (text_BSD.to(device), text_mask_BS.to(device)), drop_B


def train_step(ddp_model, model, tokenizer, memo, text_cache, batch, options, optimizer, scaler, clip, device,
               amp_dtype=None) -> dict:
    """One optimizer step on `batch`, or on a list of micro-batches whose gradients add up (each weighted by its share
    of the samples; DDP all-reduces after the last one only). Returns the step's statistics."""
    micro_batches = batch if isinstance(batch, list) else [batch]
    samples = sum(len(micro["lengths"]) for micro in micro_batches)
    optimizer.zero_grad(set_to_none=True)
    stats: dict[str, float] = {}
    for i, micro in enumerate(micro_batches):
        inputs, text, drop_B = prepare_batch(model, tokenizer, memo, text_cache, micro, options, device)
        share = len(micro["lengths"]) / samples
        with common.sync_gradients(ddp_model, last=i == len(micro_batches) - 1):
            with common.autocast(device, amp_dtype):
                loss, micro_stats = loss_and_stats(ddp_model, inputs, text, drop_B)
            scaler.scale(loss * share).backward()
        for name, value in micro_stats.items():
            stats[name] = stats.get(name, 0.0) + value * share
    scaler.unscale_(optimizer)
    stats["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(model.parameters(), clip))
    scaler.step(optimizer)
    scaler.update()
    return stats


def _validation_set(args, train_set: MotionDataset):
    if args.val_clips <= 0:
        return None
    try:
        return MotionDataset(args.data, "val", max_frames=args.max_frames, mean=train_set.mean, std=train_set.std,
                             seed=args.seed)
    except (FileNotFoundError, ValueError) as error:
        print(f"no validation scores: {error}", file=sys.stderr)
        return None


@torch.no_grad()
def validation_scores(model, tokenizer, memo, text_cache, dataset, clips: int, options: TrainOptions, device) -> dict:
    """Mean loss/accuracy over the first `clips` val items, with fixed random masks (seeded) and no text dropout."""
    was_training = model.training
    model.eval()
    count = min(clips, len(dataset))
    state = torch.get_rng_state()
    torch.manual_seed(1234)
    totals = {"loss": 0.0, "accuracy": 0.0}
    no_drop = TrainOptions(**{**asdict(options), "text_dropout": 0.0})
    for start in range(0, count, 32):
        batch = collate_motions([dataset[i] for i in range(start, min(start + 32, count))])
        inputs, text, drop_B = prepare_batch(model, tokenizer, memo, text_cache, batch, no_drop, device)
        _, stats = loss_and_stats(model, inputs, text, drop_B)
        for name in totals:
            totals[name] += stats[name] * len(batch["lengths"])
    torch.set_rng_state(state)
    model.train(was_training)
    return {f"val_{name}": value / count for name, value in totals.items()}


def _save(out, model, tokenizer, optimizer, step, epoch, runtime, log, options, text_cache, val_set, args,
          training_seconds: float, snapshot: bool, scaler=None) -> None:
    rng = common.rng_states(runtime)
    if not runtime.is_main:
        return
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "epoch": epoch,
             "config": model.config.to_dict(), "options": asdict(options), "rng": rng, "elapsed_s": training_seconds,
             "scaler": scaler.state_dict() if scaler is not None else {}}
    common.save_checkpoint(out / CHECKPOINT_FILE, state)
    from moscale.pipeline import save_release

    training = {"step": step, "elapsed_s": round(training_seconds, 3), "options": asdict(options),
                "data": str(args.data), "preset": args.preset}
    save_release(out / RELEASE_DIR, model, tokenizer, text_cache.encoder, training=training)
    if snapshot:  # the release folder just written, kept under its step
        shutil.copytree(out / RELEASE_DIR, out / SNAPSHOT_DIR / f"step-{step:06d}", dirs_exist_ok=True)
    if val_set is not None:
        memo = LatentMemo(tokenizer, max_bytes=64 << 20)
        scores = validation_scores(model, tokenizer, memo, text_cache, val_set, args.val_clips, options,
                                   runtime.device)
        log.merge(step, scores)
    log.plot(out / CURVES_FILE, ["loss", "val_loss", "accuracy", "val_accuracy", "lr", "samples_per_s"],
             title=f"generator training ({model.config.mode}), step {step}")


def main(argv: list[str] | None = None) -> int:
    return common.command_main("moscale train generator", __doc__, configure_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
