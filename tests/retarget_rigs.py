"""Test rigs built from plain arrays (no Blender): a Mixamo-like armature with other proportions than SMPL.

Shared by tests/test_retarget.py, tests/blender/ and benchmarks/retarget.py.
"""
from __future__ import annotations

import numpy as np

from moscale.motion.retarget import to_z_up

MIXAMO_NAMES = (
    "Hips", "LeftUpLeg", "RightUpLeg", "Spine", "LeftLeg", "RightLeg", "Spine1", "LeftFoot", "RightFoot", "Spine2",
    "LeftToeBase", "RightToeBase", "Neck", "LeftShoulder", "RightShoulder", "Head", "LeftArm", "RightArm",
    "LeftForeArm", "RightForeArm", "LeftHand", "RightHand",
)
_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
_TAIL_CHILD = {0: 3, 1: 4, 2: 5, 3: 6, 4: 7, 5: 8, 6: 9, 7: 10, 8: 11, 9: 12, 12: 15, 13: 16, 14: 17, 16: 18, 17: 19, 18: 20, 19: 21}
# Unmapped leaf bones a real Mixamo export carries: (name, parent joint, offset from the parent's head, Y up, metres)
_EXTRA = (
    ("HeadTop_End", 15, (0.0, 0.18, 0.0)),
    ("LeftToe_End", 10, (0.0, 0.0, 0.05)),
    ("RightToe_End", 11, (0.0, 0.0, 0.05)),
    ("LeftHandIndex1", 20, (0.07, -0.07, 0.02)),
    ("RightHandIndex1", 21, (-0.07, -0.07, 0.02)),
)


def mixamo_like_joints() -> np.ndarray:
    """(22, 3) rest joints, metres, Y up, facing +Z: an A-pose with longer legs and spine, wider hips, no SMPL geometry."""
    s45 = np.sqrt(0.5)
    offsets = {
        1: (0.095, -0.06, 0.01), 2: (-0.095, -0.06, 0.01), 3: (0.0, 0.11, -0.01),
        4: (0.0, -0.46, 0.01), 5: (0.0, -0.46, 0.01), 6: (0.0, 0.13, 0.0), 7: (0.0, -0.44, -0.02), 8: (0.0, -0.44, -0.02),
        9: (0.0, 0.15, 0.01), 10: (0.0, -0.08, 0.13), 11: (0.0, -0.08, 0.13), 12: (0.0, 0.17, 0.02),
        13: (0.06, 0.11, 0.0), 14: (-0.06, 0.11, 0.0), 15: (0.0, 0.10, 0.02),
        16: (0.13, 0.0, 0.0), 17: (-0.13, 0.0, 0.0), 18: (0.27 * s45, -0.27 * s45, 0.0), 19: (-0.27 * s45, -0.27 * s45, 0.0),
        20: (0.25 * s45, -0.25 * s45, 0.0), 21: (-0.25 * s45, -0.25 * s45, 0.0),
    }
    joints = np.zeros((22, 3))
    for joint, parent in enumerate(_PARENTS):
        if parent >= 0:
            joints[joint] = joints[parent] + offsets[joint]
    joints[:, 1] -= joints[:, 1].min() - 0.02
    return joints


def mixamo_like_bones(prefix: str = "mixamorig:", seed: int = 0, units: float = 100.0):
    """(names, parents, heads, tails, rolls) of a Mixamo-like armature, Z up, in ``units`` per metre, random rolls."""
    joints = mixamo_like_joints()
    heads = list(joints)
    tails = [joints[_TAIL_CHILD[j]] if j in _TAIL_CHILD else None for j in range(22)]
    names = [prefix + name for name in MIXAMO_NAMES]
    parents = list(_PARENTS)
    for name, parent, offset in _EXTRA:
        head = joints[parent] + np.asarray(offset)
        if tails[parent] is None:
            tails[parent] = head
        names.append(prefix + name)
        parents.append(parent)
        heads.append(head)
        tails.append(head + np.asarray(offset) * 0.5)
    heads_z = to_z_up(np.array(heads)) * units
    tails_z = to_z_up(np.array(tails)) * units
    rolls = np.random.default_rng(seed).uniform(-np.pi, np.pi, len(names))
    return names, parents, heads_z, tails_z, rolls
