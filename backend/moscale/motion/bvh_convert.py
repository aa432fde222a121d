"""BVH clips made from other forms: SMPL-22 joints as a clip (the rig of every .bvh MoScale writes), a clip turned
into another axis convention (Blender's Z-up world -> the BVH Y-up convention), and a clip in an armature's own space
moved into the world by the armature object's transform."""
from __future__ import annotations

import numpy as np

from moscale.motion import kinematics
from moscale.motion import rotations as rot
from moscale.motion.bvh import POSITION_CHANNELS, ROTATION_CHANNELS, BvhClip, BvhSkeleton
from moscale.motion.skeleton import FPS, JOINT_NAMES, NUM_JOINTS, PARENTS


# The rotation order of every joint in files written by `smpl_joints_to_bvh` (the most common BVH order: CMU, Bandai).
SMPL_ROTATION_ORDER = "ZXY"


# Blender's world (Z up, the front facing -Y) -> the BVH convention (Y up, the front facing +Z): the inverse of what
# Blender's BVH importer applies with its defaults (axis_forward='-Z', axis_up='Y'), so a file turned by it imports
# standing up. (x, y, z) -> (x, z, -y).
Y_UP_FROM_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
# An object transform is a rotation, one uniform scale and a translation when its 3x3 part, divided by the scale, is
# a rotation to this tolerance (Blender's matrices are float32: 1e-7 relative, times a few products).
_RIGID_TOLERANCE = 1e-5


def rotate_clip(clip: BvhClip, rotation_33: np.ndarray) -> BvhClip:
    """The same motion seen in a rotated world (``rotation_33`` maps old coordinates to new, e.g. ``Y_UP_FROM_Z_UP``).

    Offsets, End Sites and position channels are rotated; each joint's local rotation ``L`` becomes ``C L C^T``,
    written back as Euler angles in the joint's own channel order, so forward kinematics of the result is the
    original's turned by ``C``. Joints must have all three position channels or none, and three distinct rotation
    channels or none (Blender's, ours and most mocap files do)."""
    rotation = np.asarray(rotation_33, dtype=np.float64)
    if rotation.shape != (3, 3) or not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-9) \
            or not np.isclose(np.linalg.det(rotation), 1.0):
        raise ValueError("rotation_33 must be a proper 3x3 rotation matrix")
    skeleton = clip.skeleton
    channels = clip.channels.copy()
    local = clip.local_rotations()
    for joint, names in enumerate(skeleton.channels):
        start = skeleton.channel_starts[joint]
        positions = [start + c for c, name in enumerate(names) if name in POSITION_CHANNELS]
        turns = [start + c for c, name in enumerate(names) if name in ROTATION_CHANNELS]
        if len(positions) not in (0, 3) or len(turns) not in (0, 3):
            raise ValueError(f"joint {skeleton.names[joint]!r}: rotate_clip needs 0 or 3 position and 0 or 3 "
                             f"rotation channels, got {' '.join(names)}")
        if positions:
            axes = [rot.AXIS_INDEX[skeleton.channels[joint][c - start][0]] for c in positions]
            values = np.zeros((clip.num_frames, 3))
            values[:, axes] = clip.channels[:, positions]
            channels[:, positions] = (values @ rotation.T)[:, axes]
        if turns:
            order = "".join(skeleton.channels[joint][c - start][0] for c in turns)
            angles = rot.matrix_to_euler(rotation @ local[:, joint] @ rotation.T, order)
            # no 360-degree jumps between frames (as Blender's exporter keeps its Eulers compatible frame to frame)
            channels[:, turns] = np.unwrap(angles, period=360.0, axis=0)
    end_sites = [None if e is None else rotation @ e for e in skeleton.end_sites]
    turned = BvhSkeleton(list(skeleton.names), list(skeleton.parents), skeleton.offsets @ rotation.T,
                         [list(c) for c in skeleton.channels], end_sites)
    return BvhClip(turned, clip.frame_time, channels)


