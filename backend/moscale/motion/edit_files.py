"""Writing an edit back into its source's file: only the edited range is new, everything else is the source's, verbatim.

    write_edit_bvh("ed.bvh", edited, "src.bvh", start, end)    # the source's text, frame lines in the range replaced
    write_edit_npz("ed.npz", edited, Motion.load("src.npz"), "src.npz", start, end)  # its SMPL poses outside

An animator who edits frames 40-70 of a mocap file expects frames outside them, and the skeleton, to be exactly
what they were. Writing the edited joints afresh would re-fit the rig (other OFFSETs) and re-solve every frame's
rotations (up to 1.7 degrees per channel off outside the range; SMPL poses 0.0012 rad off). So the writers here
start from the source file and replace only what lies in the edited time range, ``[start, end)`` in frames of the
edited motion's rate (the model's 20 fps); a source at another rate gets the source frames whose times fall in it,
posed from the edit interpolated to those times.

In the range, each mapped joint is rotated by the smallest turn (the best-fit turn when it has several mapped
children, e.g. the pelvis) that points its bones where the edit has them, starting from the source's own pose at
that frame: joints the model does not drive (fingers, toes, twist) keep the source's values, the OFFSETs stay.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Mapping

import numpy as np

from moscale.motion import bvh
from moscale.motion import rotations as rot
from moscale.motion.kinematics import resample_joints, unit
from moscale.motion.skeleton import JOINT_NAMES, PARENTS


class NotAnEdit(ValueError):
    """The source file is not what the edit was made from (frames outside the range differ)."""


# ----------------------------------------------------------------------------------------------- shared


def bvh_unit_scale(joints_FJ3: np.ndarray) -> float:
    """Metres per file unit of SMPL-22 joints read from a BVH: 1, or 0.01 when bones are implausibly long for metres
    (no human bone is a metre long). The rule ``Motion.load`` applies."""
    bones = np.linalg.norm(joints_FJ3[:, 1:] - joints_FJ3[:, list(PARENTS[1:])], axis=-1)
    return 0.01 if np.median(bones) > 1.0 else 1.0


def _range_frames(count: int, fps: float, start: int, end: int, edit_fps: float) -> np.ndarray:
    """Indices of the ``count`` frames at ``fps`` whose times lie in [start, end) / edit_fps."""
    times = np.arange(count) / fps
    eps = 1e-9
    return np.flatnonzero((times >= start / edit_fps - eps) & (times < end / edit_fps - eps))


def _at_times(joints_TJ3: np.ndarray, fps: float, times: np.ndarray) -> np.ndarray:
    """Linear interpolation of joints to ``times`` (seconds)."""
    position = np.clip(times * fps, 0, len(joints_TJ3) - 1)
    lower = np.floor(position).astype(int)
    upper = np.minimum(lower + 1, len(joints_TJ3) - 1)
    weight = (position - lower)[:, None, None]
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    return (1 - weight) * joints[lower] + weight * joints[upper]


def _check_outside(source_joints: np.ndarray, source_fps: float, edited, start: int, end: int, where: str) -> None:
    """NotAnEdit unless the edit's frames outside [start, end) are the source's (as ``Motion.load`` + resample
    make them: that is what the edit started from)."""
    joints = np.asarray(source_joints, dtype=np.float32)  # as a Motion holds them
    if float(source_fps) != edited.fps:
        joints = resample_joints(joints, float(source_fps), edited.fps).astype(np.float32)  # as Motion.resample
    if len(joints) != edited.num_frames:
        raise NotAnEdit(f"{where} has {len(joints)} frames at {edited.fps:g} fps, the edit {edited.num_frames}")
    outside = np.ones(edited.num_frames, dtype=bool)
    outside[start:end] = False
    error = float(np.abs(joints[outside] - edited.joints[outside]).max(initial=0.0))
    if error > 1e-5:
        raise NotAnEdit(f"{where}: the edit differs from it by {error:.4f} m outside frames {start}-{end}")


# ----------------------------------------------------------------------------------------------- BVH


def write_edit_bvh(path: str | Path, edited, source_path: str | Path, start: int, end: int,
                   joint_map: Mapping[str, str] | None = None) -> Path:
    """Write ``edited`` (a Motion, the edit of ``source_path`` over its frames [start, end)) as the source BVH with
    only the frame lines in that range replaced. NotAnEdit when the source is not what the edit was made from."""
    from moscale.utils.atomic import write_text

    source_path = Path(source_path)
    raw = source_path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    clip = bvh.parse_bvh(text, source=str(source_path))
    names = [(joint_map or {}).get(name, name) for name in JOINT_NAMES]
    missing = [name for name in names if name not in clip.skeleton.names]
    if missing:
        raise NotAnEdit(f"{source_path}: joints {missing} not in the file")
    mapped = [clip.joint_index(name) for name in names]
    positions, _ = bvh.forward_kinematics(clip)
    scale = bvh_unit_scale(positions[:, mapped])
    _check_outside(positions[:, mapped] * scale, clip.fps, edited, start, end, str(source_path))

    frames = _range_frames(clip.num_frames, clip.fps, start, end, edited.fps)
    targets = _at_times(edited.joints, edited.fps, frames / clip.fps) / scale  # (F, 22, 3) file units
    channels = clip.channels.copy()
    if len(frames):
        channels[frames] = pose_frames(clip, frames, mapped, targets)
    lines = text.splitlines(keepends=True)
    rows = _frame_line_numbers(lines, clip.num_frames, source_path)
    decimals = _decimals(lines[rows[0]]) if rows else 6
    for frame in frames:
        ending = lines[rows[frame]][len(lines[rows[frame]].rstrip("\r\n")):]
        values = np.round(channels[frame], decimals) + 0.0  # no "-0.000000"
        lines[rows[frame]] = " ".join(f"{v:.{decimals}f}" for v in values) + ending
    write_text(path, "".join(lines), encoding="utf-8" if raw == text.encode("utf-8") else "latin-1")
    return Path(path)


def _frame_line_numbers(lines: list[str], count: int, source: Path) -> list[int]:
    """Line indices of the frame rows: the non-blank lines after 'Frame Time:' (as the reader takes them)."""
    header = next((i for i, line in enumerate(lines) if re.match(r"\s*Frame\s+Time\s*:", line, re.IGNORECASE)), None)
    if header is None:
        raise NotAnEdit(f"{source}: no 'Frame Time:' line")
    rows = [i for i in range(header + 1, len(lines)) if lines[i].strip()]
    if len(rows) != count:
        raise NotAnEdit(f"{source}: {len(rows)} frame lines, {count} frames read")
    return rows


def _decimals(line: str) -> int:
    """The source's precision (at least 6 decimals): new lines look like the old ones and lose nothing."""
    digits = [len(token.split(".")[1]) for token in line.split() if "." in token and "e" not in token.lower()]
    return max([6] + digits)


