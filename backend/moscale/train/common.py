"""Pieces shared by the training scripts: the command line, distributed setup, seeding, learning-rate schedules,
checkpoints, log rows and timing.

Distributed training follows torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT):
gloo on CPU, nccl on CUDA. A plain `python -m moscale ...` run is a world of one and needs no process group.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import inspect
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn


# ---------------------------------------------------------------------------------------------------------------------
# command line


def command_main(prog: str, description: str, configure_parser: Callable[[argparse.ArgumentParser], None],
                 run: Callable[[argparse.Namespace], int], argv: list[str] | None = None) -> int:
    """A trainer's `main` for `python -m moscale.train.NAME` (how torchrun starts it): its options, then its run."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    configure_parser(parser)
    return run(parser.parse_args(argv))


# ---------------------------------------------------------------------------------------------------------------------
# devices, threads, processes


@dataclass(frozen=True)
class Runtime:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """'auto' -> this process's CUDA device when there is one, else the CPU; otherwise torch.device(name)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    return device


def setup_runtime(device: str = "auto", threads: int | None = None) -> Runtime:
    """Read torchrun's environment, pick the device, start the process group when the world has more than one process,
    and set CPU threads (default: the cores divided among the processes on this machine)."""
    rank = int(os.environ.get("RANK", 0))
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world_size))
    chosen = resolve_device(device, local_rank)
    if chosen.type == "cuda":
        torch.cuda.set_device(chosen)
    if threads is None:
        threads = max(1, (os.cpu_count() or 1) // max(1, local_world))
    torch.set_num_threads(threads)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if chosen.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return Runtime(rank=rank, world_size=world_size, local_rank=local_rank, device=chosen)


def teardown_runtime() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rank_seed(seed: int, rank: int) -> int:
    """This rank's seed for its random draws during training (masks, corruption, dropout, text dropout): different
    on every rank, so that the ranks do not draw the same masks for their different clips. Initial weights come from
    `seed` itself on every rank (and DDP broadcasts rank 0's anyway)."""
    return seed + 1_000_003 * rank


# ---------------------------------------------------------------------------------------------------------------------
# scaling up: mixed precision, gradient accumulation, data loading


def add_scaling_options(parser: argparse.ArgumentParser, *, amp: bool = True, workers: bool = True) -> None:
    """--grad-accum (and --amp, --workers unless a trainer defines its own) for a trainer's command line."""
    parser.add_argument("--grad-accum", type=int, default=1, metavar="N",
                        help="accumulate gradients over N micro-batches per optimizer step; --batch-size stays the "
                             "global batch of one step, so each process runs batch / (processes x N) at a time")
    if amp:
        parser.add_argument("--amp", choices=AMP_CHOICES, default="off",
                            help="mixed precision: bf16, or fp16 with a gradient scaler; auto = bf16 on CUDA where "
                                 "supported, else fp16 on CUDA, off on the CPU (default off)")
    if workers:
        parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (default 0)")


AMP_CHOICES = ("auto", "off", "bf16", "fp16")


def amp_dtype(choice: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for --amp on `device` (None: full precision). Explicit bf16/fp16 also run on the CPU."""
    if choice == "off" or (choice == "auto" and device.type != "cuda"):
        return None
    if choice == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if choice not in ("bf16", "fp16"):
        raise ValueError(f"--amp {choice!r}: choose one of {AMP_CHOICES}")
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[choice]


def autocast(device: torch.device, dtype: torch.dtype | None):
    """torch.autocast for `dtype`, or a no-op context for None."""
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


def grad_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """A GradScaler that is active for fp16 only (bf16 has fp32's range and needs none)."""
    return torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)


def micro_batch_size(batch_size: int, world_size: int, grad_accum: int) -> int:
    """Samples per process per micro-batch; the global batch must split evenly."""
    if grad_accum < 1:
        raise ValueError(f"--grad-accum must be at least 1, got {grad_accum}")
    if batch_size % (world_size * grad_accum):
        raise ValueError(f"--batch-size {batch_size} does not split into {world_size} process(es) x {grad_accum} "
                         "accumulation step(s)")
    return batch_size // (world_size * grad_accum)


def accumulated(batches: Iterator[tuple[int, dict]], grad_accum: int) -> Iterator[tuple[int, list[dict]]]:
    """Groups of `grad_accum` consecutive (epoch, batch) pairs as (epoch of the last, [batches])."""
    while True:
        group = [next(batches) for _ in range(grad_accum)]
        yield group[-1][0], [batch for _, batch in group]


def sync_gradients(ddp_model: nn.Module, last: bool):
    """Context for one micro-batch's backward: DDP all-reduces the gradients on the last one only."""
    if last or not isinstance(ddp_model, nn.parallel.DistributedDataParallel):
        return contextlib.nullcontext()
    return ddp_model.no_sync()


def loader_options(workers: int) -> dict:
    """DataLoader keyword arguments for `workers` processes (pinned memory when CUDA is there)."""
    if workers < 0:
        raise ValueError(f"--workers must be >= 0, got {workers}")
    options: dict = {"num_workers": workers, "pin_memory": torch.cuda.is_available()}
    if workers > 0:
        options["prefetch_factor"] = 4
    return options


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel wrapper (or the module itself)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def wrap_ddp(model: nn.Module, runtime: Runtime, sync_buffers: bool = False) -> nn.Module:
    """DistributedDataParallel around `model` in a world of more than one process (else `model` itself).

    sync_buffers=False: buffers are not re-broadcast from rank 0 at every forward (models that keep their buffers in
    sync themselves, like the tokenizer's codebook, or whose buffers are constants)."""
    if not runtime.distributed:
        return model
    device_ids = [runtime.device.index] if runtime.device.type == "cuda" else None
    # torch >= 2.13 renamed broadcast_buffers to forward_sync_buffers.
    if "forward_sync_buffers" in inspect.signature(nn.parallel.DistributedDataParallel.__init__).parameters:
        options = {"forward_sync_buffers": sync_buffers}
    else:
        options = {"broadcast_buffers": sync_buffers}
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids, **options)


def all_reduce_mean(values: dict[str, float], runtime: Runtime) -> dict[str, float]:
    """Average scalar logs over all processes (a no-op in a world of one)."""
    if not runtime.distributed or not values:
        return values
    keys = sorted(values)
    tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=runtime.device)
    dist.all_reduce(tensor)
    return {k: float(v) / runtime.world_size for k, v in zip(keys, tensor.tolist())}