def bake_transform(clip: BvhClip, world_44: np.ndarray) -> BvhClip:
    """The clip moved into the world by ``world_44``: (4, 4), or (F, 4, 4) one per frame, mapping the clip's
    coordinates to the world's (an armature object's ``matrix_world``, as Blender's BVH exporter ignores it).

    The first frame's rotation turns the whole clip (``rotate_clip``: the rest pose stands as in the world); the
    scale multiplies offsets, End Sites and position channels (a Mixamo rig's centimetres under the object's 0.01
    become metres); the translation, and any rotation the transform gains after the first frame, go into the roots'
    channels (a root without channels gets six when the transform moves). Raises ValueError for a shear, a mirror,
    a non-uniform scale or a scale that changes over frames: BVH offsets are rigid and fixed."""
    matrices = np.asarray(world_44, dtype=np.float64)
    matrices = matrices[None] if matrices.shape == (4, 4) else matrices
    if matrices.ndim != 3 or matrices.shape[1:] != (4, 4) or len(matrices) not in (1, clip.num_frames):
        raise ValueError(f"world_44 must be (4, 4) or ({clip.num_frames}, 4, 4), got {np.shape(world_44)}")
    linear = matrices[:, :3, :3]
    scale = float(np.cbrt(np.linalg.det(linear[0])))
    turns = linear / scale if np.isfinite(scale) and scale > 0 else np.full_like(linear, np.nan)
    if not np.allclose(turns @ turns.transpose(0, 2, 1), np.eye(3), atol=_RIGID_TOLERANCE):
        raise ValueError("the transform must be a rotation, one uniform scale that stays the same on every frame, "
                         "and a translation (no shear, mirror or non-uniform scale)")
    u, _, vt = np.linalg.svd(turns)
    turns = u @ vt  # the nearest exact rotations (float32 input)
    frames = clip.num_frames
    if not np.allclose(turns[0], np.eye(3), rtol=0.0, atol=1e-12):
        clip = rotate_clip(clip, turns[0])
    if scale != 1.0:
        clip = _scaled(clip, scale)
    residual = np.broadcast_to(turns @ turns[0].T, (frames, 3, 3))
    return _moved_roots(clip, residual, np.broadcast_to(matrices[:, :3, 3], (frames, 3)))


def _scaled(clip: BvhClip, scale: float) -> BvhClip:
    skeleton = clip.skeleton
    channels = clip.channels.copy()
    for joint, names in enumerate(skeleton.channels):
        start = skeleton.channel_starts[joint]
        columns = [start + c for c, name in enumerate(names) if name in POSITION_CHANNELS]
        channels[:, columns] *= scale
    end_sites = [None if e is None else e * scale for e in skeleton.end_sites]
    scaled = BvhSkeleton(list(skeleton.names), list(skeleton.parents), skeleton.offsets * scale,
                         [list(c) for c in skeleton.channels], end_sites)
    return BvhClip(scaled, clip.frame_time, channels)


