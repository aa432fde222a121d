"""The token transformer: layouts, masks, RoPE, cached steps against the full forward pass, save/load."""
import pytest
import torch

from moscale.model import scales
from moscale.model.transformer import (KVCache, MotionTransformer, TransformerConfig, next_scale_layout, next_token_layout,
                                 rope_cos_sin, scale_positions)

TEXT_DIM, CODE_DIM, CODES = 12, 8, 16


def tiny_config(**overrides) -> TransformerConfig:
    return TransformerConfig(**{**dict(n_layer=2, n_head=2, n_embd=32, num_codes=CODES, code_dim=CODE_DIM,
                                       text_dim=TEXT_DIM, max_latent=13, num_queries=2), **overrides})


def random_model(config: TransformerConfig, seed: int = 0) -> MotionTransformer:
    """Untrained, with every weight random (AdaLN-Zero would otherwise switch the attention off)."""
    torch.manual_seed(seed)
    model = MotionTransformer(config).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0, 0.2)
    return model


def text_batch(B: int, S: int = 5, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    text_BSD = torch.randn(B, S, TEXT_DIM, generator=generator)
    mask_BS = torch.ones(B, S, dtype=torch.bool)
    mask_BS[1:, S - 2:] = False
    return text_BSD, mask_BS


def test_presets():
    paper, small = TransformerConfig.paper(), TransformerConfig.small()
    assert (paper.n_layer, paper.n_embd, paper.n_head) == (16, 768, 8)
    assert (small.n_layer, small.n_embd) == (4, 256)
    assert TransformerConfig.from_dict(paper.to_dict()) == paper
    with torch.device("meta"):
        assert 100e6 < MotionTransformer(paper).num_parameters() < 250e6
    with pytest.raises(ValueError, match="unknown transformer config keys"):
        TransformerConfig.from_dict({**small.to_dict(), "bogus": 1})
    with pytest.raises(ValueError, match="preset"):
        TransformerConfig.preset("huge")


@pytest.mark.parametrize("latents", [[49], [49, 30, 7], [13, 1, 2], [8, 9]])
def test_next_scale_layout_shapes(latents):
    latent_B = torch.tensor(latents)
    layout = next_scale_layout(latent_B, scales.SCALE_FACTORS)
    lengths = scales.token_lengths(max(latents))
    assert layout.lengths == lengths
    L = sum(lengths)
    assert layout.valid_BL.shape == layout.pos_BL.shape == (len(latents), L)
    for b, n in enumerate(latents):
        assert int(layout.valid_BL[b].sum()) == scales.total_tokens(n)
        begin, _ = scales.begin_end(lengths)[-1]
        torch.testing.assert_close(layout.pos_BL[b, begin:begin + n], torch.arange(n, dtype=torch.float32))
        if b == 0 and n == max(latents):
            torch.testing.assert_close(layout.pos_BL[b], scales.token_positions(n))
    mask = layout.attention_mask()
    assert mask.shape == (len(latents), 1, L, L)
    full = scales.block_causal_mask(lengths)
    assert torch.equal(mask[0, 0] | ~layout.valid_BL[0][None, :], full | ~layout.valid_BL[0][None, :])
    assert not (mask[:, 0] & ~layout.valid_BL[:, None, :]).any()  # padding is never a key
    assert mask[:, 0].any(dim=-1).all()  # every row has a key: no NaN rows
    cos, sin = rope_cos_sin(layout.pos_BL, 16, 1000.0)
    assert cos.shape == sin.shape == (len(latents), 1, L, 16)


def test_next_token_layout():
    layout = next_token_layout(torch.tensor([5, 3]), num_queries=2)
    assert layout.lengths == (2, 5) and layout.valid_BL.sum(1).tolist() == [7, 5]
    assert layout.pos_BL[0].tolist() == [-2, -1, 0, 1, 2, 3, 4]
    mask = layout.attention_mask()[:, 0]
    assert not mask[0].triu(1).any()


def test_rope_is_relative():
    """Scores depend on position differences only."""
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)
    from moscale.model.transformer import apply_rope

    def score(pq, pk):
        cq, sq = rope_cos_sin(torch.tensor([[pq]]), 8, 100.0)
        ck, sk = rope_cos_sin(torch.tensor([[pk]]), 8, 100.0)
        return float((apply_rope(q, cq, sq) * apply_rope(k, ck, sk)).sum())

    assert score(3.5, 1.0) == pytest.approx(score(12.5, 10.0), abs=1e-5)