# ---------------------------------------------------------------------------------------------------------------------
# learning rate


def learning_rate(
    step: int,
    *,
    base_lr: float,
    total_steps: int,
    warmup_steps: int = 0,
    schedule: str = "step",
    milestones: tuple[float, ...] = (0.3, 0.7),
    gamma: float = 0.3,
    min_lr: float = 0.0,
) -> float:
    """Learning rate at `step` (0-based): linear warm-up from ~0 to base_lr, then

    - "step": multiply by `gamma` at each milestone (fractions of total_steps), the tokenizer recipe;
    - "cosine": cosine decay from base_lr to min_lr at total_steps;
    - "constant"."""
    if warmup_steps > 0 and step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    if schedule == "step":
        drops = sum(step >= fraction * total_steps for fraction in milestones)
        return base_lr * gamma**drops
    if schedule == "cosine":
        span = max(1, total_steps - warmup_steps)
        progress = min(1.0, (step - warmup_steps) / span)
        return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * progress))
    if schedule == "constant":
        return base_lr
    raise ValueError(f"unknown schedule {schedule!r}; choose step, cosine or constant")


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


# ---------------------------------------------------------------------------------------------------------------------
# checkpoints


def save_checkpoint(path: str | Path, state: dict) -> None:
    """torch.save a training checkpoint atomically (write to a temporary name, then rename)."""
    from moscale.utils.atomic import replacing

    with replacing(path) as temporary:  # a fresh scratch name: two runs never share one temporary file
        torch.save(state, temporary)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a training checkpoint written by `save_checkpoint` (tensors, numbers, strings, lists, dicts only)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no training checkpoint at {path}")
    return torch.load(path, map_location=map_location, weights_only=True)