def _moved_roots(clip: BvhClip, turn_F33: np.ndarray, shift_F3: np.ndarray) -> BvhClip:
    """Every root's global rotation G becomes ``turn @ G`` and its position p ``turn @ p + shift``, per frame."""
    skeleton = clip.skeleton
    moving = not np.allclose(turn_F33, np.eye(3), rtol=0.0, atol=1e-12) or not np.all(shift_F3 == shift_F3[0])
    local = clip.local_rotations()
    names = [list(c) for c in skeleton.channels]
    blocks = [clip.channels[:, start:start + len(c)].copy() for start, c in zip(skeleton.channel_starts, names)]
    offsets = skeleton.offsets.copy()
    for joint in (j for j, p in enumerate(skeleton.parents) if p < 0):
        if moving and not names[joint]:  # the placeholder root of a many-rooted armature: it moves now
            names[joint] = list(POSITION_CHANNELS) + [f"{axis}rotation" for axis in SMPL_ROTATION_ORDER]
            blocks[joint] = np.concatenate([np.tile(offsets[joint], (clip.num_frames, 1)),
                                            np.zeros((clip.num_frames, 3))], axis=1)
        offsets[joint] += shift_F3[0]  # the rest pose where the first frame is
        positions = [c for c, name in enumerate(names[joint]) if name in POSITION_CHANNELS]
        axes = [rot.AXIS_INDEX[names[joint][c][0]] for c in positions]
        if not moving:
            blocks[joint][:, positions] += shift_F3[:, axes]
            continue
        turns = [c for c, name in enumerate(names[joint]) if name in ROTATION_CHANNELS]
        order = "".join(names[joint][c][0] for c in turns)
        if sorted(axes) != [0, 1, 2] or len(set(order)) != 3 or len(order) != 3:
            raise ValueError(f"root {skeleton.names[joint]!r} needs three position and three rotation channels to "
                             f"carry a transform that moves, got {' '.join(names[joint]) or 'none'}")
        values = np.zeros((clip.num_frames, 3))
        values[:, axes] = blocks[joint][:, positions]
        blocks[joint][:, positions] = (np.einsum("fij,fj->fi", turn_F33, values) + shift_F3)[:, axes]
        angles = rot.matrix_to_euler(turn_F33 @ local[:, joint], order)
        blocks[joint][:, turns] = np.unwrap(angles, period=360.0, axis=0)
    moved = BvhSkeleton(list(skeleton.names), list(skeleton.parents), offsets, names, list(skeleton.end_sites))
    return BvhClip(moved, clip.frame_time, np.concatenate(blocks + [np.zeros((clip.num_frames, 0))], axis=1))


def smpl_joints_to_bvh(joints_TJ3: np.ndarray, fps: float = FPS, scale: float = 1.0,
                       rest_joints_TJ3: np.ndarray | None = None) -> BvhClip:
    """SMPL-22 joint positions (T, 22, 3), metres, Y up -> a BvhClip whose FK reproduces them (times ``scale``).

    Joints keep SMPL-22 order and names. Offsets are the rest directions (``RAW_OFFSETS``; for the children of the
    pelvis and spine3 the motion's own rigid geometry, see ``kinematics.rest_offsets_from_joints``) times the
    motion's own bone lengths. The root has position channels and sits at OFFSET 0 0 0; every joint has
    ``SMPL_ROTATION_ORDER`` (ZXY) rotation channels from ``kinematics.inverse_kinematics``; leaves get an End Site
    half their bone length beyond them. ``scale`` converts units (100 for centimetres). ``rest_joints`` measures
    the bones on another clip instead (an edit written with its source's skeleton, so that the frames it kept come out
    exactly as the source converted alone).
    """
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (NUM_JOINTS, 3):
        raise ValueError(f"expected SMPL-22 joints of shape (T, {NUM_JOINTS}, 3), got {joints.shape}")
    measured = joints if rest_joints_TJ3 is None else np.asarray(rest_joints_TJ3, dtype=np.float64)
    offsets = kinematics.rest_offsets_from_joints(measured, PARENTS)
    local_quats, root_positions = kinematics.inverse_kinematics(joints, PARENTS, rest_offsets=offsets)
    angles = rot.matrix_to_euler(rot.to_matrix(local_quats), SMPL_ROTATION_ORDER)  # (T, J, 3) degrees
    rotation_channels = [f"{axis}rotation" for axis in SMPL_ROTATION_ORDER]
    channels = [list(POSITION_CHANNELS) + rotation_channels] + [rotation_channels] * (NUM_JOINTS - 1)
    end_sites: list[np.ndarray | None] = [None] * NUM_JOINTS
    for joint in range(NUM_JOINTS):
        if joint not in PARENTS:
            end_sites[joint] = 0.5 * offsets[joint] * scale
    skeleton = BvhSkeleton(list(JOINT_NAMES), list(PARENTS), offsets * scale, channels, end_sites)
    values = np.concatenate([root_positions * scale, angles.reshape(len(joints), -1)], axis=1)
    return BvhClip(skeleton, 1.0 / fps, values)