def forward_inputs(config, latents, seed=0):
    generator = torch.Generator().manual_seed(seed)
    layout = next_scale_layout(torch.tensor(latents), config.factors)
    L = sum(layout.lengths)
    tokens_BL = torch.randint(0, CODES + 1, (len(latents), L), generator=generator)
    fhat_BLC = torch.randn(len(latents), L, CODE_DIM, generator=generator)
    return layout, tokens_BL, fhat_BLC


def test_cached_steps_equal_full_forward():
    config = tiny_config()
    model = random_model(config)
    latents = [13, 9, 5, 2]
    layout, tokens_BL, fhat_BLC = forward_inputs(config, latents)
    text_BSD, mask_BS = text_batch(len(latents))
    with torch.no_grad():
        full_BLV = model(tokens_BL, fhat_BLC, layout, text_BSD, mask_BS)
        for b, n in enumerate(latents):
            ctx, cache = model.context(text_BSD[b:b + 1], mask_BS[b:b + 1]), KVCache(config.n_layer)
            for k, ((begin, _), count) in enumerate(zip(scales.begin_end(layout.lengths),
                                                        scales.token_lengths(n, config.factors))):
                rows = slice(begin, begin + count)
                for _ in range(2):  # a refinement pass re-runs the scale against the same cache
                    logits = model.step(ctx, cache, tokens_BL[b:b + 1, rows], fhat_BLC[b:b + 1, rows], k,
                                        scale_positions(n, count)[None], torch.ones(1, count, dtype=torch.bool),
                                        n_query_slots=count if k == 0 else 0)
                cache.commit()
                assert (logits - full_BLV[b:b + 1, rows]).abs().max() <= 1e-5


def test_padding_does_not_change_a_sample():
    config = tiny_config()
    model = random_model(config)
    layout, tokens_BL, fhat_BLC = forward_inputs(config, [13, 6])
    text_BSD, mask_BS = text_batch(2)
    with torch.no_grad():
        batch_BLV = model(tokens_BL, fhat_BLC, layout, text_BSD, mask_BS)
        alone_layout = next_scale_layout(torch.tensor([6]), config.factors)
        keep = layout.valid_BL[1]
        alone_BLV = model(tokens_BL[1:, keep], fhat_BLC[1:, keep], alone_layout, text_BSD[1:, :3], mask_BS[1:, :3])
    assert (batch_BLV[1, keep] - alone_BLV[0]).abs().max() <= 1e-5


def test_next_token_cached_equals_full():
    config = tiny_config(mode="next-token", num_queries=3)
    model = random_model(config)
    n = 7
    tokens_BN = torch.randint(0, CODES, (1, n))
    text_BSD, mask_BS = text_batch(1)
    layout = next_token_layout(torch.tensor([n]), config.num_queries)
    with torch.no_grad():
        full_BLV = model(tokens_BN, None, layout, text_BSD, mask_BS)
        assert full_BLV.shape == (1, 3 + n, CODES + 1)
        ctx, cache = model.context(text_BSD, mask_BS), KVCache(config.n_layer)
        Q = config.num_queries
        prefix = model.step(ctx, cache, torch.full((1, Q), model.mask_id), None, 0, torch.arange(-Q, 0.)[None],
                            torch.ones(1, Q, dtype=torch.bool), n_query_slots=Q, causal=True)
        cache.commit()
        assert (prefix - full_BLV[:, :Q]).abs().max() <= 1e-5
        for i in range(n):
            logits = model.step(ctx, cache, tokens_BN[:, i:i + 1], None, 1, torch.tensor([[float(i)]]),
                                torch.ones(1, 1, dtype=torch.bool), causal=True)
            cache.commit()
            assert (logits[:, 0] - full_BLV[:, Q + i]).abs().max() <= 1e-5