def pose_frames(clip: bvh.BvhClip, frames: np.ndarray, mapped: list[int], targets_F223: np.ndarray) -> np.ndarray:
    """(F, C) channel values for ``frames`` of ``clip`` that put its joints ``mapped`` (the SMPL-22 joints, in
    order) at ``targets`` (F, 22, 3, file units), starting from the clip's own values at those frames."""
    skeleton = clip.skeleton
    source = bvh.BvhClip(skeleton, clip.frame_time, clip.channels[frames])
    local = source.local_rotations()          # (F, J, 3, 3), the source's
    translation = source.local_translations()  # (F, J, 3)
    positions_src, globals_src = bvh.forward_kinematics(source)
    smpl_of = {joint: i for i, joint in enumerate(mapped)}
    descendants = _mapped_descendants(skeleton, set(mapped))
    channels = source.channels.copy()
    count = len(frames)
    glob = np.empty_like(globals_src)
    pos = np.empty_like(positions_src)
    for joint, parent in enumerate(skeleton.parents):
        parent_rot = np.broadcast_to(np.eye(3), (count, 3, 3)) if parent < 0 else glob[:, parent]
        parent_pos = np.zeros((count, 3)) if parent < 0 else pos[:, parent]
        if joint in smpl_of and smpl_of[joint] == 0:  # the pelvis: moved to the edit's root path
            translation[:, joint] = _place(skeleton, joint, parent_rot, parent_pos, targets_F223[:, 0],
                                           translation[:, joint], channels)
        pos[:, joint] = parent_pos + np.einsum("fij,fj->fi", parent_rot, translation[:, joint])
        turned = joint in smpl_of and descendants[joint] and _has_rotations(skeleton, joint)
        if turned:
            # bone vectors to the mapped descendants in this joint's own frame (the source's pose between them)
            inverse = np.swapaxes(globals_src[:, joint], -1, -2)
            bones = np.stack([np.einsum("fij,fj->fi", inverse, positions_src[:, d] - positions_src[:, joint])
                              for d in descendants[joint]], axis=1)  # (F, D, 3)
            wanted = np.stack([targets_F223[:, smpl_of[d]] - targets_F223[:, smpl_of[joint]]
                               for d in descendants[joint]], axis=1)
            glob[:, joint] = _aim(globals_src[:, joint], bones, wanted)
            local_new = np.swapaxes(parent_rot, -1, -2) @ glob[:, joint]
            _set_rotation(skeleton, joint, local_new, channels)
        else:
            glob[:, joint] = parent_rot @ local[:, joint]
    return channels


