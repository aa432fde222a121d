"""Text-to-motion metrics on evaluator embeddings (the protocol of Guo et al. 2022, used by every HumanML3D table).

All functions take NumPy arrays (or anything `np.asarray` accepts) and compute in float64:

- `frechet_distance` / `fid`: Fréchet distance between Gaussian fits of two embedding sets,
  |mu1 - mu2|^2 + Tr(C1 + C2 - 2 (C1 C2)^1/2). The trace of the matrix square root is computed from symmetric
  eigendecompositions only (Tr (C1 C2)^1/2 = Tr (C1^1/2 C2 C1^1/2)^1/2), which is stable for the rank-deficient
  covariances of small test sets, needs no SciPy and never produces complex numbers.
- `r_precision`: top-1/2/3 retrieval accuracy in shuffled batches of 32 matched (text, motion) pairs, Euclidean.
- `matching_distance` (MM-Dist): mean Euclidean distance between each text and its motion.
- `diversity`: mean distance between 300 random pairs of motions.
- `multimodality`: mean distance between random pairs of motions generated for the same text.
- `mean_ci95` / `summarize`: mean and 95% confidence half-width (1.96 std / sqrt(n)) over repeats.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import numpy as np

CI95_Z = 1.96
R_PRECISION_BATCH = 32
DIVERSITY_PAIRS = 300
MULTIMODALITY_PAIRS = 10


def _matrix(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a (N, D) array of embeddings, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds non-finite values")
    return array


# ---------------------------------------------------------------------------------------------------------------------
# Fréchet distance


def gaussian_statistics(embeddings_ND) -> tuple[np.ndarray, np.ndarray]:
    """(mean (D,), covariance (D, D)) with the unbiased (N - 1) normalisation, as numpy.cov."""
    embeddings_ND = _matrix(embeddings_ND, "embeddings")
    if len(embeddings_ND) < 2:
        raise ValueError(f"need at least 2 embeddings for a covariance, got {len(embeddings_ND)}")
    mean_D = embeddings_ND.mean(axis=0)
    centred_ND = embeddings_ND - mean_D
    return mean_D, centred_ND.T @ centred_ND / (len(embeddings_ND) - 1)


def _psd_sqrt(matrix_DD: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (negative round-off eigenvalues clipped to 0)."""
    eigenvalues, vectors = np.linalg.eigh((matrix_DD + matrix_DD.T) / 2)
    return (vectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ vectors.T


def trace_sqrt_product(cov1_DD, cov2_DD) -> float:
    """Tr((C1 C2)^1/2) for PSD C1, C2: C1 C2 is similar to C1^1/2 C2 C1^1/2, which is symmetric PSD."""
    root1 = _psd_sqrt(np.asarray(cov1_DD, dtype=np.float64))
    middle = root1 @ np.asarray(cov2_DD, dtype=np.float64) @ root1
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
    return float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())


def frechet_distance(mean1_D, cov1_DD, mean2_D, cov2_DD) -> float:
    """Fréchet (2-Wasserstein squared) distance between N(mean1, cov1) and N(mean2, cov2); never negative."""
    mean1_D, mean2_D = np.atleast_1d(np.asarray(mean1_D, np.float64)), np.atleast_1d(np.asarray(mean2_D, np.float64))
    cov1_DD, cov2_DD = np.atleast_2d(np.asarray(cov1_DD, np.float64)), np.atleast_2d(np.asarray(cov2_DD, np.float64))
    if mean1_D.shape != mean2_D.shape or cov1_DD.shape != cov2_DD.shape or cov1_DD.shape != mean1_D.shape * 2:
        raise ValueError(f"mismatched statistics: means {mean1_D.shape} {mean2_D.shape}, "
                         f"covariances {cov1_DD.shape} {cov2_DD.shape}")
    difference = mean1_D - mean2_D
    value = difference @ difference + np.trace(cov1_DD) + np.trace(cov2_DD) - 2 * trace_sqrt_product(cov1_DD, cov2_DD)
    return max(float(value), 0.0)


