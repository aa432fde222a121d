"""Metric functions on synthetic embeddings with known answers."""
import math

import numpy as np
import pytest

from moscale.evaluation import metrics


def rng(seed=0):
    return np.random.default_rng(seed)


# --- Fréchet distance


def test_identical_sets_have_zero_fid():
    x = rng().normal(size=(500, 16))
    assert metrics.fid(x, x.copy()) == pytest.approx(0.0, abs=1e-9)


def test_rank_deficient_sets_fewer_samples_than_dims():
    x = rng(1).normal(size=(40, 64))
    assert metrics.fid(x, x) == pytest.approx(0.0, abs=1e-8)
    value = metrics.fid(x, rng(2).normal(size=(40, 64)) + 0.5)
    assert math.isfinite(value) and value > 0


def test_shifted_unit_gaussians_give_squared_mean_distance():
    mu = np.array([1.0, -2.0, 0.5, 0.0])
    identity = np.eye(4)
    assert metrics.frechet_distance(np.zeros(4), identity, mu, identity) == pytest.approx(float(mu @ mu), rel=1e-12)


def test_diagonal_covariances_have_closed_form():
    a, b = np.array([1.0, 4.0, 0.25, 9.0]), np.array([4.0, 1.0, 0.25, 1.0])
    mu = np.array([0.0, 1.0, 0.0, -1.0])
    expected = mu @ mu + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert metrics.frechet_distance(np.zeros(4), np.diag(a), mu, np.diag(b)) == pytest.approx(expected, rel=1e-10)


def test_full_covariances_match_eigenvalues_of_the_product():
    generator = rng(3)
    m1, m2 = generator.normal(size=(6, 6)), generator.normal(size=(6, 6))
    c1, c2 = m1 @ m1.T + 0.1 * np.eye(6), m2 @ m2.T
    # C1 C2 is not symmetric, but its eigenvalues are real and non-negative: Tr sqrt(C1 C2) = sum sqrt(eig).
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvals(c1 @ c2).real, 0, None)).sum()
    assert metrics.trace_sqrt_product(c1, c2) == pytest.approx(trace_sqrt, rel=1e-8)
    expected = np.trace(c1) + np.trace(c2) - 2 * trace_sqrt
    assert metrics.frechet_distance(np.zeros(6), c1, np.zeros(6), c2) == pytest.approx(expected, rel=1e-8)
    assert metrics.frechet_distance(np.zeros(6), c1, np.zeros(6), c2) == pytest.approx(
        metrics.frechet_distance(np.zeros(6), c2, np.zeros(6), c1), rel=1e-8)


def test_fid_from_samples_approaches_the_analytic_value():
    generator = rng(4)
    mu = np.array([0.6, 0.0, -0.8])
    a = generator.normal(size=(50_000, 3))
    b = generator.normal(size=(50_000, 3)) * np.array([1.0, 2.0, 1.0]) + mu
    expected = mu @ mu + (np.sqrt(1.0) - np.sqrt(4.0)) ** 2
    assert metrics.fid(a, b) == pytest.approx(expected, abs=0.05)
    reference = metrics.gaussian_statistics(b)
    assert metrics.fid(a, reference=reference) == pytest.approx(metrics.fid(a, b), rel=1e-12)


def test_fid_rejects_bad_input():
    with pytest.raises(ValueError, match="either"):
        metrics.fid(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="non-finite"):
        metrics.fid(np.full((3, 2), np.nan), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="mismatched"):
        metrics.frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


# --- retrieval and distances


