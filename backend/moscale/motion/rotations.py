"""Rotation helpers on numpy arrays (float64 inside).

Quaternions are (..., 4) arrays ordered (w, x, y, z) and act on column vectors: ``rotate(q, v) = q v q*``.
Rotation matrices are (..., 3, 3); the 6D representation is the first two matrix columns concatenated,
``[m00, m10, m20, m01, m11, m21]`` (HumanML3D's cont6d convention).
"""
from __future__ import annotations

import numpy as np

_EPS = 1e-12


def _f64(array: np.ndarray) -> np.ndarray:
    return np.asarray(array, dtype=np.float64)


def identity(shape: tuple[int, ...] = ()) -> np.ndarray:
    """(*shape, 4) identity quaternions."""
    quats = np.zeros(tuple(shape) + (4,))
    quats[..., 0] = 1.0
    return quats


def normalize(quats: np.ndarray) -> np.ndarray:
    """(..., 4) -> (..., 4) unit quaternions."""
    quats = _f64(quats)
    return quats / np.maximum(np.linalg.norm(quats, axis=-1, keepdims=True), _EPS)


def multiply(q1: np.ndarray, q2: np.ndarray) -> np.ndarray:
    """Hamilton product (..., 4) x (..., 4) -> (..., 4); ``rotate(multiply(a, b), v) == rotate(a, rotate(b, v))``."""
    q1, q2 = np.broadcast_arrays(_f64(q1), _f64(q2))
    w1, x1, y1, z1 = np.moveaxis(q1, -1, 0)
    w2, x2, y2, z2 = np.moveaxis(q2, -1, 0)
    return np.stack(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ],
        axis=-1,
    )


def conjugate(quats: np.ndarray) -> np.ndarray:
    """(..., 4) -> (..., 4); the inverse of a unit quaternion."""
    return _f64(quats) * np.array([1.0, -1.0, -1.0, -1.0])


def inverse(quats: np.ndarray) -> np.ndarray:
    """(..., 4) -> (..., 4) inverse (works for non-unit quaternions too)."""
    quats = _f64(quats)
    return conjugate(quats) / np.maximum((quats**2).sum(-1, keepdims=True), _EPS)


def rotate(quats: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Rotate (..., 3) vectors by unit (..., 4) quaternions (broadcasting) -> (..., 3)."""
    quats, vectors = _f64(quats), _f64(vectors)
    w, xyz = quats[..., :1], quats[..., 1:]
    # v' = v + 2w (u x v) + 2 u x (u x v), the expanded form of q v q*
    uv = np.cross(xyz, vectors)
    return vectors + 2.0 * (w * uv + np.cross(xyz, uv))


def between(v_from: np.ndarray, v_to: np.ndarray) -> np.ndarray:
    """Shortest-arc unit quaternion (..., 4) rotating direction ``v_from`` (..., 3) onto ``v_to`` (..., 3).

    Same formula as HumanML3D's ``qbetween`` (w >= 0). For opposite vectors it returns a 180-degree
    rotation about an axis perpendicular to ``v_from``.
    """
    v_from, v_to = np.broadcast_arrays(_f64(v_from), _f64(v_to))
    xyz = np.cross(v_from, v_to)
    w = np.linalg.norm(v_from, axis=-1) * np.linalg.norm(v_to, axis=-1) + (v_from * v_to).sum(-1)
    quats = np.concatenate([w[..., None], xyz], axis=-1)
    degenerate = np.linalg.norm(quats, axis=-1) < 1e-9 * np.maximum(np.linalg.norm(v_from, axis=-1) ** 2, _EPS)
    if np.any(degenerate):
        axis = np.cross(v_from[degenerate], [1.0, 0.0, 0.0])
        small = np.linalg.norm(axis, axis=-1) < 1e-6 * np.linalg.norm(v_from[degenerate], axis=-1)
        axis[small] = np.cross(v_from[degenerate][small], [0.0, 1.0, 0.0])
        quats[degenerate] = np.concatenate([np.zeros(axis.shape[:-1] + (1,)), axis], axis=-1)
    return normalize(quats)


def to_matrix(quats: np.ndarray) -> np.ndarray:
    """(..., 4) unit quaternions -> (..., 3, 3) rotation matrices."""
    w, x, y, z = np.moveaxis(normalize(quats), -1, 0)
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    return np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)


def from_matrix(matrices: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions with w >= 0 (numerically stable branch choice)."""
    m = _f64(matrices)
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    # four candidate solutions, each well conditioned when its leading component is largest
    candidates = np.stack(
        [
            np.stack([1 + m00 + m11 + m22, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1),
            np.stack([m[..., 2, 1] - m[..., 1, 2], 1 + m00 - m11 - m22, m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0]], -1),
            np.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0], 1 - m00 + m11 - m22, m[..., 1, 2] + m[..., 2, 1]], -1),
            np.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1], 1 - m00 - m11 + m22], -1),
        ],
        axis=-2,
    )  # (..., 4 candidates, 4)
    best = np.argmax(np.stack([m00 + m11 + m22, m00, m11, m22], -1), axis=-1)
    quats = np.take_along_axis(candidates, best[..., None, None], axis=-2)[..., 0, :]
    quats = normalize(quats)
    return np.where(quats[..., :1] < 0, -quats, quats)


