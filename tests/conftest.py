"""Shared pytest setup: tests run offline, on the CPU, from the repo alone."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

FIXTURES = Path(__file__).parent / "fixtures"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def keep_thread_count():
    """For tests whose code sets the process's torch threads (the trainers' --threads 1): give the rest of the
    session its own back."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def one_thread():
    """Module-wide one torch thread, given back after (tiny models and one generation at a time on a shared 2-core
    machine: one thread is several times faster than two)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_pipes(tmp_path_factory):
    """Two tiny random-weight releases (1 and 2 blocks) for the benchmarks' tests: right shapes and costs."""
    import numpy as np

    from moscale.pipeline import MoScalePipeline, save_random_release
    from moscale.model.text import TextEncoder, save_random_encoder
    from moscale.model.tokenizer import TokenizerConfig
    from moscale.model.transformer import TransformerConfig

    root = tmp_path_factory.mktemp("bench")
    encoder = TextEncoder.load(str(save_random_encoder(root / "encoder", "bert", dim=16)), max_tokens=16)
    tokenizer = TokenizerConfig(width=16, depth=1, codebook_size=32, code_dim=8)
    pipes = {}
    for layers in (1, 2):
        transformer = TransformerConfig(n_layer=layers, n_head=2, n_embd=32, num_codes=32, code_dim=8, text_dim=16,
                                        max_latent=13, num_queries=2)
        folder = save_random_release(root / f"l{layers}", transformer, tokenizer, encoder.config,
                                     mean=np.load(FIXTURES / "humanml3d" / "Mean.npy"),
                                     std=np.load(FIXTURES / "humanml3d" / "Std.npy"))
        pipes[layers] = MoScalePipeline.from_pretrained(folder, device="cpu", text_encoder=encoder)
    return pipes
