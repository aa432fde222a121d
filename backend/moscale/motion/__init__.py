"""The motion layer: SMPL-22 facts, rotations, kinematics, the 263-d feature codec, foot contact, joint-space
splicing, motion files (BVH, AMASS .npz, edits written back into their source), source rigs and retargeting,
SMPL bodies and stick-figure previews. Pure numpy (torch only where a body model needs it); imports only
moscale.utils below it.

    from moscale.motion import Motion
    motion = Motion.load("walk.bvh")
"""
from moscale.motion.clip import Motion

__all__ = ["Motion"]
