"""Retarget SMPL-22 joint positions onto an armature's rest pose as pose-bone rotations (numpy, no Blender).

Pipeline: joints (T, 22, 3), metres, Y up -> Z up (``to_z_up``, the one place retargeting changes axes) ->
armature space (inverse object rotation) -> a world-space *delta* rotation per SMPL joint (swing per bone,
best-fit rotation for the branching joints pelvis and spine3) -> per-bone local quaternions in Blender's pose
convention plus the root bone's location, for any rest pose given as plain arrays (``ArmatureRest``).

Blender pose convention, for a bone b with parent p (rest orientations ``Rr`` from ``matrix_local.to_quaternion()``):
``world_b = world_p * Rr_p^-1 * Rr_b * q_b``. Asking ``world_b = D_b * Rr_b`` (the rest orientation moved by the
delta) gives ``q_b = Rr_b^-1 * D_p^-1 * D_b * Rr_b``. Bones without a mapped joint keep identity, so they carry
their nearest mapped ancestor's delta. Which bone carries which joint: ``moscale.motion.rigs``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from moscale.motion import feet, kinematics, rig_feet, rigs
from moscale.motion import rotations as rot
from moscale.motion.kinematics import unit
from moscale.motion.rigs import RigMatch
from moscale.motion.skeleton import BONE_LENGTHS_M, FPS, NUM_JOINTS, PARENTS

# Single-child joints: the child whose direction the joint's bone follows (a swing).
AIM_CHILD = {1: 4, 2: 5, 3: 6, 4: 7, 5: 8, 6: 9, 7: 10, 8: 11, 12: 15, 13: 16, 14: 17, 16: 18, 17: 19, 18: 20, 19: 21}
# Branching joints: (children, (left child, right child)) fitted together with a best-fit rotation.
BRANCHES = {0: ((1, 2, 3), (1, 2)), 9: ((12, 13, 14), (13, 14))}
_LEGS = ((1, 4, 7), (2, 5, 8))  # (hip, knee, ankle) left, right


def _depth(joint: int) -> int:
    return 0 if PARENTS[joint] < 0 else 1 + _depth(PARENTS[joint])


_LEVELS = [[j for j in range(NUM_JOINTS) if _depth(j) == d] for d in range(max(map(_depth, range(NUM_JOINTS))) + 1)]

# Rest directions (Y up, body facing +Z) of the built-in character, T-pose. The branching joints' child directions
# are HumanML3D clip 012314's rigid pelvis and chest geometry, symmetrised; ``smpl_rest_joints(joints)`` fits them to
# a given motion instead.
_CANONICAL_DIRECTIONS = np.array(
    [
        [0, 0, 0], [0.565, -0.790, -0.235], [-0.565, -0.790, -0.235], [0, 1, 0], [0, -1, 0], [0, -1, 0],
        [0, 1, 0], [0, -1, 0], [0, -1, 0], [0, 1, 0], [0, -0.45, 0.89], [0, -0.45, 0.89], [0, 1, 0],
        [0.511, 0.852, -0.108], [-0.511, 0.852, -0.108], [0, 1, 0], [1, 0, 0], [-1, 0, 0], [1, 0, 0],
        [-1, 0, 0], [1, 0, 0], [-1, 0, 0],
    ],
    dtype=np.float64,
)
_BRANCH_CHILDREN = (1, 2, 3, 12, 13, 14)
# m: a built-in character whose rest joints are this close to a motion's own (``smpl_rest_joints``) is that motion's
# skeleton (``plays_as_is``); Blender stores bone heads as float32, two motions' skeletons differ by centimetres
SKELETON_MATCH_M = 1e-4


def to_z_up(points: np.ndarray) -> np.ndarray:
    """HumanML3D (Y up, facing +Z) -> Blender (Z up, facing -Y): (x, y, z) -> (x, -z, y). Any (..., 3)."""
    points = np.asarray(points, dtype=np.float64)
    return np.stack([points[..., 0], -points[..., 2], points[..., 1]], axis=-1)


# ----------------------------------------------------------------------------------------------- rest poses


@dataclass(frozen=True)
class ArmatureRest:
    """An armature's rest pose as plain arrays, in armature space (Blender reads them from ``Bone`` data).

    ``rest_quats`` are ``bone.matrix_local.to_quaternion()`` as (w, x, y, z); ``object_rotation`` is the
    armature object's world rotation (the motion is brought into armature space through its inverse).
    """

    names: tuple[str, ...]
    parents: np.ndarray          # (B,) parent index, -1 for roots
    heads: np.ndarray            # (B, 3) head_local, armature units
    tails: np.ndarray            # (B, 3) tail_local
    rest_quats: np.ndarray       # (B, 4)
    object_rotation: np.ndarray = field(default_factory=lambda: rot.identity())

    def __post_init__(self) -> None:
        count = len(self.names)
        for name, shape in (("parents", (count,)), ("heads", (count, 3)), ("tails", (count, 3)), ("rest_quats", (count, 4))):
            if np.shape(getattr(self, name)) != shape:
                raise ValueError(f"ArmatureRest.{name} must have shape {shape}, got {np.shape(getattr(self, name))}")

    def index(self, name: str) -> int:
        return self.names.index(name)

    def order(self) -> list[int]:
        """Bone indices with every parent before its children."""
        done: list[int] = []
        seen: set[int] = set()
        for bone in range(len(self.names)):
            chain = []
            while bone >= 0 and bone not in seen:
                chain.append(bone)
                bone = int(self.parents[bone])
            for item in reversed(chain):
                seen.add(item)
                done.append(item)
        return done


def bone_rest_quaternion(head: np.ndarray, tail: np.ndarray, roll: np.ndarray | float) -> np.ndarray:
    """Blender's bone rest orientation (..., 4) from head, tail and roll (radians): Y along the bone, then roll about it.

    Matches ``vec_roll_to_mat3`` (shortest arc from +Y, 180 degrees about Z when the bone points down -Y).
    """
    direction = unit(np.asarray(tail, np.float64) - np.asarray(head, np.float64))
    swing = rot.between(np.broadcast_to([0.0, 1.0, 0.0], direction.shape), direction)
    twist = rot.from_axis_angle(direction * np.asarray(roll, dtype=np.float64)[..., None])
    return rot.multiply(twist, swing)


def rest_from_bones(
    names: Sequence[str], parents: Sequence[int], heads: np.ndarray, tails: np.ndarray, rolls: np.ndarray | None = None
) -> ArmatureRest:
    """An ``ArmatureRest`` from edit-bone style data (heads, tails, rolls), for rigs built without Blender."""
    heads, tails = np.asarray(heads, np.float64), np.asarray(tails, np.float64)
    rolls = np.zeros(len(names)) if rolls is None else np.asarray(rolls, np.float64)
    return ArmatureRest(tuple(names), np.asarray(parents, dtype=np.int64), heads, tails, bone_rest_quaternion(heads, tails, rolls))


def smpl_rest_joints(joints_TJ3: np.ndarray | None = None) -> np.ndarray:
    """(22, 3) T-pose rest joints of the built-in SMPL character, metres, Y up, facing +Z, lowest joint at y = 0.

    Without a motion: HumanML3D's bone lengths and a canonical pelvis/chest geometry. With ``joints`` (T, 22, 3):
    that motion's own bone lengths and rigid pelvis/chest geometry, so retargeting it back is exact.
    """
    directions = _CANONICAL_DIRECTIONS.copy()
    lengths = BONE_LENGTHS_M.copy()
    if joints_TJ3 is not None:
        fitted = kinematics.rest_offsets_from_joints(joints_TJ3)
        lengths = kinematics.bone_lengths(joints_TJ3)
        directions[list(_BRANCH_CHILDREN)] = fitted[list(_BRANCH_CHILDREN)]
    offsets = unit(directions) * lengths[:, None]
    rest = np.zeros((NUM_JOINTS, 3))
    for joint, parent in enumerate(PARENTS):
        if parent >= 0:
            rest[joint] = rest[parent] + offsets[joint]
    rest[:, 1] -= rest[:, 1].min()
    return rest


# ----------------------------------------------------------------------------------------------- retargeting


@dataclass(frozen=True)
class RetargetResult:
    """Pose channels for one motion on one armature.

    ``rotations`` are pose-bone ``rotation_quaternion`` values (w, x, y, z) for ``bone_names`` (the mapped bones
    plus unmapped bones lying between mapped ones, which stay at identity); ``root_location`` is the pose-bone
    ``location`` of ``root_bone`` (in its rest frame, armature units).
    """

    bone_names: tuple[str, ...]
    rotations: np.ndarray      # (T, K, 4)
    root_bone: str
    root_location: np.ndarray  # (T, 3)
    fps: float

    @property
    def num_frames(self) -> int:
        return len(self.rotations)


def leg_length(points_J3: np.ndarray) -> np.ndarray:
    """Mean of left and right hip->knee->ankle lengths; points (..., 22, 3) -> (...). ``retarget`` scales root
    motion by the ratio of the rig's to the motion's."""
    total = 0.0
    for hip, knee, ankle in _LEGS:
        total = total + np.linalg.norm(points_J3[..., knee, :] - points_J3[..., hip, :], axis=-1)
        total = total + np.linalg.norm(points_J3[..., ankle, :] - points_J3[..., knee, :], axis=-1)
    return total / len(_LEGS)


def _reaching(start: int, against: int, rest_joints_J3: np.ndarray, spanned: Sequence[int]) -> int:
    """The joint at or below ``start`` (down its single-child chain) whose direction says how a bone turns: past
    spanned joints (the bone spans on), and past joints sitting on ``against`` (a BVH's zero-length bone: a metarig
    export's spine starting on the pelvis, its two shoulders starting on one point)."""
    tolerance = 1e-6 * max(float(np.ptp(rest_joints_J3, axis=0).max()), 1e-9)
    while start in AIM_CHILD and (start in spanned or
                                   np.linalg.norm(rest_joints_J3[start] - rest_joints_J3[against]) < tolerance):
        start = AIM_CHILD[start]
    return start


def joint_deltas(motion_TJ3: np.ndarray, rest_joints_J3: np.ndarray, spanned: Sequence[int] = ()) -> np.ndarray:
    """(T, 22, 4) world rotations moving each SMPL joint's rest bone onto the motion (both in one space, Z up).

    Single-child joints: the swing (no twist relative to the parent's delta) pointing the rest direction at the
    child. Pelvis and spine3: the best-fit rotation of their child directions plus the left-right axis. Leaves
    inherit their parent's delta, and so do ``spanned`` joints (``rigs.SPANNED_JOINTS`` the rig has no bone for):
    the bone above them aims past them, at the next joint down (``_reaching``).
    """
    num_frames = len(motion_TJ3)
    deltas = rot.identity((num_frames, NUM_JOINTS))
    for level in _LEVELS:  # joints of one depth at a time: their parents are done
        for joint in (j for j in level if j in BRANCHES):
            kids, (left, right) = BRANCHES[joint]
            kids = [_reaching(kid, joint, rest_joints_J3, spanned) for kid in kids]
            left, right = (_reaching(left, right, rest_joints_J3, spanned),
                           _reaching(right, left, rest_joints_J3, spanned))
            rest = np.concatenate([rest_joints_J3[kids] - rest_joints_J3[joint],
                                   (rest_joints_J3[left] - rest_joints_J3[right])[None]])
            now = np.concatenate([motion_TJ3[:, kids] - motion_TJ3[:, [joint]],
                                  (motion_TJ3[:, left] - motion_TJ3[:, right])[:, None]], axis=1)
            deltas[:, joint] = rot.best_fit_rotation(unit(rest), unit(now))
        aimed = [j for j in level if j in AIM_CHILD and j not in spanned]
        if aimed:
            children = [_reaching(AIM_CHILD[j], j, rest_joints_J3, spanned) for j in aimed]
            parent_delta = deltas[:, [PARENTS[j] for j in aimed]]  # (T, n, 4)
            rest_dir = rot.rotate(parent_delta, unit(rest_joints_J3[children] - rest_joints_J3[aimed]))
            swing = rot.between(rest_dir, unit(motion_TJ3[:, children] - motion_TJ3[:, aimed]))
            deltas[:, aimed] = rot.multiply(swing, parent_delta)
        carried = [j for j in level if (j not in AIM_CHILD and j not in BRANCHES) or j in spanned]
        if carried:
            deltas[:, carried] = deltas[:, [PARENTS[j] for j in carried]]
    return deltas


def _keyed_bones(rest: ArmatureRest, mapped: set[int]) -> list[int]:
    """Mapped bones plus unmapped bones between a mapped ancestor and a mapped descendant, in rig order."""
    has_mapped_descendant: set[int] = set()
    for bone in mapped:
        parent = int(rest.parents[bone])
        while parent >= 0:
            has_mapped_descendant.add(parent)
            parent = int(rest.parents[parent])
    keyed = []
    for bone in rest.order():
        ancestor, under_mapped = int(rest.parents[bone]), False
        while ancestor >= 0 and not under_mapped:
            under_mapped = ancestor in mapped
            ancestor = int(rest.parents[ancestor])
        if bone in mapped or (under_mapped and bone in has_mapped_descendant):
            keyed.append(bone)
    return keyed


@dataclass(frozen=True)
class JointFrames:
    """Where the rig's joints go, per frame, in armature space: each SMPL joint's world delta rotation (``deltas``,
    (T, 22, 4), applied to the rest pose) and its bone head (``heads``, (T, 22, 3), armature units), with the rest
    joints they move from (``rest_joints``, (22, 3)). A rigid transform per joint: any bone that moves with joint j
    goes to ``heads[j] + deltas[j] * (rest - rest_joints[j])`` (control rigs key their controls this way)."""

    deltas: np.ndarray
    heads: np.ndarray
    rest_joints: np.ndarray


def rest_joints_of(rest: ArmatureRest, match: RigMatch) -> np.ndarray:
    """(22, 3) armature-space rest position of each SMPL joint: its bone's head, for a tip its parent's tail, for a
    spanned joint a point along the bone spanning it (``rigs.place_spanned``)."""
    index = np.array([rest.index(name) for name in match.bone_of_joint])
    joints = rest.heads[index].copy()
    for joint in match.tips:
        joints[joint] = rest.tails[index[joint]]
    return rigs.place_spanned(joints, match.spanned) if match.spanned else joints


def _fk_heads(deltas_TJ4: np.ndarray, rest_joints_J3: np.ndarray, root_T3: np.ndarray) -> np.ndarray:
    """(T, 22, 3) joint positions: the root where given, every other joint at its parent plus the parent's delta
    applied to the rest offset (the rig's own bone lengths)."""
    heads = np.empty(deltas_TJ4.shape[:2] + (3,))
    heads[:, 0] = root_T3
    for joint in range(1, NUM_JOINTS):
        parent = PARENTS[joint]
        offset = rest_joints_J3[joint] - rest_joints_J3[parent]
        heads[:, joint] = heads[:, parent] + rot.rotate(deltas_TJ4[:, parent], offset)
    return heads


@dataclass(frozen=True)
class EditRange:
    """Joints that replace frames ``start``..``stop``-1 of a take keyed from ``source`` (T, 22, 3, metres, Y up; the
    joints' length and rate): the take's other frames keep their keys."""

    source_TJ3: np.ndarray
    start: int
    stop: int


def _checked(joints_TJ3: np.ndarray) -> np.ndarray:
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (NUM_JOINTS, 3) or len(joints) == 0:
        raise ValueError(f"expected joints of shape (T, {NUM_JOINTS}, 3), got {joints.shape}")
    if not np.all(np.isfinite(joints)):
        raise ValueError("joints contain non-finite values")
    return joints


def plays_as_is(rest: ArmatureRest, match: RigMatch, joints_TJ3: np.ndarray, smpl_body: bool = False) -> bool:
    """Whether the rig is SMPL's own skeleton for this motion, which stands and steps where the motion does with no
    foot of it pinned: the built-in character made from the motion (its rest joints are ``smpl_rest_joints`` of it,
    to within SKELETON_MATCH_M), or a real SMPL body (``smpl_body``), which the AMASS export places by the same
    leg-ratio rule and must keep matching. The built-in character made for another motion, or with the standard
    proportions, is a rig like any other: with its own hips and legs the motion's floor is not its floor (a take sank
    10 cm into it), so its feet are stood on the floor and pinned."""
    if match.map_name != "smpl":
        return False
    if smpl_body:
        return True
    own = to_z_up(smpl_rest_joints(np.asarray(joints_TJ3, dtype=np.float64)))  # as ``smpl_rig.smpl_character`` does
    return bool(np.abs(rest_joints_of(rest, match) - own).max() <= SKELETON_MATCH_M)


def joint_frames(joints_TJ3: np.ndarray, rest: ArmatureRest, match: RigMatch, *, fps: float = FPS,
                 contacts_T4: np.ndarray | None = None, pin_feet: bool = True,
                 edit: EditRange | None = None, held_frames: Sequence[int] = (), cycle: bool = False,
                 smpl_body: bool = False) -> JointFrames:
    """The per-joint rigid motion that puts ``rest``'s armature into ``joints`` (T, 22, 3, metres, Y up, at ``fps``).

    Root motion is scaled by the ratio of the rig's leg length (hip -> knee -> ankle) to the motion's; the floor
    (y = 0) maps to the armature's z = 0 plane. Except on SMPL's own skeleton for the motion (``plays_as_is``: the
    built-in character made from it, or a real SMPL body (``smpl_body``), which the AMASS export places by the same
    leg-ratio rule and must keep matching to 0.01 mm), the rig's feet are then made to stand and stay
    (``moscale.motion.rig_feet``): the take moves up or down so the lowest point of the rig's soles (from its rest
    pose) touches the floor, and with ``pin_feet`` each foot is held still over the motion's contact plants
    (``contacts`` (T, 4), by default found on the joints, ``feet.contacts_from_joints``) and lifted wherever it would
    go below the floor, its leg re-solved to reach it.

    With ``edit`` (Edit Range: ``joints`` replace some frames of a take), what holds for the whole take is the
    source's, so the new keys meet the kept ones: the root scale and the floor height, and, at the range's ends, the
    foot pins (``rig_feet.meet_kept_pins``). ``held_frames`` (keyed poses: frames of ``joints``) keep their pose as
    the joints give it, feet too: a plant through one is pinned where the rig's foot stands there. With ``cycle`` (a
    loop: the last frame is the first one cycle on) the feet are pinned as the cycle repeats (across its seam).
    """
    joints = _checked(joints_TJ3)
    to_armature = rot.conjugate(rot.normalize(rest.object_rotation))
    motion = rot.rotate(to_armature, to_z_up(joints))  # (T, 22, 3) armature space, metres
    source = motion if edit is None else rot.rotate(to_armature, to_z_up(_checked(edit.source_TJ3)))
    rest_joints = rest_joints_of(rest, match)
    deltas = joint_deltas(motion, rest_joints, match.spanned)  # (T, 22, 4)
    scale = float(leg_length(rest_joints)) / max(float(np.mean(leg_length(source))), 1e-9)
    up = rot.rotate(to_armature, np.array([0.0, 0.0, 1.0]))
    ground_offset = rest_joints[0] - np.dot(rest_joints[0], up) * up
    root_head = scale * motion[:, 0] + ground_offset  # (T, 3) armature space
    heads = _fk_heads(deltas, rest_joints, root_head)
    if plays_as_is(rest, match, joints if edit is None else edit.source_TJ3, smpl_body):
        return JointFrames(deltas, heads, rest_joints)
    shape = rig_feet.foot_shape(rest_joints, np.concatenate([rest.heads, rest.tails]), up)
    rotation, pins = rot.normalize(rest.object_rotation), None
    if edit is None:
        heads = rig_feet.stand_on_floor(shape, deltas, heads, rest_joints)
    else:  # the source as its keys were made: on its floor, with its pins
        kept_deltas = joint_deltas(source, rest_joints, match.spanned)
        kept_heads = _fk_heads(kept_deltas, rest_joints, scale * source[:, 0] + ground_offset)
        floor = rig_feet.lowest_sole(shape, kept_deltas, kept_heads, rest_joints)
        heads, kept_heads = heads - floor * shape.up, kept_heads - floor * shape.up
    if pin_feet:
        contacts = feet.contacts_from_joints(joints, fps) if contacts_T4 is None else np.asarray(contacts_T4, bool)
        held = np.isin(np.arange(len(joints)), held_frames) if len(held_frames) else None
        if edit is not None:
            kept = rig_feet.foot_pins(kept_heads, feet.contacts_from_joints(edit.source_TJ3, fps), rotation, scale, fps)
            pins = rig_feet.meet_kept_pins(kept, rig_feet.foot_pins(heads, contacts, rotation, scale, fps, held),
                                           contacts, edit.start, edit.stop, fps)
        deltas, heads = rig_feet.pin_feet(deltas, heads, rest_joints, shape, contacts, rotation, scale, fps, pins,
                                          held, cycle)
    return JointFrames(deltas, heads, rest_joints)


def retarget(joints_TJ3: np.ndarray, rest: ArmatureRest, match: RigMatch, fps: float = FPS, *,
             pin_feet: bool = True, edit: EditRange | None = None, held_frames: Sequence[int] = (),
             cycle: bool = False, smpl_body: bool = False) -> RetargetResult:
    """Pose-bone rotations and root location that put ``rest``'s armature into the motion ``joints`` (T, 22, 3).

    ``joints`` are metres, Y up (HumanML3D); where the root goes is ``joint_frames``' (``edit``, ``held_frames``,
    ``cycle``, ``smpl_body`` too).
    """
    frames = joint_frames(joints_TJ3, rest, match, fps=fps, pin_feet=pin_feet, edit=edit, held_frames=held_frames,
                          cycle=cycle, smpl_body=smpl_body)
    deltas = frames.deltas
    num_frames = len(deltas)
    bone_index = np.array([rest.index(name) for name in match.bone_of_joint])
    # effective delta of every rig bone: its own if mapped, else its nearest mapped ancestor's (tips and spanned
    # joints own no bone)
    owners = set(match.tips) | set(match.spanned)
    joint_of_bone = {int(bone): joint for joint, bone in enumerate(bone_index) if joint not in owners}
    bone_delta: dict[int, np.ndarray] = {}
    identity = rot.identity((num_frames,))
    for bone in rest.order():
        parent = int(rest.parents[bone])
        bone_delta[bone] = deltas[:, joint_of_bone[bone]] if bone in joint_of_bone else bone_delta.get(parent, identity)

    keyed = _keyed_bones(rest, set(joint_of_bone))
    columns = [column for column, bone in enumerate(keyed) if bone in joint_of_bone]
    bones = [keyed[column] for column in columns]
    own_BT4 = np.stack([bone_delta[bone] for bone in bones], axis=1)  # (T, M, 4)
    parent_BT4 = np.stack([bone_delta.get(int(rest.parents[bone]), identity) for bone in bones], axis=1)
    rest_M4 = rest.rest_quats[bones]
    relative = rot.multiply(rot.conjugate(parent_BT4), own_BT4)
    rotations = rot.identity((num_frames, len(keyed)))  # unmapped bones between mapped ones stay at rest
    rotations[:, columns] = rot.multiply(rot.multiply(rot.conjugate(rest_M4), relative), rest_M4)
    rotations = rot.make_continuous(rot.normalize(rotations))

    root = int(bone_index[0])
    root_location = rot.rotate(rot.conjugate(rest.rest_quats[root]), frames.heads[:, 0] - rest.heads[root])
    names = tuple(rest.names[bone] for bone in keyed)
    return RetargetResult(names, rotations, rest.names[root], root_location, float(fps))


def _sample_at(count_in: int, fps_in: float, fps: float, num_frames: int):
    """(lower, upper, weight) of ``num_frames`` samples at ``fps`` of ``count_in`` frames at ``fps_in``: linear
    interpolation between source frames, the last frame held."""
    position = np.clip(np.arange(num_frames) * (fps_in / fps), 0.0, count_in - 1)
    lower = np.minimum(np.floor(position).astype(np.int64), max(count_in - 2, 0))
    upper = np.minimum(lower + 1, count_in - 1)
    return lower, upper, position - lower  # (N,) each


def joints_at(joints_TJ3: np.ndarray, fps: float, out_fps: float) -> np.ndarray:
    """(N, J, 3) the joints interpolated to ``out_fps``, as many frames as ``resample`` gives a take (the duration
    T / fps kept, the last frame held): every rig's keys, controls or bones, span the same scene frames."""
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    if fps == out_fps or len(joints) < 2:
        return joints
    lower, upper, weight = _sample_at(len(joints), fps, out_fps, max(1, int(round(len(joints) * out_fps / fps))))
    weight = weight[:, None, None]
    return joints[lower] * (1.0 - weight) + joints[upper] * weight


def resample(result: RetargetResult, fps: float, num_frames: int | None = None) -> RetargetResult:
    """Resample to ``fps`` (slerp rotations, linear root location); default length keeps the duration T / fps_in."""
    if num_frames is None:
        num_frames = max(1, int(round(result.num_frames * fps / result.fps)))
    if fps == result.fps and num_frames == result.num_frames:
        return result
    lower, upper, weight = _sample_at(result.num_frames, result.fps, fps, num_frames)
    rotations = rot.slerp(result.rotations[lower], result.rotations[upper], weight[:, None])
    location = result.root_location[lower] * (1.0 - weight[:, None]) + result.root_location[upper] * weight[:, None]
    return RetargetResult(result.bone_names, rot.make_continuous(rotations), result.root_bone, location, float(fps))


def retarget_at(joints_TJ3: np.ndarray, rest: ArmatureRest, match: RigMatch, fps: float, out_fps: float, *,
                pin_feet: bool = True, edit: EditRange | None = None, held_frames: Sequence[int] = (),
                cycle: bool = False, smpl_body: bool = False) -> RetargetResult:
    """``retarget`` for a scene at ``out_fps``, with ``resample``'s frame count. SMPL's own skeleton for the motion
    (``plays_as_is``) is retargeted at ``fps`` and its rotations slerped (exact at the motion's frames); any other rig
    is retargeted from the joints interpolated to ``out_fps``, so its feet are pinned on every frame it plays
    (slerped rotations between two pinned frames would let the foot dip and slide). ``edit``'s source is at ``fps``,
    its range and ``held_frames`` in output frames; ``cycle`` (``joint_frames``) asks for ``fps == out_fps``."""
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    as_is = plays_as_is(rest, match, joints if edit is None else edit.source_TJ3, smpl_body)
    if as_is or fps == out_fps or len(joints) < 2:
        if edit is not None and fps != out_fps:  # the range in the motion's frames
            edit = EditRange(edit.source_TJ3, int(edit.start * fps / out_fps), -int(-edit.stop * fps // out_fps))
        return resample(retarget(joints, rest, match, fps, pin_feet=pin_feet, edit=edit, held_frames=held_frames,
                                 cycle=cycle, smpl_body=smpl_body), out_fps)
    if edit is not None:
        edit = EditRange(joints_at(edit.source_TJ3, fps, out_fps), edit.start, edit.stop)
    return retarget(joints_at(joints, fps, out_fps), rest, match, out_fps, pin_feet=pin_feet, edit=edit,
                    held_frames=held_frames)


def posed_heads(rest: ArmatureRest, result: RetargetResult) -> np.ndarray:
    """(T, B, 3) armature-space head of every rig bone under ``result`` (Blender's pose evaluation, no constraints)."""
    num_frames = result.num_frames
    column = {name: i for i, name in enumerate(result.bone_names)}
    world_rot = np.empty((num_frames, len(rest.names), 4))
    heads = np.empty((num_frames, len(rest.names), 3))
    for bone in rest.order():
        local = result.rotations[:, column[rest.names[bone]]] if rest.names[bone] in column else rot.identity((num_frames,))
        location = result.root_location if rest.names[bone] == result.root_bone else np.zeros((num_frames, 3))
        parent = int(rest.parents[bone])
        if parent < 0:
            to_rest = rot.identity((num_frames,))
            base = np.broadcast_to(rest.heads[bone], (num_frames, 3))
        else:
            to_rest = rot.multiply(world_rot[:, parent], rot.conjugate(rest.rest_quats[parent]))
            base = heads[:, parent] + rot.rotate(to_rest, rest.heads[bone] - rest.heads[parent])
        frame_rot = rot.multiply(to_rest, rest.rest_quats[bone])
        world_rot[:, bone] = rot.multiply(frame_rot, local)
        heads[:, bone] = base + rot.rotate(frame_rot, location)
    return heads