def test_text_dropout_uses_the_learned_unconditional_embedding():
    config = tiny_config()
    model = random_model(config)
    layout, tokens_BL, fhat_BLC = forward_inputs(config, [13, 13])
    text_BSD, mask_BS = text_batch(2)
    other_BSD = torch.randn_like(text_BSD)
    drop_B = torch.tensor([True, False])
    with torch.no_grad():
        a = model(tokens_BL, fhat_BLC, layout, text_BSD, mask_BS, drop_B)
        b = model(tokens_BL, fhat_BLC, layout, other_BSD, mask_BS, drop_B)
    assert torch.equal(a[0], b[0]) and not torch.allclose(a[1], b[1])


def test_gradients_reach_every_parameter():
    config = tiny_config()
    model = random_model(config).train()
    layout, tokens_BL, fhat_BLC = forward_inputs(config, [13, 5])
    text_BSD, mask_BS = text_batch(2)
    model(tokens_BL, fhat_BLC, layout, text_BSD, mask_BS, torch.tensor([False, False])).sum().backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []


def test_save_load_identical(tmp_path):
    config = tiny_config()
    model = random_model(config)
    model.save_pretrained(tmp_path / "g.safetensors")
    loaded = MotionTransformer.from_pretrained(tmp_path / "g.safetensors")
    assert loaded.config == config
    layout, tokens_BL, fhat_BLC = forward_inputs(config, [13, 4])
    text_BSD, mask_BS = text_batch(2)
    with torch.no_grad():
        assert torch.equal(model(tokens_BL, fhat_BLC, layout, text_BSD, mask_BS),
                           loaded(tokens_BL, fhat_BLC, layout, text_BSD, mask_BS))


def test_precomputed_modulation_equals_per_pass():
    """The AdaLN modulation computed once per prompt (Context.modulation) gives the logits of recomputing it in every
    block on every pass, for the full forward pass and for cached steps."""
    config = tiny_config()
    model = random_model(config)
    layout, tokens_BL, fhat_BLC = forward_inputs(config, [13, 6])
    text_BSD, mask_BS = text_batch(2)
    with torch.no_grad():
        x_BLD_inputs = (tokens_BL, fhat_BLC, layout.level_L, layout.lengths[0])
        for precompute in (True, False):
            ctx = model.context(text_BSD, mask_BS, precompute=precompute)
            assert (ctx.modulation is not None) == precompute
        with_ctx = model.context(text_BSD, mask_BS)
        without_ctx = model.context(text_BSD, mask_BS, precompute=False)
        x_BLD = model.embed(with_ctx, *x_BLD_inputs)
        mask = layout.attention_mask()
        a = model.run(x_BLD, layout.pos_BL, mask, with_ctx)
        b = model.run(x_BLD, layout.pos_BL, mask, without_ctx)
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(model(tokens_BL, fhat_BLC, layout, text_BSD, mask_BS), b, atol=1e-6, rtol=1e-6)
        count = layout.lengths[0]
        steps = [model.step(ctx, KVCache(config.n_layer), tokens_BL[:, :count], fhat_BLC[:, :count], 0,
                            layout.pos_BL[:, :count], layout.valid_BL[:, :count], n_query_slots=count)
                 for ctx in (with_ctx, without_ctx)]
        torch.testing.assert_close(steps[0], steps[1], atol=1e-6, rtol=1e-6)


def test_modulation_is_computed_once_per_generate():
    """Sampling with the 18-pass schedule runs each block's AdaLN linear once (per prompt), not once per pass."""
    from moscale.model.sampling import SamplingOptions, sample_next_scale
    from moscale.model.tokenizer import MotionTokenizer, TokenizerConfig

    config = tiny_config()
    model = random_model(config)
    torch.manual_seed(0)
    tokenizer = MotionTokenizer(TokenizerConfig(width=16, depth=1, codebook_size=CODES, code_dim=CODE_DIM)).eval()
    calls = []
    hooks = [module.register_forward_hook(lambda *_: calls.append(1))
             for module in [*(block.ada for block in model.blocks), model.ada_out]]
    text_BSD, mask_BS = text_batch(1)
    sample_next_scale(model, tokenizer, text_BSD, mask_BS, 52, SamplingOptions(schedule=(1, 2, 5, 10)),
                      torch.Generator().manual_seed(0))
    for hook in hooks:
        hook.remove()
    assert len(calls) == config.n_layer + 1
