"""The scale schedule and its pure helpers (moscale.model.scales)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from moscale.model import scales


def test_paper_schedule():
    assert scales.SCALE_FACTORS == (8, 4, 2, 1)
    assert scales.latent_length(196) == 49
    assert scales.token_lengths(49) == (6, 12, 24, 49)
    assert scales.total_tokens(49) == 91
    assert scales.begin_end((6, 12, 24, 49)) == ((0, 6), (6, 18), (18, 42), (42, 91))


@pytest.mark.parametrize(
    "frames, latent, tokens",
    [(40, 10, (1, 2, 5, 10)), (42, 11, (1, 2, 5, 11)), (64, 16, (2, 4, 8, 16)), (1, 1, (1, 1, 1, 1)),
     (7, 2, (1, 1, 1, 2)), (195, 49, (6, 12, 24, 49))],
)
def test_odd_lengths(frames, latent, tokens):
    assert scales.latent_length(frames) == latent  # ceil: every frame lies in a latent step
    assert scales.token_lengths(latent) == tokens  # floor, at least one token


def test_latent_length_rejects_empty_clip():
    with pytest.raises(ValueError):
        scales.latent_length(0)


def test_token_counts_match_per_clip_lengths():
    frames_B = torch.tensor([196, 40, 42, 7, 1])
    counts_BK = scales.token_counts(frames_B)
    for row, frames in zip(counts_BK.tolist(), frames_B.tolist()):
        assert tuple(row) == scales.token_lengths(scales.latent_length(frames))
    assert scales.latent_lengths(frames_B).tolist() == [49, 10, 11, 2, 1]


def test_level_ids_and_block_causal_mask():
    lengths = (1, 2, 3)
    assert scales.level_ids(lengths).tolist() == [0, 1, 1, 2, 2, 2]
    mask = scales.block_causal_mask(lengths)
    expected = torch.tensor([
        [1, 0, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0],
        [1, 1, 1, 0, 0, 0],
        [1, 1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1, 1],
    ], dtype=torch.bool)
    assert torch.equal(mask, expected)


def test_valid_token_mask():
    lengths = scales.token_lengths(16)  # (2, 4, 8, 16), the batch's longest clip
    counts = scales.token_counts(torch.tensor([64, 40]))  # second clip: (1, 2, 5, 10)
    valid = scales.valid_token_mask(counts, lengths)
    assert valid.shape == (2, sum(lengths))
    assert valid[0].all()
    for k, (begin, end) in enumerate(scales.begin_end(lengths)):
        assert valid[1, begin:end].sum() == counts[1, k]
        assert valid[1, begin : begin + int(counts[1, k])].all()


def test_token_positions_on_finest_grid():
    positions = scales.token_positions(49)
    begin, end = scales.begin_end(scales.token_lengths(49))[-1]
    assert torch.allclose(positions[begin:end], torch.arange(49.0))
    assert positions[:6].min() > 0 and positions[:6].max() < 48  # coarse tokens sit inside the clip
    assert positions.shape == (91,)


def test_window_token_mask():
    mask = scales.window_token_mask(16, 4, 12, factor=1)
    assert mask.tolist() == [False] * 4 + [True] * 8 + [False] * 4
    coarse = scales.window_token_mask(16, 4, 12, factor=8)  # 2 tokens of 8 steps, each half inside: not > 0.5
    assert coarse.tolist() == [False, False]
    assert scales.window_token_mask(16, 0, 12, factor=8).tolist() == [True, False]


@pytest.mark.parametrize("n_latent", [1, 2, 7, 10, 11, 16, 49])
def test_operators_match_torch_resampling(n_latent):
    for factor in scales.SCALE_FACTORS:
        n_tokens = scales.token_length(n_latent, factor)
        x = torch.randn(2, 5, n_latent)
        down = scales.area_downsample_matrix(n_latent, n_tokens)
        assert torch.allclose(x @ down.T, F.adaptive_avg_pool1d(x, n_tokens), atol=1e-5)
        z = torch.randn(2, 5, n_tokens)
        up = scales.linear_upsample_matrix(n_tokens, n_latent)
        reference = F.interpolate(z, size=n_latent, mode="linear", align_corners=False)
        assert torch.allclose(z @ up.T, reference, atol=1e-5)
        # Both preserve constants: rows sum to one.
        assert torch.allclose(down.sum(1), torch.ones(n_tokens))
        assert torch.allclose(up.sum(1), torch.ones(n_latent))


def test_batched_operators_equal_per_sample_operators():
    latent_B = torch.tensor([11, 4, 11, 1])
    n_max = 13  # the batch grid may be longer than any clip
    for factor in scales.SCALE_FACTORS:
        down, up = scales.scale_operators(latent_B, factor, n_max)
        n_tokens_max = scales.token_length(n_max, factor)
        assert down.shape == (4, n_tokens_max, n_max) and up.shape == (4, n_max, n_tokens_max)
        x = torch.randn(4, n_max, 3)
        garbage = x.clone()
        for b, n in enumerate(latent_B.tolist()):
            garbage[b, n:] = 1e6  # padding must never reach valid outputs
        tokens = down @ garbage
        for b, n in enumerate(latent_B.tolist()):
            l = scales.token_length(n, factor)
            alone = scales.area_downsample_matrix(n, l) @ x[b, :n]
            assert torch.allclose(tokens[b, :l], alone, atol=1e-5)
            assert (tokens[b, l:] == 0).all()
            back = up[b] @ tokens[b]
            assert torch.allclose(back[:n], scales.linear_upsample_matrix(l, n) @ alone, atol=1e-5)
            assert (back[n:] == 0).all()


def test_scale_operators_reject_lengths_outside_grid():
    with pytest.raises(ValueError):
        scales.scale_operators(torch.tensor([5]), 1, 4)
