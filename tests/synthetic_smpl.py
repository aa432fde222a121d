"""A tiny body model in the SMPL file format, made here (no licensed data): 24 joints on the built-in character's
T-pose, a ring of vertices at every joint and two along every bone, skinned to the bone and its neighbours.

Arrays as in SMPL's files: v_template (V, 3), shapedirs (V, 3, 10; beta 0 scales the body by 5% per unit),
posedirs (V, 3, 207; zeros, so smplx's skinning is the pure linear blend Blender's armature does), J_regressor
(24, V; each joint the mean of its ring), weights (V, 24), kintree_table (2, 24; SMPL's tree, root parent 2^32-1),
f (F, 3) uint32. ``hands=True`` gives the SMPL-H layout instead: 52 joints, 15 finger joints per hand (5 chains of
3 off each wrist) replacing SMPL's two hand joints, posedirs (V, 3, 459), no hand PCA arrays.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from moscale.motion.amass import canonical_rest

SMPL_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
RING = 8


def _skeleton(hands: bool) -> tuple[tuple[int, ...], np.ndarray]:
    """(parents, rest joints) of the SMPL (24) or SMPL-H (52) layout, model frame."""
    body = canonical_rest()
    if not hands:
        return SMPL_PARENTS, np.concatenate([body, body[[20]] + [0.08, 0.0, 0.0], body[[21]] + [-0.08, 0.0, 0.0]])
    parents, joints = list(SMPL_PARENTS[:22]), list(body)
    for wrist, side in ((20, 1.0), (21, -1.0)):
        for finger in range(5):
            parent = wrist
            for segment in range(3):
                parents.append(parent)
                joints.append(body[wrist] + [side * (0.05 + 0.025 * segment), 0.0, 0.02 * (finger - 2)])
                parent = len(parents) - 1
    return tuple(parents), np.asarray(joints)


def _ring(center: np.ndarray, direction: np.ndarray, radius: float) -> np.ndarray:
    direction = direction / np.linalg.norm(direction)
    helper = np.array([0.0, 0.0, 1.0]) if abs(direction[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    side = np.cross(direction, helper)
    side /= np.linalg.norm(side)
    up = np.cross(side, direction)
    angles = np.linspace(0.0, 2.0 * np.pi, RING, endpoint=False)
    return center + radius * (np.cos(angles)[:, None] * side + np.sin(angles)[:, None] * up)


def synthetic_smpl_arrays(seed: int = 0, hands: bool = False) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    parents, joints = _skeleton(hands)
    rings, weights, faces = [], [], []
    joint_ring = {}

    def add_ring(points: np.ndarray, influence: list[tuple[int, float]]) -> int:
        row = np.zeros(len(parents))
        for joint, weight in influence:
            row[joint] += weight
        rings.append(points)
        weights.append(np.repeat(row[None], RING, axis=0))
        return len(rings) - 1

    def connect(a: int, b: int) -> None:
        for i in range(RING):
            j = (i + 1) % RING
            faces.append((a * RING + i, a * RING + j, b * RING + j))
            faces.append((a * RING + i, b * RING + j, b * RING + i))

    joint_ring[0] = add_ring(_ring(joints[0], np.array([0.0, 1.0, 0.0]), 0.1), [(0, 1.0)])
    for joint in range(1, len(parents)):
        parent = parents[joint]
        grand = parents[parent] if parent > 0 else parent
        bone = joints[joint] - joints[parent]
        quarter = add_ring(_ring(joints[parent] + 0.25 * bone, bone, 0.05), [(grand, 0.3), (parent, 0.7)])
        middle = add_ring(_ring(joints[parent] + 0.5 * bone, bone, 0.05), [(parent, 1.0)])
        joint_ring[joint] = add_ring(_ring(joints[joint], bone, 0.04), [(parent, 0.5), (joint, 0.5)])
        connect(quarter, middle)
        connect(middle, joint_ring[joint])
    v_template = np.concatenate(rings)
    regressor = np.zeros((len(parents), len(v_template)))
    for joint, ring in joint_ring.items():
        regressor[joint, ring * RING:(ring + 1) * RING] = 1.0 / RING
    shapedirs = rng.normal(scale=0.004, size=(len(v_template), 3, 10))
    shapedirs[:, :, 0] = 0.05 * v_template
    kintree = np.array([[2**32 - 1] + list(parents[1:]), list(range(len(parents)))], dtype=np.uint32)
    pose_basis = 9 * (len(parents) - 1)
    return {"v_template": v_template, "shapedirs": shapedirs, "posedirs": np.zeros((len(v_template), 3, pose_basis)),
            "J_regressor": regressor, "weights": np.concatenate(weights), "kintree_table": kintree,
            "f": np.asarray(faces, dtype=np.uint32)}


def write_synthetic_smpl(folder: Path, gender: str = "NEUTRAL", seed: int = 0, name: str = "",
                         hands: bool = False, **replace) -> Path:
    """Write ``folder/SMPL_<GENDER>.npz`` (or ``folder/name``; arrays overridable by keyword, e.g. to break one) and
    return its path."""
    path = folder / (name or f"SMPL_{gender.upper()}.npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {**synthetic_smpl_arrays(seed, hands), **replace}
    np.savez(path, **arrays)
    return path
