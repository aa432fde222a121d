"""The frozen text encoder and the caption cache."""
import warnings

import pytest
import torch

from moscale.model.text import (TextCache, TextEncoder, build_text_cache, check_prompts, load_or_build_text_cache,
                          masked_mean, resolve_encoder_path, save_random_encoder)


@pytest.fixture(scope="module")
def minilm():
    return TextEncoder.load("all-MiniLM-L6-v2", max_tokens=24)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    return TextEncoder.load(str(save_random_encoder(tmp_path_factory.mktemp("bert"), "bert")), max_tokens=16)


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t"])
def test_empty_prompt_is_rejected(prompt):
    with pytest.raises(ValueError, match="empty or only whitespace"):
        check_prompts([prompt])


def test_prompts_are_normalised():
    assert check_prompts("  a person   walks\n") == ["a person walks"]
    with pytest.raises(ValueError, match="no prompt"):
        check_prompts([])


def test_unknown_encoder_names_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        resolve_encoder_path(str(tmp_path / "nowhere"))


def test_minilm_shapes_mask_and_mean_pooling(minilm):
    assert minilm.config.dim == 384
    tokens_BSD, mask_BS, pooled_BD = minilm.encode(["a person walks forward", "a man jumps twice and waves"])
    assert tokens_BSD.shape[0] == 2 and tokens_BSD.shape[2] == 384 and tokens_BSD.shape[1] <= 24
    assert mask_BS.dtype == torch.bool and mask_BS[:, 0].all()
    torch.testing.assert_close(pooled_BD, masked_mean(tokens_BSD, mask_BS))
    # Padding does not change a prompt's encoding.
    alone_BSD, alone_mask, alone_pooled = minilm.encode(["a person walks forward"])
    n = int(alone_mask.sum())
    torch.testing.assert_close(tokens_BSD[0, :n], alone_BSD[0, :n], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(pooled_BD[0], alone_pooled[0], atol=1e-5, rtol=1e-5)
    # Similar prompts are closer than unrelated ones (the real weights are loaded).
    _, _, p = minilm.encode(["a person walks forward", "someone walks ahead", "the stock market fell today"])
    cos = torch.nn.functional.cosine_similarity
    assert cos(p[0], p[1], dim=0) > cos(p[0], p[2], dim=0) + 0.2


def test_overlong_prompt_is_truncated_with_a_warning(minilm):
    with pytest.warns(UserWarning, match="keeps the first 24"):
        tokens_BSD, mask_BS, _ = minilm.encode(["a person walks " * 20])
    assert tokens_BSD.shape[1] == 24 and bool(mask_BS.all())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        minilm.encode(["a short prompt"])


def test_empty_prompt_rejected_by_encoder(minilm):
    with pytest.raises(ValueError, match="prompt 1 is empty"):
        minilm.encode(["fine", "  "])


def test_t5_encoder_by_path(tmp_path):
    encoder = TextEncoder.load(str(save_random_encoder(tmp_path / "t5", "t5", dim=24)), max_tokens=12)
    tokens_BSD, mask_BS, pooled_BD = encoder.encode(["a person walks", "jump"])
    assert encoder.config.dim == 24 and tokens_BSD.shape[-1] == 24 and pooled_BD.shape == (2, 24)
    assert type(encoder.model).__name__ == "T5EncoderModel"


def test_encoder_stays_frozen(tiny_bert):
    tiny_bert.train()
    assert not tiny_bert.model.training
    assert not any(p.requires_grad for p in tiny_bert.parameters())


def test_cache_round_trip_matches_direct_encoding(tiny_bert, tmp_path):
    captions = ["a person walks", "a person  walks", "someone jumps high", "a person waves"]
    cache = build_text_cache(tiny_bert, captions)
    assert len(cache) == 3  # whitespace variants are one caption
    cache.save(tmp_path / "cache.safetensors")
    loaded = TextCache.load(tmp_path / "cache.safetensors")
    assert loaded.encoder == tiny_bert.config
    tokens_BSD, mask_BS, pooled_BD = loaded.lookup(["someone jumps high", "a person walks"])
    direct_BSD, direct_mask, direct_pooled = tiny_bert.encode(["someone jumps high", "a person walks"])
    assert torch.equal(mask_BS, direct_mask)
    torch.testing.assert_close(tokens_BSD[mask_BS], direct_BSD[direct_mask], atol=2e-3, rtol=2e-3)  # fp16 storage
    torch.testing.assert_close(pooled_BD, direct_pooled, atol=1e-5, rtol=1e-5)
    with pytest.raises(KeyError, match="not in the text cache"):
        loaded.lookup(["never seen"])


def test_load_or_build_reuses_a_complete_cache(tiny_bert, tmp_path):
    path = tmp_path / "cache.safetensors"
    first = load_or_build_text_cache(path, tiny_bert.config, ["a", "b c"], tiny_bert)
    stamp = path.stat().st_mtime_ns
    again = load_or_build_text_cache(path, tiny_bert.config, ["b c"], tiny_bert)
    assert path.stat().st_mtime_ns == stamp and again.captions == first.captions
    grown = load_or_build_text_cache(path, tiny_bert.config, ["a", "d"], tiny_bert)
    assert "d" in grown