def test_distance_matrix_matches_brute_force():
    a, b = rng(5).normal(size=(7, 5)), rng(6).normal(size=(4, 5))
    brute = np.linalg.norm(a[:, None] - b[None], axis=-1)
    np.testing.assert_allclose(metrics.euclidean_distance_matrix(a, b), brute, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("query", ["text", "motion"])
def test_matched_pairs_have_perfect_r_precision(query):
    embeddings = rng(7).normal(size=(96, 8)) * 10
    noisy = embeddings + rng(8).normal(size=embeddings.shape) * 0.01
    top = metrics.r_precision(embeddings, noisy, rng=rng(9), query=query)
    np.testing.assert_array_equal(top, [1.0, 1.0, 1.0])
    assert metrics.matching_distance(embeddings, embeddings) == 0.0


def test_r_precision_counts_ranks():
    # Texts on a line at 0, 10, 20; pair distances |text_i - motion_i| = 3, 8, 8. Motion 1 is nearer to text 0 than
    # motion 0, motion 2 nearer to text 1 than motion 1; text 2's own motion is its nearest.
    text = np.array([[0.0], [10.0], [20.0]])
    motion = np.array([[-3.0], [2.0], [12.0]])
    ranks = metrics.retrieval_ranks(text, motion)
    np.testing.assert_array_equal(ranks, [1, 1, 0])
    np.testing.assert_allclose(metrics.r_precision(text, motion, batch_size=3), [1 / 3, 1.0, 1.0])
    # Ranking texts for each motion instead: motion 0 (-3) is nearest to text 0 (rank 0); motion 1 (2) to text 0
    # (rank 1); motion 2 (12) to text 1 (rank 1).
    np.testing.assert_allclose(metrics.r_precision(text, motion, batch_size=3, query="motion"), [1 / 3, 1, 1])


def test_r_precision_drops_the_short_last_batch():
    good = rng(10).normal(size=(64, 4)) * 10
    # 6 extra pairs whose texts are far from their motions; without shuffling they form the dropped remainder.
    bad_text, bad_motion = rng(11).normal(size=(6, 4)), rng(12).normal(size=(6, 4)) + 100
    top = metrics.r_precision(np.vstack([good, bad_text]), np.vstack([good, bad_motion]), batch_size=32)
    np.testing.assert_array_equal(top, [1.0, 1.0, 1.0])
    # A set smaller than one batch is scored as one batch.
    assert metrics.r_precision(good[:10], good[:10])[0] == 1.0


def test_diversity_of_known_sets():
    assert metrics.diversity(np.ones((400, 3)), rng=rng()) == 0.0
    # A regular simplex: every two different points are sqrt(2) apart.
    simplex = np.eye(1000)
    value = metrics.diversity(simplex, pairs=300, rng=rng(13))
    assert math.sqrt(2) * 0.98 <= value <= math.sqrt(2) + 1e-12
    # Two clusters 5 apart, 100 points each (fewer points than pairs: drawn with replacement).
    two = np.vstack([np.zeros((100, 2)), np.tile([3.0, 4.0], (100, 1))])
    assert metrics.diversity(two, pairs=300, rng=rng(14)) == pytest.approx(2.5, abs=0.5)
    assert metrics.diversity(two, rng=rng(1)) == metrics.diversity(two, rng=rng(1))


def test_multimodality_pairs_different_generations():
    texts, generations = 20, 2
    base = rng(15).normal(size=(texts, 1, 6))
    offsets = np.zeros((1, generations, 6))
    offsets[0, 1, 0] = 2.5  # the two generations of every text are 2.5 apart
    assert metrics.multimodality(base + offsets, pairs=10, rng=rng()) == pytest.approx(2.5)
    ten = rng(16).normal(size=(5, 10, 3))
    assert metrics.multimodality(ten, pairs=10, rng=rng()) > 0
    with pytest.raises(ValueError, match="generations >= 2"):
        metrics.multimodality(np.zeros((4, 1, 3)))


# --- summaries


def test_confidence_interval():
    mean, half = metrics.mean_ci95([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5
    assert half == pytest.approx(1.96 * math.sqrt(1.25) / 2)
    assert metrics.mean_ci95([0.7]) == (0.7, 0.0)
    with pytest.raises(ValueError):
        metrics.mean_ci95([])


def test_summarize_and_format():
    summary = metrics.summarize([{"fid": 1.0, "mm": None}, {"fid": 3.0, "mm": None}])
    assert set(summary) == {"fid"}
    assert summary["fid"]["mean"] == 2.0 and summary["fid"]["values"] == [1.0, 3.0]
    assert metrics.format_mean_ci(summary["fid"]) == f"2.000 ± {1.96 * 1.0 / math.sqrt(2):.3f}"
    assert metrics.format_mean_ci(None) == "-"


def test_repeat_metrics_keys():
    text = rng(17).normal(size=(64, 8))
    row = metrics.repeat_metrics(text, text, metrics.gaussian_statistics(text), rng())
    assert set(row) == {"top1", "top2", "top3", "fid", "mm_dist", "diversity"}
    assert row["top1"] == 1.0 and row["fid"] == pytest.approx(0.0, abs=1e-8) and row["mm_dist"] == 0.0
