"""BVH files of rigs nobody on the project made, written from a real clip: LAFAN1-named (LeftToe, centimetres, 30
fps) and Rigify-named (DEF-*, no hand and toe joints: their positions are the End Sites of the forearms and feet).
Shared by tests/test_rigs_detection.py and tests/blender/test_rigs_files.py."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from moscale.motion import bvh, bvh_convert
from moscale.motion.skeleton import JOINT_NAMES

LAFAN_NAMES = ("Hips", "LeftUpLeg", "RightUpLeg", "Spine", "LeftLeg", "RightLeg", "Spine1", "LeftFoot", "RightFoot",
               "Spine2", "LeftToe", "RightToe", "Neck", "LeftShoulder", "RightShoulder", "Head", "LeftArm",
               "RightArm", "LeftForeArm", "RightForeArm", "LeftHand", "RightHand")
RIGIFY_NAMES = ("DEF-spine", "DEF-thigh.L", "DEF-thigh.R", "DEF-spine.001", "DEF-shin.L", "DEF-shin.R",
                "DEF-spine.002", "DEF-foot.L", "DEF-foot.R", "DEF-spine.003", "DEF-toe.L", "DEF-toe.R",
                "DEF-spine.004", "DEF-shoulder.L", "DEF-shoulder.R", "DEF-spine.006", "DEF-upper_arm.L",
                "DEF-upper_arm.R", "DEF-forearm.L", "DEF-forearm.R", "DEF-hand.L", "DEF-hand.R")
NO_HANDS_OR_TOES = (10, 11, 20, 21)


def renamed_clip(joints: np.ndarray, fps: float, names, scale: float = 1.0, drop=()) -> bvh.BvhClip:
    """The SMPL BVH of ``joints`` with other joint names; joints in ``drop`` (leaves) are removed and become their
    parent's End Site, as a rig without those joints exports them."""
    clip = bvh_convert.smpl_joints_to_bvh(joints, fps, scale=scale)
    skeleton = clip.skeleton
    keep = [j for j in range(len(JOINT_NAMES)) if j not in drop]
    new_index = {old: new for new, old in enumerate(keep)}
    end_sites = list(skeleton.end_sites)
    for joint in drop:
        end_sites[skeleton.parents[joint]] = skeleton.offsets[joint]
    columns = np.concatenate([np.arange(start, start + len(skeleton.channels[j]))
                              for j, start in enumerate(skeleton.channel_starts) if j in new_index])
    kept = bvh.BvhSkeleton([names[j] for j in keep],
                           [new_index[skeleton.parents[j]] if skeleton.parents[j] >= 0 else -1 for j in keep],
                           skeleton.offsets[keep], [skeleton.channels[j] for j in keep], [end_sites[j] for j in keep])
    return bvh.BvhClip(kept, clip.frame_time, clip.channels[:, columns])


def other_proportions(joints: np.ndarray) -> np.ndarray:
    """Another body than the clip's: 8% taller, with feet 1.8 times as long (ankle -> toe), like a LAFAN actor."""
    out = np.array(joints, dtype=np.float64) * 1.08
    for ankle, toe in ((7, 10), (8, 11)):
        out[:, toe] = out[:, ankle] + 1.8 * (out[:, toe] - out[:, ankle])
    return out


def write_clip(path: Path, clip: bvh.BvhClip) -> Path:
    path.write_text(bvh.format_bvh(clip), encoding="utf-8")
    return path