def rng_state() -> dict:
    """Python, NumPy, torch (and CUDA) RNG states in a form torch.load(weights_only=True) accepts."""
    numpy_state = np.random.get_state()
    state = {"python": list(random.getstate()[1]), "torch": torch.get_rng_state(),
             "numpy": {"keys": numpy_state[1].tolist(), "pos": int(numpy_state[2]),
                       "has_gauss": int(numpy_state[3]), "gauss": float(numpy_state[4])}}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def rng_states(runtime: Runtime) -> list[dict]:
    """Every rank's `rng_state()`, in rank order (a collective: all ranks call it), so that a resumed run draws the
    same random numbers on each rank."""
    state = rng_state()
    if not runtime.distributed:
        return [state]
    gathered = [None] * runtime.world_size
    dist.all_gather_object(gathered, state)
    return gathered


def set_rng_state(state: dict) -> None:
    """Restore `rng_state()` (checkpoints written before NumPy/CUDA states were kept restore Python and torch)."""
    random.setstate((3, tuple(state["python"]), None))
    torch.set_rng_state(state["torch"])
    if "numpy" in state:
        numpy = state["numpy"]
        np.random.set_state(("MT19937", np.array(numpy["keys"], dtype=np.uint32), numpy["pos"], numpy["has_gauss"],
                             numpy["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ---------------------------------------------------------------------------------------------------------------------
# logs


class LossLog:
    """Rows of scalars appended to a CSV file (kept across resumes) and drawn as a PNG of loss curves."""

    def __init__(self, csv_path: str | Path, resume_from_step: int | None = None):
        self.csv_path = Path(csv_path)
        self.rows: list[dict[str, float]] = []
        if resume_from_step is not None and self.csv_path.is_file():
            with self.csv_path.open() as handle:
                self.rows = [
                    {k: float(v) for k, v in row.items() if v not in ("", None)}
                    for row in csv.DictReader(handle)
                    if float(row["step"]) <= resume_from_step
                ]
        self._write_all()

    def append(self, row: dict[str, float]) -> None:
        self.rows.append(dict(row))
        self._write_all()

    def merge(self, step: int, values: dict[str, float]) -> None:
        """Add columns to the row of `step` (the last row) or append a new row for it."""
        if self.rows and self.rows[-1].get("step") == step:
            self.rows[-1].update(values)
            self._write_all()
        else:
            self.append({"step": step, **values})

    def _write_all(self) -> None:
        self.csv_path.parent.mkdir(parents=True, exist_ok=True)
        columns: list[str] = []
        for row in self.rows:
            columns += [k for k in row if k not in columns]
        with self.csv_path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns or ["step"])
            writer.writeheader()
            writer.writerows(self.rows)

    def plot(self, png_path: str | Path, keys: Iterable[str], title: str = "training") -> None:
        """One panel per key against step, log-scale y where all values are positive."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        keys = [k for k in keys if any(k in row for row in self.rows)]
        if not keys:
            return
        columns = min(4, len(keys))
        rows = -(-len(keys) // columns)
        figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3.2 * rows), squeeze=False)
        for axis in axes.flat[len(keys):]:
            axis.set_visible(False)
        for axis, key in zip(axes.flat, keys):
            points = [(row["step"], row[key]) for row in self.rows if key in row]
            steps, values = zip(*points)
            axis.plot(steps, values, linewidth=1)
            if min(values) > 0:
                axis.set_yscale("log")
            axis.set_title(key)
            axis.set_xlabel("step")
            axis.grid(alpha=0.3)
        figure.suptitle(title)
        figure.tight_layout()
        figure.savefig(png_path, dpi=100)
        plt.close(figure)


def is_due(step: int, every: int, last: int) -> bool:
    """Whether iteration `step` (1-based, after the update) is one of every `every`-th, or the last; every <= 0: the
    last only."""
    return step == last or (every > 0 and step % every == 0)


def format_row(row: dict[str, float], keys: Iterable[str]) -> str:
    """'step N: key=value ...' for those of `keys` in a log row."""
    return f"step {int(row['step'])}: " + " ".join(f"{k}={row[k]:.4g}" for k in keys if k in row)


class RunningMeans:
    """Means of the per-iteration statistics since the last log row; `flush` turns them into that row.

    On the main process (`log` given) a row goes to the LossLog, the progress bar's postfix (`postfix`: label ->
    format string over the row, e.g. {"loss": "{total:.4f}"}) and, with `echo` (the --no-progress runs), one printed
    line of `echo_keys`."""

    def __init__(self, runtime: Runtime, log: LossLog | None, bar, postfix: dict[str, str],
                 echo_keys: Iterable[str] = (), echo: bool = False):
        self.runtime, self.log, self.bar = runtime, log, bar
        self.postfix, self.echo_keys, self.echo = postfix, tuple(echo_keys), echo
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, stats: dict[str, float]) -> None:
        for name, value in stats.items():
            self.sums[name] = self.sums.get(name, 0.0) + value
        self.count += 1

    def flush(self, **columns: float) -> dict[str, float]:
        """The means (averaged over all processes: a collective) with `columns` (step, epoch, lr, ...) added, logged
        on the main process; starts a new interval."""
        row = {k: v / max(self.count, 1) for k, v in self.sums.items()}
        row = all_reduce_mean(row, self.runtime)
        row.update(columns)
        self.sums, self.count = {}, 0
        if self.log is not None:
            self.log.append(row)
            self.bar.set_postfix(**{label: spec.format(**row) for label, spec in self.postfix.items()})
            if self.echo:
                print(format_row(row, self.echo_keys), flush=True)
        return row


class Stopwatch:
    """Seconds counted since it started (plus `seconds` carried over from a resumed run), except inside `paused()`."""

    def __init__(self, seconds: float = 0.0):
        self._total, self._since = seconds, time.perf_counter()

    def seconds(self) -> float:
        running = time.perf_counter() - self._since if self._since is not None else 0.0
        return self._total + running

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        self._total, self._since = self.seconds(), None
        try:
            yield
        finally:
            self._since = time.perf_counter()


class Throughput:
    """Samples per second over the interval since the last call."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.samples = 0

    def add(self, samples: int) -> None:
        self.samples += samples

    def rate(self) -> float:
        now = time.perf_counter()
        rate = self.samples / max(now - self.start, 1e-9)
        self.start, self.samples = now, 0
        return rate


def progress(total: int, initial: int = 0, enabled: bool = True, description: str = "train"):
    """A tqdm bar on the main process; a do-nothing stand-in elsewhere."""
    if not enabled:
        return _NoProgress()
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=description, dynamic_ncols=True, mininterval=2.0)


class _NoProgress:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, *args, **kwargs) -> None:
        pass

    def close(self) -> None:
        pass


def cycle(loader: Iterable, *reseeded, start_epoch: int = 0) -> Iterator:
    """Endless (epoch, batch) pairs from `loader`; each epoch starts with `set_epoch(epoch)` on the `reseeded` objects
    (the sampler, the dataset), so shuffles and random crops differ from epoch to epoch."""
    epoch = start_epoch
    while True:
        for part in reseeded:
            part.set_epoch(epoch)
        produced = False
        for batch in loader:
            produced = True
            yield epoch, batch
        if not produced:
            raise RuntimeError("the training set produced no batch (too few clips for the batch size?)")
        epoch += 1
