"""Loading one recording of any source kind as SMPL-22 joints at the corpus rate: BVH rigs through their rig maps
(moscale.motion.sources), DeepMimic JSON (moscale.motion.deepmimic), motion .npz files (Motion.load); each with the
floor moved to y = 0 and resampled to 20 fps."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from moscale.data.discovery import Recording
from moscale.motion import bvh
from moscale.motion.cleaning import floor_height, resample
from moscale.motion.skeleton import FPS
from moscale.motion.splice import decompose, rotate_y
from moscale.motion.sources import SourceInfo, clip_to_smpl, load_source_clip, resolve_rig

MIN_SECONDS = 2.1  # a window needs 41 frames at 20 fps (BuildConfig.min_frames + 1)
# A clip whose last pose is this close to its first is a loop (Mesh2Motion cycles end on frame 1). Jumping jacks close
# on 2.2 cm and were taken for a one-off at 2 cm: one jack with its ends held, so "does jumping jacks" never saw two;
# the nearest one-off clips (a victory cheer, a hit) end 5.8 and 6.2 cm from their first pose.
LOOP_SEAM_M = 0.03
# Loops are played again only until a window is long enough (MIN_SECONDS). Played to 6 s (so that a 1.6 s push-up
# cycle gave 5 s of push-ups), the generator fine-tuned on that corpus stood still on 1 of 9 seeds and jumped on none
# (docs/results.md, "Loops"), and push-ups still drifted: the tokenizer, not the data's length, drifts them.


def load_recording(rec: Recording, fps: float = FPS) -> tuple[np.ndarray, SourceInfo]:
    """((T, 22, 3) float32 joints at ``fps``, metres, Y up, floor at 0; what was done). ValueError/OSError when the
    file cannot be read (RigError is a ValueError)."""
    if rec.source == "deepmimic":
        from moscale.motion.deepmimic import clip_to_smpl_joints, read_deepmimic_clip

        clip = read_deepmimic_clip(rec.path)
        joints = clip_to_smpl_joints(clip)
        joints = repeat_cycle(joints, clip.fps) if clip.loop == "wrap" else hold_ends(joints, clip.fps)
        return _clean(joints, clip.fps, rec, fps, "deepmimic_humanoid3d")
    if rec.source == "npz":
        from moscale.motion.clip import Motion

        motion = Motion.load(rec.path)
        joints = motion.joints.astype(np.float64)
        seam_m = float(np.abs(joints[-1] - joints[0]).max())  # a loop that closes on its first pose
        looped = "loop" in Path(rec.path).stem.lower() or seam_m < LOOP_SEAM_M
        joints = repeat_cycle(joints, motion.fps) if looped else hold_ends(joints, motion.fps)
        return _clean(joints, motion.fps, rec, fps, str(motion.metadata.get("bone_map", "npz")))
    if rec.fps is None:
        return load_source_clip(rec.path, rig=rec.rig, rig_map=rec.rig_map, fps=fps)
    clip = bvh.read_bvh(rec.path)
    clip = dataclasses.replace(clip, frame_time=1.0 / rec.fps)  # the header's rate is wrong (source_labels)
    return clip_to_smpl(clip, resolve_rig(rec.rig, rec.rig_map, clip.skeleton.names), source=rec.path, fps=fps)


def repeat_cycle(joints_TJ3: np.ndarray, fps: float, min_seconds: float = MIN_SECONDS) -> np.ndarray:
    """A looping clip shorter than ``min_seconds`` played again until it is long enough, a whole repetition at a time:
    each starts where the last one ended (its first frame, the loop's seam, dropped), turned and moved rigidly on the
    floor."""
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    out = [joints]
    while sum(len(part) for part in out) / fps < min_seconds and len(joints) > 2:
        heading, root, _ = decompose(np.stack([joints[0], out[-1][-1]]))
        turned = rotate_y(joints - root[0], heading[1] - heading[0]) + root[1]
        out.append(turned[1:])
    return np.concatenate(out)


def hold_ends(joints_TJ3: np.ndarray, fps: float, min_seconds: float = MIN_SECONDS) -> np.ndarray:
    """A one-off clip shorter than ``min_seconds`` (a kick) with its first and last poses held, half before and
    half after, so it is long enough for a window; the motion itself is unchanged."""
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    missing = int(np.ceil(min_seconds * fps)) - len(joints)
    if missing <= 0:
        return joints
    before = missing // 2
    return np.concatenate([np.repeat(joints[:1], before, 0), joints, np.repeat(joints[-1:], missing - before, 0)])


def _clean(joints: np.ndarray, rate: float, rec: Recording, fps: float, rig: str) -> tuple[np.ndarray, SourceInfo]:
    joints = np.asarray(joints, dtype=np.float64)
    if len(joints) < 2:
        raise ValueError(f"{rec.path}: needs at least 2 frames, has {len(joints)}")
    floor = floor_height(joints)
    speed = np.linalg.norm(np.diff(joints[:, 0], axis=0), axis=-1) * rate
    out = resample(joints - np.array([0.0, floor, 0.0]), rate, fps).astype(np.float32)
    return out, SourceInfo(path=rec.path, rig=rig, source_fps=float(rate), source_frames=len(joints), metres_per_unit=1.0,
                           up_axis="y", tpose_frames=0, floor_offset_m=float(floor),
                           max_root_speed_mps=float(speed.max()), fps=float(fps), frames=len(out))
