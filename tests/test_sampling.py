"""Sampling: cached mask-predict equals a full forward pass, guidance, seeds, cancel/progress, long clips."""
import threading

import pytest
import torch

from moscale.model import scales
from moscale.model.sampling import (Cancelled, SamplingOptions, Trace, continuation_constraint, crossfade, filter_logits,
                              generate_features, masked_count, resolve_schedule, sample_next_scale, sample_next_token,
                              window_plan)
from moscale.model.tokenizer import MotionTokenizer, TokenizerConfig
from moscale.model.transformer import MotionTransformer, TransformerConfig, next_scale_layout

TEXT_DIM, CODES, CODE_DIM = 12, 16, 8


@pytest.fixture(scope="module")
def tokenizer():
    torch.manual_seed(0)
    model = MotionTokenizer(TokenizerConfig(width=16, depth=1, codebook_size=CODES, code_dim=CODE_DIM)).eval()
    model.quantizer.codebook.normal_()
    return model


def random_model(mode="next-scale", seed=0, **overrides) -> MotionTransformer:
    torch.manual_seed(seed)
    config = TransformerConfig(**{**dict(n_layer=2, n_head=2, n_embd=32, num_codes=CODES, code_dim=CODE_DIM,
                                         text_dim=TEXT_DIM, max_latent=13, num_queries=2, mode=mode), **overrides})
    model = MotionTransformer(config).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0, 0.2)
    return model


@pytest.fixture(scope="module")
def model():
    return random_model()


def text(B=1):
    generator = torch.Generator().manual_seed(5)
    return torch.randn(B, 4, TEXT_DIM, generator=generator), torch.ones(B, 4, dtype=torch.bool)


def seeded(seed):
    return torch.Generator().manual_seed(seed)


def test_filter_logits_top_k_and_top_p():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isinf(filter_logits(logits, 1.0, 2, None)[0, 2:]).all()
    kept = ~torch.isinf(filter_logits(logits, 1.0, None, 0.7))
    assert kept.tolist() == [[True, True, False, False]]  # 0.5 < 0.7, 0.5 + 0.3 crosses it
    assert (~torch.isinf(filter_logits(logits, 1.0, None, 0.4))).sum() == 1  # the top token always stays


def test_schedules():
    assert resolve_schedule("fast", 4) == (1, 1, 1, 1)
    assert resolve_schedule("best", 4) == (1, 2, 5, 10)
    assert resolve_schedule("1,2,3,4", 4) == (1, 2, 3, 4)
    with pytest.raises(ValueError, match="4 positive pass counts"):
        resolve_schedule((1, 2), 4)
    with pytest.raises(ValueError, match="fast"):
        resolve_schedule("slow", 4)
    counts = [masked_count(10, step, 4) for step in range(5)]
    assert counts[0] == 10 and counts[-1] == 0 and counts == sorted(counts, reverse=True)


def test_options_guidance_per_scale():
    options = SamplingOptions(guidance=5.0)
    assert [options.guidance_at(k) for k in range(4)] == [5.0, 4.75, 4.5, 4.25]
    assert SamplingOptions(guidance=0.2).guidance_at(3) == 0.0