def _mapped_descendants(skeleton: bvh.BvhSkeleton, mapped: set[int]) -> dict[int, list[int]]:
    """For each joint, the nearest mapped joints below it (not looking past a mapped joint)."""
    result: dict[int, list[int]] = {}
    for joint in range(skeleton.num_joints):
        found, stack = [], list(skeleton.children(joint))
        while stack:
            child = stack.pop()
            if child in mapped:
                found.append(child)
            else:
                stack.extend(skeleton.children(child))
        result[joint] = sorted(found)
    return result


def _has_rotations(skeleton: bvh.BvhSkeleton, joint: int) -> bool:
    turns = [c for c in skeleton.channels[joint] if c in bvh.ROTATION_CHANNELS]
    return len(turns) == 3


def _aim(global_FR: np.ndarray, bones_FD3: np.ndarray, wanted_FD3: np.ndarray) -> np.ndarray:
    """Global rotations: ``global`` turned by the smallest rotation (one bone) or the best fit (several) that
    points ``global @ bones`` along ``wanted``."""
    current = np.einsum("fij,fdj->fdi", global_FR, bones_FD3)
    wanted, current = unit(wanted_FD3), unit(current)
    if current.shape[1] == 1:
        turn = rot.between(current[:, 0], wanted[:, 0])
    else:
        turn = rot.best_fit_rotation(current, wanted)
    return rot.to_matrix(turn) @ global_FR


def _set_rotation(skeleton: bvh.BvhSkeleton, joint: int, local_F33: np.ndarray, channels: np.ndarray) -> None:
    start = skeleton.channel_starts[joint]
    columns = [start + c for c, name in enumerate(skeleton.channels[joint]) if name in bvh.ROTATION_CHANNELS]
    order = "".join(skeleton.channels[joint][c - start][0] for c in columns)
    angles = rot.matrix_to_euler(local_F33, order)
    old = channels[:, columns]
    channels[:, columns] = angles + 360.0 * np.round((old - angles) / 360.0)  # the turn nearest the source's angles


