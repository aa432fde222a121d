"""Scaling up the trainers: gradient accumulation equals one big batch, mixed precision with a gradient scaler,
resume restoring the scaler and the RNG, per-rank seeds, DataLoader workers."""
from __future__ import annotations

import argparse
import copy
import random

import numpy as np
import pytest
import torch

from moscale.data.dataset import collate_motions
from moscale.model.tokenizer import MotionTokenizer, TokenizerConfig
from moscale.train import common
from moscale.train import generator as train_generator
from moscale.train import tokenizer as train_tokenizer
from moscale.train.generator import train_step
from moscale.train.token_batches import LatentMemo, TrainOptions
from moscale.model.transformer import MotionTransformer, TransformerConfig
from training_data import generator_cli, write_random_corpus

pytestmark = pytest.mark.usefixtures("keep_thread_count")

CODES, CODE_DIM, TEXT_DIM = 16, 8, 12


class FixedText:
    """A stand-in text cache: one fixed random state sequence per caption."""

    def __init__(self):
        self.states = {}

    def lookup(self, captions):
        for caption in captions:
            if caption not in self.states:
                self.states[caption] = torch.randn(3, TEXT_DIM, generator=torch.Generator().manual_seed(len(caption)))
        tokens = torch.stack([self.states[c] for c in captions])
        return tokens, torch.ones(len(captions), 3, dtype=torch.bool), tokens.mean(1)


def generator_parts(seed=0):
    torch.manual_seed(seed)
    tokenizer = MotionTokenizer(TokenizerConfig(width=16, depth=1, codebook_size=CODES, code_dim=CODE_DIM)).eval()
    tokenizer.quantizer.codebook.normal_(0, 0.5)
    config = TransformerConfig(n_layer=2, n_head=2, n_embd=32, num_codes=CODES, code_dim=CODE_DIM, text_dim=TEXT_DIM,
                               max_latent=13, num_queries=2)
    model = MotionTransformer(config).train()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "ada" in name:
                parameter.normal_(0, 0.02)  # AdaLN-Zero would hide most of the network from the gradient
    return tokenizer, model