def fid(embeddings1_ND, embeddings2_MD=None, *, reference: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """FID between two embedding sets, or between one set and precomputed `reference=(mean, cov)` statistics."""
    if (embeddings2_MD is None) == (reference is None):
        raise ValueError("give either a second embedding set or reference statistics")
    mean2, cov2 = reference if reference is not None else gaussian_statistics(embeddings2_MD)
    return frechet_distance(*gaussian_statistics(embeddings1_ND), mean2, cov2)


# ---------------------------------------------------------------------------------------------------------------------
# retrieval and distances


def euclidean_distance_matrix(a_ND, b_MD) -> np.ndarray:
    """(N, M) Euclidean distances between the rows of a and b."""
    a_ND, b_MD = _matrix(a_ND, "a"), _matrix(b_MD, "b")
    squared = (a_ND**2).sum(1)[:, None] - 2 * a_ND @ b_MD.T + (b_MD**2).sum(1)[None, :]
    return np.sqrt(np.clip(squared, 0.0, None))


def retrieval_ranks(query_ND, gallery_ND) -> np.ndarray:
    """0-based rank of gallery[i] among all gallery rows for query[i], by Euclidean distance (ties: lower index
    first, like a stable argsort)."""
    distances_NN = euclidean_distance_matrix(query_ND, gallery_ND)
    order_NN = np.argsort(distances_NN, axis=1, kind="stable")
    return np.argmax(order_NN == np.arange(len(order_NN))[:, None], axis=1)


def r_precision(text_ND, motion_ND, *, top_k: int = 3, batch_size: int = R_PRECISION_BATCH,
                rng: np.random.Generator | None = None, query: str = "text") -> np.ndarray:
    """Top-1..top_k R-precision (fractions, shape (top_k,)) of matched pairs (text[i], motion[i]).

    The pairs are shuffled (when `rng` is given) and cut into batches of `batch_size`; a last, smaller batch is dropped
    (it would make retrieval easier), unless it is the only one. Within a batch, `query="text"` ranks the batch's
    motions by their distance to each text (what Guo et al.'s evaluation code computes, hence the published numbers);
    `query="motion"` ranks the texts for each motion (the wording of their paper). Both are the same 32-way task."""
    text_ND, motion_ND = _matrix(text_ND, "text embeddings"), _matrix(motion_ND, "motion embeddings")
    if text_ND.shape != motion_ND.shape:
        raise ValueError(f"text {text_ND.shape} and motion {motion_ND.shape} embeddings must be paired row by row")
    if query not in ("text", "motion"):
        raise ValueError(f"query must be 'text' or 'motion', got {query!r}")
    count = len(text_ND)
    order = rng.permutation(count) if rng is not None else np.arange(count)
    full = count // batch_size * batch_size
    batches = [order[s:s + batch_size] for s in range(0, full, batch_size)] or [order]
    hits = np.zeros(top_k)
    scored = 0
    for rows in batches:
        queries, gallery = (text_ND[rows], motion_ND[rows]) if query == "text" else (motion_ND[rows], text_ND[rows])
        ranks = retrieval_ranks(queries, gallery)
        hits += [(ranks < k).sum() for k in range(1, top_k + 1)]
        scored += len(rows)
    return hits / scored


def matching_distance(text_ND, motion_ND) -> float:
    """MM-Dist: mean Euclidean distance between text[i] and motion[i]."""
    text_ND, motion_ND = _matrix(text_ND, "text embeddings"), _matrix(motion_ND, "motion embeddings")
    if text_ND.shape != motion_ND.shape:
        raise ValueError(f"text {text_ND.shape} and motion {motion_ND.shape} embeddings must be paired row by row")
    return float(np.linalg.norm(text_ND - motion_ND, axis=1).mean())


def diversity(embeddings_ND, pairs: int = DIVERSITY_PAIRS, rng: np.random.Generator | None = None) -> float:
    """Mean distance between `pairs` random pairs: two independent draws of indices, each without replacement when
    the set is large enough (Guo et al.), with replacement otherwise."""
    embeddings_ND = _matrix(embeddings_ND, "embeddings")
    count = len(embeddings_ND)
    if count < 2:
        raise ValueError(f"diversity needs at least 2 embeddings, got {count}")
    rng = rng or np.random.default_rng(0)
    replace = count < pairs
    first = rng.choice(count, pairs, replace=replace)
    second = rng.choice(count, pairs, replace=replace)
    return float(np.linalg.norm(embeddings_ND[first] - embeddings_ND[second], axis=1).mean())


def multimodality(embeddings_NKD, pairs: int = MULTIMODALITY_PAIRS, rng: np.random.Generator | None = None) -> float:
    """Mean distance between `pairs` random pairs of different motions generated for the same text.

    embeddings_NKD: N texts x K >= 2 generations x D. The two members of a pair are always different generations
    (with K = 10 generations and 10 pairs, independent draws would often pair a motion with itself)."""
    embeddings_NKD = np.asarray(embeddings_NKD, dtype=np.float64)
    if embeddings_NKD.ndim != 3 or embeddings_NKD.shape[1] < 2:
        raise ValueError(f"expected (texts, generations >= 2, dim) embeddings, got shape {embeddings_NKD.shape}")
    rng = rng or np.random.default_rng(0)
    count, per_text = embeddings_NKD.shape[:2]
    first_NP = np.stack([rng.choice(per_text, pairs, replace=per_text < pairs) for _ in range(count)])
    second_NP = (first_NP + rng.integers(1, per_text, size=first_NP.shape)) % per_text
    rows = np.arange(count)[:, None]
    return float(np.linalg.norm(embeddings_NKD[rows, first_NP] - embeddings_NKD[rows, second_NP], axis=-1).mean())


# ---------------------------------------------------------------------------------------------------------------------
# one repeat, and summaries over repeats


def repeat_metrics(text_ND, motion_ND, reference: tuple[np.ndarray, np.ndarray], rng: np.random.Generator, *,
                   query: str = "text", diversity_pairs: int = DIVERSITY_PAIRS) -> dict[str, float]:
    """The per-repeat metrics of one (texts, motions) set against reference motion statistics (mean, cov)."""
    top = r_precision(text_ND, motion_ND, top_k=3, rng=rng, query=query)
    return {
        "top1": float(top[0]), "top2": float(top[1]), "top3": float(top[2]),
        "fid": fid(motion_ND, reference=reference),
        "mm_dist": matching_distance(text_ND, motion_ND),
        "diversity": diversity(motion_ND, diversity_pairs, rng),
    }


def mean_ci95(values: Iterable[float]) -> tuple[float, float]:
    """(mean, 95% confidence half-width = 1.96 std / sqrt(n)), std with the 1/n normalisation of the published
    evaluation scripts; the half-width of a single value is 0."""
    array = np.asarray(list(values), dtype=np.float64)
    if array.size == 0:
        raise ValueError("no values to summarise")
    return float(array.mean()), float(CI95_Z * array.std() / math.sqrt(array.size))


def summarize(repeats: Sequence[Mapping[str, float | None]]) -> dict[str, dict]:
    """{metric: {"mean", "ci95", "values"}} over a list of per-repeat metric dicts (None values are skipped)."""
    names: list[str] = []
    for row in repeats:
        names += [name for name in row if name not in names]
    summary = {}
    for name in names:
        values = [float(row[name]) for row in repeats if row.get(name) is not None]
        if values:
            mean, half = mean_ci95(values)
            summary[name] = {"mean": mean, "ci95": half, "values": values}
    return summary


def format_mean_ci(entry: Mapping[str, float] | None, digits: int = 3) -> str:
    """'0.512 ± 0.004' (or '-' when missing)."""
    if not entry:
        return "-"
    return f"{entry['mean']:.{digits}f} ± {entry['ci95']:.{digits}f}"
