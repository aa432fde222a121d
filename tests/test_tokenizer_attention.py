"""The tokenizer's optional attention blocks (the paper preset's): padding-independent, trained, saved, and off in
configs that predate them."""
from __future__ import annotations

import json

import pytest
import torch

from moscale.model.codec import AttentionBlock
from moscale.model.tokenizer import MotionTokenizer, TokenizerConfig
from test_tokenizer import assert_padding_never_changes

TINY_ATTN = TokenizerConfig(width=32, depth=1, codebook_size=32, code_dim=16, reset_buffer_size=256, attention=True,
                            attention_heads=4, dropout=0.1)


def smooth_batch(lengths: list[int], seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(len(lengths), max(lengths), 263, generator=generator).cumsum(1) / 8
    for b, t in enumerate(lengths):
        features[b, t:] = 0
    return features, torch.tensor(lengths)


@pytest.fixture
def model() -> MotionTokenizer:
    torch.manual_seed(0)
    tokenizer = MotionTokenizer(TINY_ATTN).train()
    features, lengths = smooth_batch([64, 48, 40, 64])
    for _ in range(2):
        tokenizer(features, lengths)  # initialises the codebook
    return tokenizer.eval()


def test_paper_preset_has_the_attention_blocks_and_dropout():
    paper = TokenizerConfig.paper()
    assert paper.attention and paper.attention_heads == 8 and paper.dropout == 0.1
    assert not TokenizerConfig.small().attention  # the bundled model's architecture is unchanged
    with torch.device("meta"):
        blocks = [m for m in MotionTokenizer(paper).modules() if isinstance(m, AttentionBlock)]
    assert len(blocks) == 2 * paper.num_downsamples  # one per resolution, encoder and decoder
    old = {k: v for k, v in TokenizerConfig.small().to_dict().items() if k not in ("attention", "attention_heads",
                                                                                     "dropout")}
    assert not TokenizerConfig.from_dict(old).attention  # a config saved before the option loads as trained


def test_attention_sees_the_whole_clip():
    """A change at one end of a clip reaches the latent at the other end, beyond the conv stacks' receptive field."""
    torch.manual_seed(0)
    features, lengths = smooth_batch([196])
    for attention in (False, True):
        config = TokenizerConfig(width=32, depth=1, codebook_size=32, code_dim=16, attention=attention,
                                 attention_heads=4)
        tokenizer = MotionTokenizer(config).eval()
        changed = features.clone()
        changed[0, -8:] += 1.0
        with torch.no_grad():
            delta = (tokenizer.encode_latent(changed, lengths) - tokenizer.encode_latent(features, lengths))[0, 0]
        assert (delta.abs().max() > 1e-6) == attention


def test_padding_never_changes_a_clip_with_attention(model):
    assert_padding_never_changes(model, *smooth_batch([64, 42, 13], seed=3))


def test_dropout_only_in_training_and_gradients_reach_the_blocks(model):
    features, lengths = smooth_batch([64, 40])
    with torch.no_grad():
        assert torch.equal(model.encode_latent(features, lengths), model.encode_latent(features, lengths))
    model.train()
    torch.manual_seed(1)
    a = model.encode_latent(features, lengths)
    torch.manual_seed(2)
    b = model.encode_latent(features, lengths)
    assert not torch.allclose(a, b)  # dropout is active
    _, _, losses = model(features, lengths)
    losses["total"].backward()
    for name, parameter in model.named_parameters():
        if ".attention." in name:
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_save_load_keeps_the_attention_blocks(model, tmp_path):
    model.save_pretrained(tmp_path / "tok")
    loaded = MotionTokenizer.from_pretrained(tmp_path / "tok")
    assert loaded.config == TINY_ATTN
    assert json.loads((tmp_path / "tok" / "config.json").read_text())["attention"] is True
    features, lengths = smooth_batch([64, 40])
    for a, b in zip(model.encode(features, lengths), loaded.encode(features, lengths)):
        assert torch.equal(a, b)