def _place(skeleton: bvh.BvhSkeleton, joint: int, parent_rot: np.ndarray, parent_pos: np.ndarray,
           target_F3: np.ndarray, translation_F3: np.ndarray, channels: np.ndarray) -> np.ndarray:
    """The pelvis's local translation that puts it at ``target``, written to its position channels. A pelvis
    without position channels (a file whose root is a floor joint) stays where the source has it."""
    start = skeleton.channel_starts[joint]
    columns = {name[0]: start + c for c, name in enumerate(skeleton.channels[joint]) if name in bvh.POSITION_CHANNELS}
    if len(columns) != 3:
        warnings.warn(f"joint {skeleton.names[joint]!r} has no position channels: the edit's root path is not "
                      "written, only its poses", stacklevel=3)
        return translation_F3
    local = np.einsum("fji,fj->fi", parent_rot, target_F3 - parent_pos)  # parent_rot^T (target - parent)
    for axis, column in columns.items():
        channels[:, column] = local[:, "XYZ".index(axis)]
    return local


# ----------------------------------------------------------------------------------------------- .npz


def write_edit_npz(path: str | Path, edited, source, source_path: str | Path, start: int, end: int) -> Path:
    """Write ``edited`` as an .npz whose SMPL ``poses`` and ``trans`` are the source's outside frames [start, end)
    (an .npz's own; for a .bvh or .npy source, those `moscale convert` writes for it) and solved from the edit inside
    (for the same rest skeleton), with the edit's joints, features and metadata. NotAnEdit when the source is not
    what the edit was made from, or an .npz at another frame rate (no frame-for-frame correspondence to keep).
    ``source`` is the source file as ``Motion.load`` reads it (Motion.save passes it: this module never imports
    the Motion type, which writes edits through it)."""
    from moscale.motion import amass

    source_path = Path(source_path)
    from_npz = source_path.suffix.lower() == ".npz"
    if source.fps != edited.fps:
        if from_npz:
            raise NotAnEdit(f"{source_path} is at {source.fps:g} fps, the edit at {edited.fps:g}")
        source = source.resample(edited.fps)  # as the edit read it
    _check_outside(source.joints, source.fps, edited, start, end, str(source_path))
    rest = amass.canonical_rest(source.joints)
    again = amass.pose_parameters(source.joints, source.fps, rest_joints=rest)  # what `convert` writes for it
    poses, trans, betas, gender = again.poses(), again.trans, np.zeros(amass.NUM_BETAS), "neutral"
    if from_npz:
        with np.load(source_path, allow_pickle=False) as data:
            if "poses" in data.files and "trans" in data.files:
                poses, trans = np.array(data["poses"], dtype=np.float64), np.array(data["trans"], dtype=np.float64)
            if "betas" in data.files:
                betas = np.array(data["betas"], dtype=np.float64)
            gender = str(data["gender"]) if "gender" in data.files else gender
    if len(poses) != source.num_frames or poses.ndim != 2 or poses.shape[1] < 66:
        raise NotAnEdit(f"{source_path}: poses of shape {poses.shape} for {source.num_frames} frames")
    # The source's poses were solved (amass.pose_parameters) for the rest skeleton of its own joints; solving the
    # edit for the same one makes the range continue them. The root path's constant offset (a body's rest pelvis,
    # AMASS grounding) is carried over from the frames outside.
    solved = amass.pose_parameters(edited.joints, edited.fps, rest_joints=rest)
    outside = np.ones(edited.num_frames, dtype=bool)
    outside[start:end] = False
    shift = (trans[outside] - again.trans[outside]).mean(axis=0) if outside.any() else np.zeros(3)
    new_poses, new_trans = poses.copy(), trans.copy()
    new_poses[start:end, :66] = np.concatenate([solved.global_orient, solved.body_pose.reshape(-1, 63)], 1)[start:end]
    new_poses[start:end, 66:] = poses[start:end, 66:]  # hands and face: the source's
    new_trans[start:end] = solved.trans[start:end] + shift
    arrays = amass.npz_arrays(edited, solved)
    arrays.update(poses=new_poses, trans=new_trans, betas=betas, gender=np.str_(gender))
    from moscale.utils.atomic import open_for_write

    with open_for_write(path) as handle:
        amass.savez(handle, arrays)
    return Path(path)
