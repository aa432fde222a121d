"""`moscale train tokenizer`: train the multi-scale residual VQ-VAE on a HumanML3D-layout folder.

    moscale train tokenizer --data corpus/ --preset small --out runs/tokenizer-small
    torchrun --nproc_per_node=2 -m moscale.train.tokenizer --data corpus/ --preset small --out runs/tok   # DDP
    moscale train tokenizer --data corpus/ --init assets/model/tokenizer --lr 5e-5 --crop-frames 0 --out runs/tok-ft

Recipe (the paper's): random `--crop-frames` crops of the train split (or whole clips), AdamW (0.9, 0.99), linear
warm-up, then the learning rate times 0.3 at 30% and 70% of the iterations. `--batch-size` is the global batch of one
optimizer step, split over the processes and `--grad-accum` micro-batches; `--amp bf16|fp16` trains in mixed precision
(fp16 with a gradient scaler; nearest codes and the EMA codebook stay fp32); docs/training.md has the GPU recipe.
`--init FOLDER` fine-tunes a released tokenizer: its weights and codebook, a fresh optimizer and schedule (the bundled
one was finished with a stage on whole clips, `--crop-frames 0`: see its model card).

Speed (small preset, 64-frame crops, batch 128, 2 CPU cores): ~460 samples/s end to end, either one process with 2
threads or `torchrun --nproc_per_node=2` with 1 thread each, i.e. ~3.6 iterations/s. A second busy process on a 2-core
machine makes 2-thread OpenMP much slower (spin-waiting); then use `--threads 1`, torchrun with 1 thread per process,
or OMP_WAIT_POLICY=PASSIVE (which costs ~25% on an idle machine).

The output folder holds `checkpoint.pt` (training state, for `--resume`), `tokenizer/` (the release folder:
config.json + tokenizer.safetensors + normalization.json, rewritten at every save), `train_log.csv` and `loss_curves.png`.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from moscale.data.dataset import LengthBucketSampler, MotionDataset, collate_motions, source_repeats
from moscale.model.tokenizer import MotionTokenizer, TokenizerConfig, count_parameters
from moscale.train import common

CHECKPOINT_FILE = "checkpoint.pt"
RELEASE_DIR = "tokenizer"
BEST_DIR = "tokenizer-best"  # the release with the lowest validation MPJPE so far
BEST_RECORD = "best.json"
LOG_FILE = "train_log.csv"
CURVES_FILE = "loss_curves.png"
# The progress bar's postfix and the columns of a --no-progress log line.
POSTFIX = {"loss": "{total:.4f}", "ppl": "{perplexity:.0f}", "sps": "{samples_per_s:.0f}"}
LOG_KEYS = ("total", "recon", "joints", "commit", "pose", "perplexity", "used", "reset", "lr", "samples_per_s")

# Iterations and warm-up when not given on the command line.
DEFAULTS = {
    "paper": dict(iters=100_000, warmup=2000, batch_size=256, lr=3e-4),
    "small": dict(iters=7000, warmup=300, batch_size=128, lr=3e-4),  # ~33 min on 2 idle CPU cores
}


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="HumanML3D-layout folder (train/val splits, Mean/Std)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (checkpoint, release folder, logs)")
    parser.add_argument("--preset", choices=sorted(DEFAULTS), default="small", help="tokenizer size (default small)")
    parser.add_argument("--config", type=Path, help="a config.json to use instead of the preset")
    parser.add_argument("--init", type=Path,
                        help="fine-tune: start from this release folder's weights and codebook (fresh optimizer and "
                             "schedule); its config is used unless --config is given, which must match its shapes")
    parser.add_argument("--decoder-only", action="store_true",
                        help="with --init: train the decoder alone, the encoder, codebook and normalisation kept, so "
                             "every clip keeps its tokens and a generator trained on them stays valid")
    parser.add_argument("--root-only", action="store_true",
                        help="with --decoder-only: train only the decoder's output of the 4 root channels, every other "
                             "channel decoded bit for bit as before")
    parser.add_argument("--velocity-weight", type=float,
                        help="weight of the loss on frame-to-frame joint moves (TokenizerConfig.velocity_weight), set "
                             "on the config in use, --init's included (default: the config's own)")
    parser.add_argument("--root-weight", type=float,
                        help="weight of the loss on the root's floor track (TokenizerConfig.root_weight), set on the "
                             "config in use, --init's included (default: the config's own)")
    parser.add_argument("--iters", type=int, help="training iterations (default: per preset, small 7000, paper 100000)")
    parser.add_argument("--batch-size", type=int, help="global batch size (default: small 128, paper 256)")
    parser.add_argument("--lr", type=float, help="peak learning rate (default 3e-4)")
    parser.add_argument("--warmup", type=int, help="warm-up iterations (default: small 300, paper 2000)")
    parser.add_argument("--schedule", choices=["step", "cosine", "constant"], default="step")
    parser.add_argument("--grad-clip", type=float, default=1.0,
                        help="max gradient norm (default 1; 0 disables). Without it the encoder's latents can run away "
                             "from the EMA codebook and the commitment loss explodes")
    parser.add_argument("--crop-frames", type=int, default=64,
                        help="training crop length in frames (default 64); 0: whole clips of up to 196 frames, so the "
                             "pose loss sees the root's turn add up over a full window, as the evaluation does")
    parser.add_argument("--oversample", action="append", default=[], metavar="SOURCE=N",
                        help="visit the clips of a data source (clip-name prefix, e.g. cmu) N times per epoch, each "
                             "time a new crop; repeatable")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ... (default auto)")
    parser.add_argument("--threads", type=int, help="CPU threads per process (default: cores / processes)")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (default 0)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-every", type=int, default=50, help="iterations between log rows")
    parser.add_argument("--save-every", type=int, default=1000, help="iterations between checkpoints + release folder")
    parser.add_argument("--val-clips", type=int, default=256, help="val-split clips scored at every save (0: none)")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bar (plain log lines only)")
    common.add_scaling_options(parser, workers=False)  # --grad-accum, --amp


def resolve_settings(args: argparse.Namespace) -> argparse.Namespace:
    """Fill the per-preset defaults into a copy of `args`."""
    settings = argparse.Namespace(**vars(args))
    for name, value in DEFAULTS[args.preset].items():
        if getattr(settings, name) is None:
            setattr(settings, name, value)
    return settings


def parse_oversample(values: list[str]) -> dict[str, int]:
    """["cmu=5", "bandai1=3"] -> {"cmu": 5, "bandai1": 3}."""
    result = {}
    for value in values:
        source, _, count = value.partition("=")
        if not source or not count.isdigit():
            raise ValueError(f"--oversample {value!r}: expected SOURCE=N, e.g. cmu=4")
        result[source] = int(count)
    return result


def build_config(args: argparse.Namespace) -> TokenizerConfig:
    if args.config is not None:
        return TokenizerConfig.from_dict(json.loads(Path(args.config).read_text()))
    return TokenizerConfig.preset(args.preset)


def run(args: argparse.Namespace) -> int:
    args = resolve_settings(args)
    runtime = common.setup_runtime(args.device, args.threads)
    try:
        try:
            setup = prepare(args, runtime)
        except (FileNotFoundError, ValueError) as error:  # bad paths, data or config: one line, no traceback
            print(f"error: {error}", file=sys.stderr)
            return 2
        train(args, runtime, setup)
    finally:
        common.teardown_runtime()
    return 0


@dataclasses.dataclass
class Setup:
    """Everything a run needs, built (or restored from OUT/checkpoint.pt) by `prepare`."""

    model: MotionTokenizer
    optimizer: torch.optim.Optimizer
    dataset: MotionDataset
    sampler: LengthBucketSampler
    loader: DataLoader
    val_set: MotionDataset | None
    step: int
    epoch: int
    amp_dtype: torch.dtype | None = None
    scaler: torch.amp.GradScaler | None = None


def prepare(args: argparse.Namespace, runtime: common.Runtime) -> Setup:
    micro_batch = common.micro_batch_size(args.batch_size, runtime.world_size, getattr(args, "grad_accum", 1))
    checkpoint = common.load_checkpoint(Path(args.out) / CHECKPOINT_FILE) if args.resume else None
    initial = MotionTokenizer.from_pretrained(args.init) if args.init is not None and not checkpoint else None
    if checkpoint:
        config = TokenizerConfig.from_dict(checkpoint["config"])
    elif initial is not None and args.config is None:
        config = initial.config
    else:
        config = build_config(args)
    for name in ("velocity_weight", "root_weight"):
        weight = getattr(args, name, None)
        if weight is not None and not checkpoint:
            if weight < 0:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 0, got {weight}")
            config = dataclasses.replace(config, **{name: weight})
    common.seed_everything(args.seed)  # same seed on every rank: identical initial weights

    if args.crop_frames < 0:
        raise ValueError(f"--crop-frames must be >= 0, got {args.crop_frames}")
    decoder_only = getattr(args, "decoder_only", False)
    if decoder_only and initial is None and not checkpoint:
        raise ValueError("--decoder-only trains the decoder of a released tokenizer: give it with --init")
    if getattr(args, "root_only", False) and not decoder_only:
        raise ValueError("--root-only trains part of the decoder alone: give it with --decoder-only")
    # the decoder alone keeps the tokens only if the features are normalised as before
    statistics = {}
    if decoder_only:
        kept = initial if initial is not None else MotionTokenizer.from_pretrained(Path(args.out) / RELEASE_DIR)
        statistics = dict(mean=kept.feature_mean.numpy(), std=kept.feature_std.numpy())
    dataset = MotionDataset(args.data, "train", crop_frames=args.crop_frames or None, seed=args.seed + runtime.rank,
                            **statistics)
    repeats = source_repeats(dataset.names, parse_oversample(args.oversample))
    sampler = LengthBucketSampler(
        dataset.lengths, micro_batch, shuffle=True, seed=args.seed,
        drop_last=int(repeats.sum()) >= args.batch_size, num_replicas=runtime.world_size, rank=runtime.rank,
        repeats=repeats,
    )
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_motions, **common.loader_options(args.workers))

    model = MotionTokenizer(config)
    if initial is not None:
        try:
            model.load_pretrained_weights(initial, source=args.init)
        except ValueError as error:
            raise ValueError(f"--init {args.init} does not fit --config {args.config} (sizes must match): {error}") from None
        same_std = torch.allclose(initial.feature_std, torch.as_tensor(dataset.std, dtype=torch.float32), rtol=1e-4)
        if not decoder_only and not same_std:
            print(f"note: {args.init} was normalised with other statistics than {args.data}; fine-tuning adapts it "
                  "to this data's Mean/Std", file=sys.stderr)
    model.set_normalization(dataset.mean, dataset.std)
    if decoder_only:
        model.freeze_codes(root_only=getattr(args, "root_only", False))
    model.to(runtime.device).train()
    trained = [p for p in model.decoder.parameters() if p.requires_grad] if decoder_only else model.parameters()
    optimizer = torch.optim.AdamW(trained, lr=args.lr, betas=(0.9, 0.99), weight_decay=0.0)
    amp_dtype = common.amp_dtype(getattr(args, "amp", "off"), runtime.device)
    setup = Setup(model, optimizer, dataset, sampler, loader, None, 0, 0, amp_dtype,
                  common.grad_scaler(runtime.device, amp_dtype))
    if runtime.rank > 0:  # rank 0 keeps a world of one's random stream
        common.seed_everything(common.rank_seed(args.seed, runtime.rank))
    if checkpoint:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        if checkpoint.get("scaler"):
            setup.scaler.load_state_dict(checkpoint["scaler"])
        setup.step, setup.epoch = int(checkpoint["step"]), int(checkpoint["epoch"])
        common.set_rng_state(checkpoint["rng"][runtime.rank % len(checkpoint["rng"])])
    if runtime.is_main:
        setup.val_set = _validation_set(args, dataset)
    return setup


def train(args: argparse.Namespace, runtime: common.Runtime, setup: Setup | None = None) -> MotionTokenizer:
    """Run the training loop (args as from `resolve_settings`); returns the trained model (unwrapped, train mode)."""
    setup = setup or prepare(args, runtime)
    out = Path(args.out)
    say = print if runtime.is_main else (lambda *a, **k: None)
    model, optimizer, dataset, sampler, loader = setup.model, setup.optimizer, setup.dataset, setup.sampler, setup.loader
    step, val_set = setup.step, setup.val_set
    if step:
        say(f"resumed from {out / CHECKPOINT_FILE} at iteration {step}")
    # Codebook buffers are kept in sync by the quantizer's own all-reduce/broadcast, not by DDP.
    ddp_model = common.wrap_ddp(model, runtime, sync_buffers=False)
    config = model.config
    say(f"tokenizer {count_parameters(model) / 1e6:.2f} M parameters, config {json.dumps(config.to_dict())}")
    oversampled = f" ({len(sampler.items)} visits per epoch: --oversample {' '.join(args.oversample)})" \
        if args.oversample else ""
    crops = f"{args.crop_frames}-frame crops" if args.crop_frames else f"whole clips of <= {dataset.max_frames} frames"
    say(f"{len(dataset)} training clips{oversampled}, {crops}, global batch {args.batch_size} on "
        f"{runtime.world_size} process(es) ({runtime.device}, {torch.get_num_threads()} threads each), "
        f"{args.iters} iterations" + (f", {args.grad_accum} micro-batches per step" if getattr(args, "grad_accum", 1) > 1
                                      else "") + (f", {setup.amp_dtype} autocast" if setup.amp_dtype else ""))
    log = common.LossLog(out / LOG_FILE, resume_from_step=step if step else None) if runtime.is_main else None

    bar = common.progress(args.iters, initial=step, enabled=runtime.is_main and not args.no_progress)
    throughput = common.Throughput()
    means = common.RunningMeans(runtime, log, bar, POSTFIX, LOG_KEYS, echo=args.no_progress)
    started = time.perf_counter()
    scaler = setup.scaler or common.grad_scaler(runtime.device, None)
    batches = common.cycle(loader, sampler, dataset, start_epoch=setup.epoch)
    for epoch, micro_batches in common.accumulated(batches, getattr(args, "grad_accum", 1)):
        if step >= args.iters:
            break
        lr = common.learning_rate(step, base_lr=args.lr, total_steps=args.iters, warmup_steps=args.warmup,
                                  schedule=args.schedule)
        common.set_learning_rate(optimizer, lr)
        optimizer.zero_grad(set_to_none=True)
        samples = sum(len(batch["lengths"]) for batch in micro_batches)
        for i, batch in enumerate(micro_batches):
            features = batch["features"].to(runtime.device, non_blocking=True)
            lengths = batch["lengths"].to(runtime.device)
            with common.sync_gradients(ddp_model, last=i == len(micro_batches) - 1):
                with common.autocast(runtime.device, setup.amp_dtype):
                    _, _, losses = ddp_model(features, lengths)
                # Each micro-batch weighs by its share of the step's samples: the mean over the whole batch.
                scaler.scale(losses["total"] * (len(lengths) / samples)).backward()
            means.add({**{k: float(v.detach()) for k, v in losses.items()}, **model.last_stats})
        scaler.unscale_(optimizer)
        if args.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        step += 1
        bar.update(1)
        throughput.add(samples * runtime.world_size)
        if common.is_due(step, args.log_every, args.iters):
            means.flush(step=step, epoch=epoch, lr=lr, samples_per_s=throughput.rate())
        if common.is_due(step, args.save_every, args.iters):
            _save(out, model, optimizer, step, epoch, runtime, log, val_set, args.val_clips, scaler)
            throughput.rate()  # saving and validation time do not count as training throughput
    bar.close()
    minutes = (time.perf_counter() - started) / 60
    say(f"done: {step} iterations in {minutes:.1f} min; release folder {out / RELEASE_DIR}")
    return model


def _validation_set(args: argparse.Namespace, train_set: MotionDataset):
    if args.val_clips <= 0:
        return None
    try:
        return MotionDataset(args.data, "val", mean=train_set.mean, std=train_set.std, seed=args.seed)
    except (FileNotFoundError, ValueError) as error:
        print(f"no validation scores: {error}", file=sys.stderr)
        return None


@torch.no_grad()
def validation_scores(model: MotionTokenizer, dataset: MotionDataset, clips: int, device: torch.device) -> dict:
    """Losses (eval mode, no codebook update) and MPJPE in mm (first scale, all scales) on up to `clips` items of a
    full-length dataset; the model's train/eval mode is restored."""
    from moscale.evaluation.tokenizer import evaluate

    was_training = model.training
    model.eval()
    count = min(clips, len(dataset))
    totals: dict[str, float] = {}
    for start in range(0, count, 32):
        batch = collate_motions([dataset[i] for i in range(start, min(start + 32, count))])
        _, _, losses = model(batch["features"].to(device), batch["lengths"].to(device))
        for name, value in losses.items():
            totals[name] = totals.get(name, 0.0) + float(value) * len(batch["lengths"])
    scores = {f"val_{name}": value / count for name, value in totals.items()}
    results = evaluate(model, dataset, max_clips=count, device=device)
    scores.update(val_mpjpe_mm=results["mpjpe_mm"][-1], val_mpjpe_first_scale_mm=results["mpjpe_mm"][0],
                  val_code_usage=results["codebook_usage"])
    model.train(was_training)
    return scores