def clips(count, frames=48, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return [dict(features=torch.randn(frames, 263, generator=generator).cumsum(0) / 8, length=frames,
                 caption=f"caption {i % 3}", name=f"clip{i}") for i in range(count)]


def test_accumulated_micro_batches_equal_one_batch():
    """Two micro-batches of 2 give the same update as one batch of 4 (deterministic inputs: no HR/TR, no dropout)."""
    tokenizer, model = generator_parts()
    items = clips(4)
    options = TrainOptions(hierarchical_refinement=False, temporal_refinement=False, text_dropout=0.0)
    results = []
    for batches in ([collate_motions(items)], [collate_motions(items[:2]), collate_motions(items[2:])]):
        replica = copy.deepcopy(model)
        optimizer = torch.optim.SGD(replica.parameters(), lr=0.5)
        scaler = common.grad_scaler(torch.device("cpu"), None)
        stats = train_step(replica, replica, tokenizer, LatentMemo(tokenizer), FixedText(), batches, options,
                           optimizer, scaler, 1e9, torch.device("cpu"))
        results.append((replica, stats))
    (one, one_stats), (accumulated, accumulated_stats) = results
    assert one_stats["loss"] == pytest.approx(accumulated_stats["loss"], rel=1e-5)
    assert one_stats["grad_norm"] == pytest.approx(accumulated_stats["grad_norm"], rel=1e-4)
    moved = 0
    for (name, a), b, start in zip(one.named_parameters(), accumulated.parameters(), model.parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5, msg=name)
        moved += int(not torch.equal(a, start))
    assert moved > 10  # the step really changed the weights


def test_micro_batch_size_and_grouping():
    assert common.micro_batch_size(64, 8, 2) == 4
    with pytest.raises(ValueError, match="does not split"):
        common.micro_batch_size(64, 3, 1)
    with pytest.raises(ValueError, match="at least 1"):
        common.micro_batch_size(64, 1, 0)
    pairs = iter([(0, "a"), (0, "b"), (1, "c"), (1, "d"), (1, "e")])
    groups = common.accumulated(pairs, 2)
    assert next(groups) == (0, ["a", "b"]) and next(groups) == (1, ["c", "d"])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_mixed_precision_step_on_the_cpu(dtype):
    tokenizer, model = generator_parts()
    batch = collate_motions(clips(4))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = common.grad_scaler(torch.device("cpu"), dtype)
    assert scaler.is_enabled() == (dtype == torch.float16)
    seen = []
    hook = model.head.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    before = [p.detach().clone() for p in model.parameters()]
    for _ in range(2):
        stats = train_step(model, model, tokenizer, LatentMemo(tokenizer), FixedText(), batch, TrainOptions(),
                           optimizer, scaler, 2.0, torch.device("cpu"), dtype)
        assert np.isfinite(stats["loss"]) and np.isfinite(stats["grad_norm"])
    hook.remove()
    assert set(seen) == {dtype}
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights stay fp32
    if scaler.is_enabled():
        assert 0 < scaler.get_scale() <= 65536.0


def test_amp_choices():
    cpu = torch.device("cpu")
    assert common.amp_dtype("off", cpu) is None and common.amp_dtype("auto", cpu) is None
    assert common.amp_dtype("bf16", cpu) == torch.bfloat16 and common.amp_dtype("fp16", cpu) == torch.float16
    with pytest.raises(ValueError):
        common.amp_dtype("fp8", cpu)


def test_rng_state_round_trip_survives_weights_only(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    common.save_checkpoint(tmp_path / "c.pt", {"rng": common.rng_state()})
    expected = (random.random(), np.random.rand(), torch.rand(1))
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    common.set_rng_state(common.load_checkpoint(tmp_path / "c.pt")["rng"])
    assert (random.random(), np.random.rand()) == expected[:2] and torch.equal(torch.rand(1), expected[2])
    old_style = {"python": list(random.getstate()[1]), "torch": torch.get_rng_state()}
    common.set_rng_state(old_style)  # checkpoints from before NumPy was kept still load


def test_rank_seeds_differ_and_rank_zero_keeps_the_seed():
    assert common.rank_seed(7, 0) == 7
    assert len({common.rank_seed(7, r) for r in range(8)}) == 8


def test_loader_options():
    assert common.loader_options(0) == {"num_workers": 0, "pin_memory": torch.cuda.is_available()}
    assert common.loader_options(2)["num_workers"] == 2
    with pytest.raises(ValueError):
        common.loader_options(-1)


# ---------------------------------------------------------------------------------------------------------------------
# the command lines: --grad-accum, --amp fp16, --workers, and resume restoring the scaler


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    from moscale.model.text import save_random_encoder

    root = tmp_path_factory.mktemp("scale")
    write_random_corpus(root / "data", 12, (64, 90), val=2, caption=lambda i: f"motion number {i % 4}#x#0.0#0.0")
    tokenizer, _ = generator_parts()
    tokenizer.set_normalization(np.zeros(263), np.full(263, 5.0))
    tokenizer.save_pretrained(root / "tokenizer")
    save_random_encoder(root / "text", "bert", dim=16)
    return root


def generator_args(workspace, out, *extra):
    return generator_cli(workspace, out, *extra, log_every=1, save_every=2, val_clips=0)


def tokenizer_args(workspace, out, *extra):
    parser = argparse.ArgumentParser()
    train_tokenizer.configure_parser(parser)
    config = workspace / "tok_config.json"
    config.write_text(__import__("json").dumps(TokenizerConfig(width=16, depth=1, codebook_size=32, code_dim=8,
                                                               reset_buffer_size=64).to_dict()))
    return parser.parse_args([
        "--data", str(workspace / "data"), "--out", str(out), "--config", str(config), "--batch-size", "4",
        "--crop-frames", "32", "--log-every", "1", "--save-every", "2", "--val-clips", "0", "--no-progress",
        "--threads", "1", "--warmup", "1", *extra])


def _set_saved_scale(path, scale):
    state = torch.load(path, weights_only=True)
    assert state["scaler"]["scale"] == 65536.0  # fp16 runs save their scaler
    state["scaler"]["scale"] = scale
    common.save_checkpoint(path, state)


@pytest.mark.parametrize("trainer", ["generator", "tokenizer"])
def test_cli_accumulates_trains_fp16_and_resumes_the_scaler(workspace, tmp_path, trainer):
    module, make_args = {"generator": (train_generator, generator_args),
                         "tokenizer": (train_tokenizer, tokenizer_args)}[trainer]
    out = tmp_path / trainer
    flags = ["--grad-accum", "2", "--amp", "fp16", "--workers", "1"]
    assert module.run(make_args(workspace, out, "--iters", "2", *flags)) == 0
    checkpoint = out / "checkpoint.pt"
    assert torch.load(checkpoint, weights_only=True)["step"] == 2
    assert "numpy" in torch.load(checkpoint, weights_only=True)["rng"][0]
    _set_saved_scale(checkpoint, 1024.0)
    assert module.run(make_args(workspace, out, "--iters", "3", "--resume", *flags)) == 0
    # Restored, the scale is 1024 (or 512 after an overflow step), not a fresh scaler's 65536.
    assert torch.load(checkpoint, weights_only=True)["scaler"]["scale"] in (512.0, 1024.0)
    rows = (out / "train_log.csv").read_text().splitlines()
    assert len(rows) == 1 + 3  # header, steps 1-3: one row per optimizer step, not per micro-batch


def test_cli_rejects_a_batch_that_does_not_split(workspace, tmp_path):
    with pytest.raises(SystemExit, match="does not split"):
        train_generator.run(generator_args(workspace, tmp_path / "bad", "--iters", "1", "--grad-accum", "3"))
    assert train_tokenizer.run(tokenizer_args(workspace, tmp_path / "bad2", "--iters", "1", "--grad-accum", "3")) == 2