@pytest.mark.parametrize("frames", [52, 37, 4])
@pytest.mark.parametrize("schedule", [(1, 1, 1, 1), (1, 2, 5, 10)])
@pytest.mark.parametrize("prefix", ["final", "mask"])
def test_cached_sampling_equals_full_forward(model, tokenizer, frames, schedule, prefix):
    """The logits of every scale's last pass (KV cache, CFG batch) equal a full block-causal forward pass whose
    earlier scales hold their final tokens (prefix "final", what TR training shows) or their last pass's inputs."""
    trace = Trace()
    text_BSD, mask_BS = text(2)
    indices, f_hat = sample_next_scale(model, tokenizer, text_BSD, mask_BS, frames,
                                       SamplingOptions(schedule=schedule, guidance=3.0, prefix=prefix), seeded(0),
                                       trace=trace)
    n = scales.latent_length(frames)
    assert [tuple(i.shape) for i in indices] == [(2, c) for c in scales.token_lengths(n)]
    assert all(int(i.max()) < CODES for i in indices)  # no MASK left
    layout = next_scale_layout(torch.tensor([n, n]), model.config.factors)
    fhat_BLC = torch.cat([torch.zeros(2, layout.lengths[0], CODE_DIM)] + trace.fhat_inputs[1:], dim=1)
    earlier = indices if prefix == "final" else trace.inputs
    for k, (begin, end) in enumerate(scales.begin_end(layout.lengths)):
        tokens_BL = torch.cat(earlier[:k] + [trace.inputs[k]] + indices[k + 1:], 1)  # later scales cannot matter
        with torch.no_grad():
            full_BLV = model(tokens_BL, fhat_BLC, layout, text_BSD, mask_BS)
        assert (full_BLV[:, begin:end] - trace.logits[k]).abs().max() <= 1e-5, f"scale {k}"
    if len(schedule) > 1 and max(schedule) == 1 and len(indices) > 1:  # fast: the two states really differ
        assert not torch.equal(trace.inputs[0], indices[0])
    # f_hat is what the tokenizer accumulates from the sampled indices
    torch.testing.assert_close(f_hat, _accumulate(tokenizer, indices, frames))


def _accumulate(tokenizer, indices, frames):
    lengths_B = torch.full((indices[0].shape[0],), frames)
    f_hat = tokenizer.init_f_hat(lengths_B)
    for k, idx in enumerate(indices):
        f_hat = tokenizer.accumulate(f_hat, idx, k, lengths_B)
    return f_hat


def test_guidance_zero_equals_conditional_sampling(model, tokenizer):
    text_BSD, mask_BS = text(3)
    options = SamplingOptions(schedule=(1, 2, 2, 3), guidance=0.0)
    plain, _ = sample_next_scale(model, tokenizer, text_BSD, mask_BS, 52, options, seeded(4))
    batched, _ = sample_next_scale(model, tokenizer, text_BSD, mask_BS, 52, options, seeded(4), force_cfg=True)
    assert all(torch.equal(a, b) for a, b in zip(plain, batched))
    guided, _ = sample_next_scale(model, tokenizer, text_BSD, mask_BS, 52,
                                  SamplingOptions(schedule=(1, 2, 2, 3), guidance=4.0), seeded(4))
    assert not all(torch.equal(a, b) for a, b in zip(plain, guided))


def test_seeds(model, tokenizer):
    text_BSD, mask_BS = text(1)
    options = SamplingOptions(schedule=(1, 2, 2, 2), temperature=1.5, top_p=None)
    a = generate_features(model, tokenizer, text_BSD, mask_BS, 52, options, seeded(1))
    b = generate_features(model, tokenizer, text_BSD, mask_BS, 52, options, seeded(1))
    c = generate_features(model, tokenizer, text_BSD, mask_BS, 52, options, seeded(2))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_progress_and_cancel(model, tokenizer):
    text_BSD, mask_BS = text(1)
    calls = []
    generate_features(model, tokenizer, text_BSD, mask_BS, 52, SamplingOptions(schedule=(1, 2, 5, 10)), seeded(0),
                      progress=lambda done, total, what: calls.append((done, total)))
    assert calls == [(i, 18) for i in range(1, 19)]
    event = threading.Event()
    event.set()
    with pytest.raises(Cancelled):
        generate_features(model, tokenizer, text_BSD, mask_BS, 52, SamplingOptions(), seeded(0), cancel=event)
    passes = []

    def cancel_after_three():
        return len(passes) >= 3

    with pytest.raises(Cancelled):
        generate_features(model, tokenizer, text_BSD, mask_BS, 52, SamplingOptions(schedule=(1, 2, 5, 10)), seeded(0),
                          progress=lambda *a: passes.append(a), cancel=cancel_after_three)
    assert len(passes) == 3