def _save(out, model, optimizer, step, epoch, runtime, log, val_set, val_clips, scaler=None) -> None:
    rng = common.rng_states(runtime)
    if not runtime.is_main:
        return
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "epoch": epoch,
             "config": model.config.to_dict(), "rng": rng, "scaler": scaler.state_dict() if scaler else {}}
    common.save_checkpoint(out / CHECKPOINT_FILE, state)
    model.save_pretrained(out / RELEASE_DIR)
    if val_set is not None:
        scores = validation_scores(model, val_set, val_clips, runtime.device)
        log.merge(step, scores)
        print(f"step {step} validation: " + " ".join(f"{k}={v:.4g}" for k, v in scores.items()), flush=True)
        _keep_best(out, model, step, scores["val_mpjpe_mm"])
    log.plot(out / CURVES_FILE, ["total", "recon", "joints", "commit", "pose", "val_total", "val_mpjpe_mm", "perplexity",
                                 "samples_per_s"],
             title=f"tokenizer training, step {step}")


def _keep_best(out: Path, model: MotionTokenizer, step: int, mpjpe_mm: float) -> None:
    """Also keep the release with the lowest validation MPJPE so far (OUT/tokenizer-best), so a late spike in training
    never costs the best model."""
    record = out / BEST_RECORD
    best = json.loads(record.read_text())["val_mpjpe_mm"] if record.is_file() else float("inf")
    if mpjpe_mm < best:
        model.save_pretrained(out / BEST_DIR)
        record.write_text(json.dumps({"step": step, "val_mpjpe_mm": mpjpe_mm}) + "\n")


def main(argv: list[str] | None = None) -> int:
    return common.command_main("moscale train tokenizer", __doc__, configure_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
