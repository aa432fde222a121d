"""The built-in SMPL-22 character's bones (numpy, no Blender): where each edit bone's head, tail and roll go, on a
motion's own proportions (``retarget.smpl_rest_joints``) or a real body's rest joints. The Blender add-on
builds the armature and its mannequin from them."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from moscale.motion.kinematics import unit
from moscale.motion.retarget import AIM_CHILD, BRANCHES, smpl_rest_joints, to_z_up
from moscale.motion.skeleton import JOINT_NAMES, NUM_JOINTS, PARENTS


@dataclass(frozen=True)
class SmplCharacter:
    """Edit-bone data for the built-in SMPL-22 armature (Z up, metres): one bone per joint, named like the joint."""

    names: tuple[str, ...]
    parents: tuple[int, ...]
    heads: np.ndarray    # (22, 3)
    tails: np.ndarray    # (22, 3)
    roll_axes: np.ndarray  # (22, 3) the direction each bone's local Z should face (``EditBone.align_roll``)


def smpl_character(joints_TJ3: np.ndarray | None = None, rest_joints_J3: np.ndarray | None = None) -> SmplCharacter:
    """Bones of the SMPL character: head at its joint, tail at its aimed child (leaves extend their parent).

    The joints are ``rest_joints`` (22, 3; Y up, facing +Z, metres; e.g. a real SMPL body's) when given, else
    ``smpl_rest_joints(joints)``.
    """
    rest = smpl_rest_joints(joints_TJ3) if rest_joints_J3 is None else np.asarray(rest_joints_J3, dtype=np.float64)
    if rest.shape != (NUM_JOINTS, 3) or not np.all(np.isfinite(rest)):
        raise ValueError(f"rest joints must be finite with shape ({NUM_JOINTS}, 3), got {rest.shape}")
    heads = to_z_up(rest)
    tails = np.empty_like(heads)
    leaf_lengths = {10: 0.05, 11: 0.05, 15: 0.2, 20: 0.1, 21: 0.1}
    for joint in range(NUM_JOINTS):
        if joint in AIM_CHILD:
            tails[joint] = heads[AIM_CHILD[joint]]
        elif joint in BRANCHES:
            tails[joint] = heads[BRANCHES[joint][0][-1 if joint == 0 else 0]]  # pelvis -> spine1, spine3 -> neck
        else:
            direction = unit(heads[joint] - heads[PARENTS[joint]]) if joint != 15 else np.array([0.0, 0.0, 1.0])
            tails[joint] = heads[joint] + direction * leaf_lengths[joint]
    # Sensible rolls: X is the bending axis. Legs, spine, feet bend about the body's side axis (+X);
    # arms hang off the chest sideways, so their local Z faces up.
    bone_dirs = unit(tails - heads)
    roll_axes = np.cross(np.array([1.0, 0.0, 0.0]), bone_dirs)
    arms = [13, 14, 16, 17, 18, 19, 20, 21]
    roll_axes[arms] = [0.0, 0.0, 1.0]
    return SmplCharacter(JOINT_NAMES, PARENTS, heads, tails, unit(roll_axes))
