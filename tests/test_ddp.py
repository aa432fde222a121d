"""The paper presets under 2-process gloo DDP on the CPU: a few steps of the paper tokenizer (attention blocks,
dropout) and of the paper-size generator on it, with gradient accumulation and bf16 autocast, the way torchrun runs
them on a GPU box (docs/training.md). Slow: minutes on 2 cores, run with --runslow."""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket

import numpy as np
import pytest
import torch

from moscale.model.text import save_random_encoder
from moscale.train import common
from moscale.train import generator as train_generator
from moscale.train import tokenizer as train_tokenizer
from training_data import write_random_corpus

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    write_random_corpus(root / "data", 10, (64, 100), caption=lambda i: f"a person does motion {i % 3}#x#0.0#0.0")
    save_random_encoder(root / "text", "bert", dim=16)
    return root


def _environment(rank: int, world: int, port: int) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_WAIT_POLICY="PASSIVE")


def _tokenizer_worker(rank, world, port, workspace, out, results):
    _environment(rank, world, port)
    parser = argparse.ArgumentParser()
    train_tokenizer.configure_parser(parser)
    args = train_tokenizer.resolve_settings(parser.parse_args([
        "--data", str(workspace / "data"), "--out", str(out), "--preset", "paper", "--iters", "2", "--batch-size", "4",
        "--grad-accum", "2", "--amp", "bf16", "--crop-frames", "64", "--val-clips", "0", "--save-every", "2",
        "--no-progress", "--threads", "1", "--device", "cpu"]))
    runtime = common.setup_runtime(args.device, args.threads)
    try:
        model = train_tokenizer.train(args, runtime)
        # The dead-code reset pool ("recent") is each rank's own data by design; everything else must agree.
        state = b"".join(v.detach().contiguous().numpy().tobytes() for k, v in model.state_dict().items()
                         if "recent" not in k)
        (results / f"tokenizer{rank}").write_text(hashlib.sha256(state).hexdigest())
    finally:
        common.teardown_runtime()


def _generator_worker(rank, world, port, workspace, out, results):
    _environment(rank, world, port)
    parser = argparse.ArgumentParser()
    train_generator.configure_parser(parser)
    code = train_generator.run(parser.parse_args([
        "--data", str(workspace / "data"), "--tokenizer", str(workspace / "paper-tok" / "tokenizer"),
        "--out", str(out), "--text-encoder", str(workspace / "text"), "--preset", "paper", "--iters", "2",
        "--batch-size", "4", "--grad-accum", "2", "--amp", "bf16", "--val-clips", "0", "--save-every", "2",
        "--no-progress", "--threads", "1", "--device", "cpu"]))
    (results / f"generator{rank}").write_text(str(code))


def test_paper_presets_under_two_process_gloo_ddp(workspace, tmp_path):
    import torch.multiprocessing as mp

    tokenizer_out = workspace / "paper-tok"
    mp.spawn(_tokenizer_worker, args=(2, free_port(), workspace, tokenizer_out, tmp_path), nprocs=2, join=True)
    assert (tmp_path / "tokenizer0").read_text() == (tmp_path / "tokenizer1").read_text()  # replicas identical
    config = json.loads((tokenizer_out / "tokenizer" / "config.json").read_text())
    assert (config["width"], config["code_dim"], config["attention"], config["dropout"]) == (512, 512, True, 0.1)
    checkpoint = torch.load(tokenizer_out / "checkpoint.pt", weights_only=True)
    assert checkpoint["step"] == 2 and len(checkpoint["rng"]) == 2
    # Per-rank seeds: the ranks drew the same number of random numbers (same crop shapes) from different streams.
    assert not torch.equal(checkpoint["rng"][0]["torch"], checkpoint["rng"][1]["torch"])

    generator_out = tmp_path / "paper-gen"
    mp.spawn(_generator_worker, args=(2, free_port(), workspace, generator_out, tmp_path), nprocs=2, join=True)
    assert [(tmp_path / f"generator{r}").read_text() for r in range(2)] == ["0", "0"]
    checkpoint = torch.load(generator_out / "checkpoint.pt", weights_only=True)
    assert checkpoint["step"] == 2 and checkpoint["config"]["n_layer"] == 16 and checkpoint["config"]["n_embd"] == 768
    from moscale.pipeline import MoScalePipeline

    pipe = MoScalePipeline.from_pretrained(generator_out / "release", device="cpu")
    motion = pipe.generate("a person does motion 1", frames=48, seed=0)
    assert np.isfinite(motion.joints).all()