def from_axis_angle(axis_angle: np.ndarray) -> np.ndarray:
    """(..., 3) rotation vectors (axis * angle in radians) -> (..., 4) unit quaternions."""
    axis_angle = _f64(axis_angle)
    angle = np.linalg.norm(axis_angle, axis=-1, keepdims=True)
    half = 0.5 * angle
    # sin(half)/angle, with its Taylor series near zero
    scale = np.where(angle > 1e-8, np.sin(half) / np.maximum(angle, 1e-300), 0.5 - angle**2 / 48.0)
    return np.concatenate([np.cos(half), axis_angle * scale], axis=-1)


def to_axis_angle(quats: np.ndarray) -> np.ndarray:
    """(..., 4) unit quaternions -> (..., 3) rotation vectors with angle in [0, pi]."""
    quats = normalize(quats)
    quats = np.where(quats[..., :1] < 0, -quats, quats)
    sin_half = np.linalg.norm(quats[..., 1:], axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(sin_half, quats[..., :1])
    scale = np.where(sin_half > 1e-8, angle / np.maximum(sin_half, 1e-300), 2.0 + angle**2 / 12.0)
    return quats[..., 1:] * scale


def matrix_to_6d(matrices: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 6): first two columns, [col0, col1]."""
    matrices = _f64(matrices)
    return np.concatenate([matrices[..., :, 0], matrices[..., :, 1]], axis=-1)


def matrix_from_6d(cont6d: np.ndarray) -> np.ndarray:
    """(..., 6) -> (..., 3, 3) via Gram-Schmidt on the two columns (Zhou et al. 2019)."""
    cont6d = _f64(cont6d)
    col0 = cont6d[..., :3] / np.maximum(np.linalg.norm(cont6d[..., :3], axis=-1, keepdims=True), _EPS)
    col1 = cont6d[..., 3:] - (col0 * cont6d[..., 3:]).sum(-1, keepdims=True) * col0
    col1 = col1 / np.maximum(np.linalg.norm(col1, axis=-1, keepdims=True), _EPS)
    col2 = np.cross(col0, col1)
    return np.stack([col0, col1, col2], axis=-1)


def quat_to_6d(quats: np.ndarray) -> np.ndarray:
    """(..., 4) -> (..., 6) continuous 6D rotation."""
    return matrix_to_6d(to_matrix(quats))


def quat_from_6d(cont6d: np.ndarray) -> np.ndarray:
    """(..., 6) -> (..., 4) unit quaternions (w >= 0)."""
    return from_matrix(matrix_from_6d(cont6d))


def make_continuous(quats_T: np.ndarray, axis: int = 0) -> np.ndarray:
    """Flip signs along ``axis`` (time) so consecutive quaternions have a non-negative dot product.

    Shape (T, ..., 4) by default; returns a new array, the rotations are unchanged.
    """
    quats = np.moveaxis(_f64(quats_T).copy(), axis, 0)
    if len(quats) > 1:
        dots = (quats[1:] * quats[:-1]).sum(-1)
        flips = np.cumsum(dots < 0, axis=0) % 2 == 1
        quats[1:][flips] *= -1.0
    return np.moveaxis(quats, 0, axis)


def slerp(q0: np.ndarray, q1: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """Spherical interpolation (..., 4), (..., 4), t in [0, 1] (broadcast to (...)) -> (..., 4), shortest path."""
    q0, q1 = normalize(q0), normalize(q1)
    t = np.asarray(t, dtype=np.float64)[..., None]
    dot = (q0 * q1).sum(-1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)
    dot = np.clip(np.abs(dot), -1.0, 1.0)
    theta = np.arccos(dot)
    sin_theta = np.sin(theta)
    near = sin_theta < 1e-6
    w0 = np.where(near, 1.0 - t, np.sin((1.0 - t) * theta) / np.where(near, 1.0, sin_theta))
    w1 = np.where(near, t, np.sin(t * theta) / np.where(near, 1.0, sin_theta))
    return normalize(w0 * q0 + w1 * q1)


def best_fit_rotation(source_N3: np.ndarray, target_N3: np.ndarray, weights_N: np.ndarray | None = None) -> np.ndarray:
    """Kabsch: the rotation R (as (..., 4) quaternion) minimising sum_i w_i |R s_i - t_i|^2.

    ``source``/``target`` are (..., N, 3) vector sets (not re-centred: these are directions from one point).
    """
    source, target = _f64(source_N3), _f64(target_N3)
    if weights_N is not None:
        source = source * _f64(weights_N)[..., None]
    covariance = np.swapaxes(target, -1, -2) @ source  # (..., 3, 3) = sum t s^T
    u, _, vt = np.linalg.svd(covariance)
    det = np.linalg.det(u @ vt)
    fix = np.ones(det.shape + (3,))
    fix[..., 2] = np.sign(det + (det == 0))
    return from_matrix(u @ (fix[..., None] * vt))


def y_rotation(angle: np.ndarray | float) -> np.ndarray:
    """(...,) angles in radians about +Y -> (..., 4) quaternions."""
    half = 0.5 * np.asarray(angle, dtype=np.float64)
    zeros = np.zeros_like(half)
    return np.stack([np.cos(half), zeros, np.sin(half), zeros], axis=-1)


# Euler angles (BVH channels): angles[..., i] about axis order[i], applied as R0 @ R1 @ R2
AXIS_INDEX = {"X": 0, "Y": 1, "Z": 2}
GIMBAL_EPS = 1e-9


def parse_order(order: str) -> tuple[int, int, int]:
    axes = tuple(AXIS_INDEX.get(letter) for letter in order.upper())
    if len(axes) != 3 or None in axes or len(set(axes)) != 3:
        raise ValueError(f"Euler order must be a permutation of 'XYZ', got {order!r}")
    return axes  # type: ignore[return-value]


def axis_rotation(axis: int, angles_rad: np.ndarray) -> np.ndarray:
    """(...,) angles about one coordinate axis -> (..., 3, 3)."""
    cos, sin = np.cos(angles_rad), np.sin(angles_rad)
    j, k = (axis + 1) % 3, (axis + 2) % 3
    matrices = np.zeros(np.shape(angles_rad) + (3, 3))
    matrices[..., axis, axis] = 1.0
    matrices[..., j, j] = cos
    matrices[..., k, k] = cos
    matrices[..., j, k] = -sin
    matrices[..., k, j] = sin
    return matrices


def euler_to_matrix(angles_deg: np.ndarray, order: str) -> np.ndarray:
    """(..., 3) angles in degrees, ``angles[..., i]`` about axis ``order[i]`` -> (..., 3, 3) = R0 @ R1 @ R2."""
    angles = np.radians(np.asarray(angles_deg, dtype=np.float64))
    if angles.shape[-1:] != (3,):
        raise ValueError(f"expected (..., 3) angles, got shape {angles.shape}")
    a, b, c = parse_order(order)
    return axis_rotation(a, angles[..., 0]) @ axis_rotation(b, angles[..., 1]) @ axis_rotation(c, angles[..., 2])


def matrix_to_euler(matrices: np.ndarray, order: str) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 3) degrees such that ``euler_to_matrix(result, order) == matrices``.

    The middle angle lies in [-90, 90]. At gimbal lock (middle angle +-90 degrees) the third angle is set to 0 and
    the first one absorbs the whole rotation, so the result still reproduces the matrix.
    """
    m = np.asarray(matrices, dtype=np.float64)
    i, j, k = parse_order(order)
    sign = 1.0 if (j - i) % 3 == 1 else -1.0  # even permutations (XYZ, YZX, ZXY) vs odd ones
    cos_middle = np.hypot(m[..., i, i], m[..., i, j])
    middle = np.arctan2(sign * m[..., i, k], cos_middle)
    first = np.arctan2(-sign * m[..., j, k], m[..., k, k])
    third = np.arctan2(-sign * m[..., i, j], m[..., i, i])
    locked = cos_middle < GIMBAL_EPS
    if np.any(locked):
        first = np.where(locked, np.arctan2(sign * m[..., k, j], m[..., j, j]), first)
        third = np.where(locked, 0.0, third)
    return np.degrees(np.stack([first, middle, third], axis=-1))