def test_window_plan():
    for frames in (52, 53, 100, 300, 1200):
        plan = window_plan(frames, 52, 12)
        assert plan[0][0] == 0 and plan[-1][1] == frames
        assert all(stop - start <= 52 for start, stop in plan)
        assert all(b[0] <= a[1] - 12 for a, b in zip(plan, plan[1:]))  # overlap of at least 12 frames
        assert all(b[0] > a[0] for a, b in zip(plan, plan[1:]))


def test_crossfade_keeps_ends():
    a, b = torch.zeros(1, 10, 3), torch.ones(1, 8, 3)
    joined = crossfade(a, b, 4)
    assert joined.shape == (1, 14, 3)
    assert torch.equal(joined[:, :6], a[:, :6]) and torch.equal(joined[:, 10:], b[:, 4:])
    assert (joined[0, 6:10, 0].diff() > 0).all()


def test_continuation_locks_the_overlap(model, tokenizer):
    text_BSD, mask_BS = text(1)
    previous = torch.randn(1, 16, 263)
    constraint = continuation_constraint(tokenizer, previous, 52, model.config.factors)
    assert constraint.locked[-1][0, :4].all() and not constraint.locked[-1][0, 4:].any()
    indices, f_hat = sample_next_scale(model, tokenizer, text_BSD, mask_BS, 52, SamplingOptions(schedule=(1, 2, 2, 2)),
                                       seeded(0), constraint=constraint)
    for k in range(4):
        locked = constraint.locked[k]
        assert torch.equal(indices[k][locked], constraint.tokens[k][locked])
    assert torch.equal(f_hat[:, :4], constraint.source_f_hat[-1][:, :4])


def test_long_clip_in_windows(model, tokenizer):
    text_BSD, mask_BS = text(2)
    calls = []
    features = generate_features(model, tokenizer, text_BSD, mask_BS, 130, SamplingOptions(), seeded(0),
                                 progress=lambda done, total, what: calls.append((done, total, what)),
                                 overlap_frames=12)
    assert features.shape == (2, 130, 263) and torch.isfinite(features).all()
    windows = len(window_plan(130, 52, 12))
    assert len(calls) == 4 * windows and calls[-1][:2] == (4 * windows, 4 * windows)


def test_next_token_sampling(tokenizer):
    model = random_model("next-token", num_queries=3)
    text_BSD, mask_BS = text(2)
    calls = []
    (idx,), f_hat = sample_next_token(model, tokenizer, text_BSD, mask_BS, 40, SamplingOptions(), seeded(0),
                                      progress=lambda *a: calls.append(a))
    assert idx.shape == (2, 10) and int(idx.max()) < CODES and len(calls) == 10
    again, _ = sample_next_token(model, tokenizer, text_BSD, mask_BS, 40, SamplingOptions(), seeded(0))
    assert torch.equal(idx, again[0])
    features = generate_features(model, tokenizer, text_BSD, mask_BS, 40, SamplingOptions(), seeded(0))
    assert features.shape == (2, 40, 263)
    with pytest.raises(ValueError, match="at most 52 frames"):
        generate_features(model, tokenizer, text_BSD, mask_BS, 60, SamplingOptions(), seeded(0))


def test_next_token_with_a_single_scale_tokenizer():
    """The fair baseline: a tokenizer trained with one scale (a plain VQ-VAE of the same architecture)."""
    torch.manual_seed(0)
    single = MotionTokenizer(TokenizerConfig(width=16, depth=1, codebook_size=CODES, code_dim=CODE_DIM,
                                             scale_factors=(1,))).eval()
    single.quantizer.codebook.normal_()
    model = random_model("next-token", num_queries=6, factors=(1,))
    text_BSD, mask_BS = text(1)
    features = generate_features(model, single, text_BSD, mask_BS, 50, SamplingOptions(), seeded(0))
    assert features.shape == (1, 50, 263)
