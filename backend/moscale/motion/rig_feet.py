"""Feet that stay planted on a rig: contacts as a property of the rig's own pose (numpy, no Blender).

A rig with other proportions than the motion's moves its feet differently: root motion is scaled by the leg-length
ratio, but the legs, hips and feet of the rig are not the motion's scaled, so a foot the motion holds still slides on
the rig (several cm per step) and a foot shaped otherwise sinks into the floor or floats. ``retarget.joint_frames``
hands the rig's FK joints here; this module

1. reads the rig's soles (``foot_shape``): on a rest pose that stands on the ground, the point under each ankle
   (the heel), the toe joint and any bones lying on the sole (Rigify's heel bones, toe ends); on any other rest pose
   (a BVH's), the ankle and toe joints, as for the motion's own skeleton;
2. stands the take on the floor (``stand_on_floor``): the whole take moves up or down so its lowest sole point over
   the take touches the floor (the armature's z = 0 plane, where the motion's floor maps);
3. pins the rig's feet (``pin_feet``): in a Y-up metre frame comparable to the motion (object rotation, Z up and
   the leg-ratio scale undone), ``feet.foot_corrections`` holds the rig's own ankle and toe still over every plant
   of the motion's contacts, eased in and out, the toe held from the frame it lands (``toe_down_longer``); the foot
   is lifted wherever a sole point would go below the floor; the knee follows by two-bone IK (where the straight
   leg cannot reach, the heel lifts about the planted toe) and the hip and knee deltas are re-solved to aim at the
   new knee and ankle (the ankle and toe keep their world orientation), so the rotations ``retarget`` writes
   produce those positions. Keyed poses' frames are kept as they are, a plant through one pinned where it has the
   foot (``feet.lock_feet``'s ``held_T``), and a loop is pinned over the cycles before and after (``cycle``).

Frames with nothing to correct keep their deltas and heads bit for bit. SMPL's own skeleton never comes here: it
already stands and steps where the motion does.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from moscale.motion import feet
from moscale.motion import rotations as rot
from moscale.motion.kinematics import unit
from moscale.motion.skeleton import FPS, PARENTS
from moscale.motion.splice import smoothstep, smootherstep

# A rig bone point belongs to a foot's sole when it lies (rest pose, horizontally) within these bounds of the ankle ->
# toe segment, in units of its length: from 0.6 behind the ankle to 0.8 beyond the toe, 0.45 to either side.
_BEHIND, _BEYOND, _SIDE = 0.6, 0.8, 0.45
_TOLERANCE = 1e-3  # of the leg length: points this close to the sole level or the toe's height still count


@dataclass(frozen=True)
class FootShape:
    """The rig's soles (armature space): per foot (left, right) the points that must stay above the floor, each
    carried rigidly by one joint (the ankle, or the toe for points beyond it), and ``up``, the armature's up axis."""

    points: tuple[np.ndarray, np.ndarray]    # (N, 3) each, where they are in the rest pose
    carriers: tuple[np.ndarray, np.ndarray]  # (N,) SMPL joint index each
    up: np.ndarray


def foot_shape(rest_joints_J3: np.ndarray, bone_points_P3: np.ndarray, up_3: np.ndarray) -> FootShape:
    """The soles of a rig from its rest joints (22, 3) and every bone head and tail (P, 3), armature space.

    A rest pose that stands on the z = 0 plane (along ``up``: the plane lies between its lowest ankle/toe joint and
    its ankles, as on Rigify, Mixamo and Unreal rigs, whose toe joints sit a little above the ground) shows the foot:
    each sole is the point under the ankle on that ground (the heel), the toe joint, and the rig's bones lying on
    the sole (heel bones, toe ends) within the foot's outline. Any other rest pose (a BVH whose root sits at the
    origin, LAFAN1's bones all along one axis) says nothing of the ground: the soles are the ankle and toe joints,
    as for the motion's own skeleton (``feet.lock_feet``).
    """
    up = unit(np.asarray(up_3, dtype=np.float64))
    rest = np.asarray(rest_joints_J3, dtype=np.float64)
    bone_points = np.unique(np.asarray(bone_points_P3, dtype=np.float64).reshape(-1, 3), axis=0)  # bones share ends
    leg = float(np.mean([np.linalg.norm(rest[k] - rest[h]) + np.linalg.norm(rest[a] - rest[k])
                         for h, k, a, _ in feet.LEGS]))
    tolerance = _TOLERANCE * leg
    height = rest @ up
    if not -tolerance <= float(height[[7, 8, 10, 11]].min()) < float(height[[7, 8]].min()):
        joints = tuple(np.array([ankle, toe]) for _, _, ankle, toe in feet.LEGS)
        return FootShape(tuple(rest[j] for j in joints), joints, up)

    def flat(points: np.ndarray) -> np.ndarray:
        return points - (points @ up)[..., None] * up

    points, carriers = [], []
    for side, (_, _, ankle, toe) in enumerate(feet.LEGS):
        other_ankle, other_toe = feet.LEGS[1 - side][2:]
        heel = rest[ankle] - height[ankle] * up
        start, along = flat(rest[ankle]), flat(rest[toe] - rest[ankle])
        length2 = max(float(along @ along), 1e-12)
        s = (flat(bone_points) - start) @ along / length2  # (P,) position along the foot, 0 ankle, 1 toe
        lateral = np.linalg.norm(flat(bone_points) - start - s[:, None] * along, axis=-1)
        h = bone_points @ up
        inside = ((s >= -_BEHIND) & (s <= 1 + _BEYOND) & (lateral <= _SIDE * np.sqrt(length2))
                  & (h >= -tolerance) & (h <= height[toe] + tolerance)
                  & (_distance_to_segment(flat(bone_points), start, flat(rest[toe]))
                     <= _distance_to_segment(flat(bone_points), flat(rest[other_ankle]), flat(rest[other_toe]))))
        points.append(np.concatenate([heel[None], rest[toe][None], bone_points[inside]]))
        carriers.append(np.where(np.concatenate([[False, False], s[inside] > 1]), toe, ankle))
    return FootShape(tuple(points), tuple(carriers), up)


def _distance_to_segment(points_P3: np.ndarray, start_3: np.ndarray, stop_3: np.ndarray) -> np.ndarray:
    along = stop_3 - start_3
    s = np.clip((points_P3 - start_3) @ along / max(float(along @ along), 1e-12), 0.0, 1.0)
    return np.linalg.norm(points_P3 - start_3 - s[:, None] * along, axis=-1)


def sole_heights(shape: FootShape, deltas_TJ4: np.ndarray, heads_TJ3: np.ndarray, rest_joints_J3: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(T, N) height above the floor (armature units, along ``shape.up``) of each foot's sole points, left and
    right, with every point moved rigidly by its carrying joint."""
    out = []
    for points, carriers in zip(shape.points, shape.carriers):
        offsets = points - rest_joints_J3[carriers]  # (N, 3)
        posed = heads_TJ3[:, carriers] + rot.rotate(deltas_TJ4[:, carriers], offsets)  # (T, N, 3)
        out.append(posed @ shape.up)
    return out[0], out[1]


def lowest_sole(shape: FootShape, deltas_TJ4: np.ndarray, heads_TJ3: np.ndarray, rest_joints_J3: np.ndarray
                ) -> float:
    """The height of the lowest sole point over the take (armature units, along ``up``)."""
    left, right = sole_heights(shape, deltas_TJ4, heads_TJ3, rest_joints_J3)
    return min(float(left.min()), float(right.min()))


def stand_on_floor(shape: FootShape, deltas_TJ4: np.ndarray, heads_TJ3: np.ndarray, rest_joints_J3: np.ndarray
                   ) -> np.ndarray:
    """``heads`` (T, 22, 3) moved along ``up`` so the lowest sole point over the take is on the floor (height 0)."""
    return heads_TJ3 - lowest_sole(shape, deltas_TJ4, heads_TJ3, rest_joints_J3) * shape.up


def _to_motion_frame(points: np.ndarray, object_rotation: np.ndarray, scale: float) -> np.ndarray:
    """Armature space -> the motion's frame: world Z up -> Y up, metres of the motion's body."""
    world = rot.rotate(object_rotation, points)
    return np.stack([world[..., 0], world[..., 2], -world[..., 1]], axis=-1) / scale


def _from_motion_frame(vectors: np.ndarray, object_rotation: np.ndarray, scale: float) -> np.ndarray:
    world = np.stack([vectors[..., 0], -vectors[..., 2], vectors[..., 1]], axis=-1) * scale
    return rot.rotate(rot.conjugate(object_rotation), world)


def toe_down_longer(contacts_T4: np.ndarray) -> np.ndarray:
    """(T, 4) contacts with each toe down ``feet.TOE_HANDOVER // 2`` frames earlier and later while its heel (ankle)
    is down.

    ``feet.foot_corrections`` passes a plant's pin between the ankle and the toe over TOE_HANDOVER frames centred on
    the toe's touch-down (and lift-off, where the ankle's channel outlasts the toe's), so the toe slides for a frame
    or two while it is down; a rig's foot, often longer than the motion's, rolls further over those frames. Counted
    down longer, the toe is held on every frame it is down, and the hand-over happens while only the heel is down,
    as the foot rolls over it and the ankle moves anyway."""
    contacts = np.asarray(contacts_T4, dtype=bool).copy()
    for ankle, toe in ((0, 1), (2, 3)):
        down = contacts[:, toe].copy()
        for lead in range(1, feet.TOE_HANDOVER // 2 + 1):
            contacts[:-lead, toe] |= down[lead:] & contacts[:-lead, ankle]
            contacts[lead:, toe] |= down[:-lead] & contacts[lead:, ankle]
    return contacts


def _aim(parent_delta_N4: np.ndarray, rest_offset_3: np.ndarray, direction_N3: np.ndarray) -> np.ndarray:
    """The delta of a single-child joint (``retarget.joint_deltas``' rule): its parent's, then the swing that points
    the rest offset along ``direction``."""
    rest_N3 = np.broadcast_to(unit(rest_offset_3), parent_delta_N4.shape[:-1] + (3,))
    rest_direction = rot.rotate(parent_delta_N4, rest_N3)
    return rot.multiply(rot.between(rest_direction, unit(direction_N3)), parent_delta_N4)


def _heel_rise(hip_N3: np.ndarray, ankle_N3: np.ndarray, toe_N3: np.ndarray, reach: float, foot: float
               ) -> np.ndarray:
    """The ankle nearest ``ankle`` that is ``reach`` from the hip and ``foot`` from the toe: where the leg, straight,
    cannot reach the pinned ankle, the heel lifts and the foot pivots about its planted toe (as at push-off). Frames
    where even the toe is out of reach keep ``ankle`` (the IK then pulls it in along the leg)."""
    axis = toe_N3 - hip_N3
    distance = np.linalg.norm(axis, axis=-1, keepdims=True)
    along = (distance ** 2 + reach ** 2 - foot ** 2) / (2 * distance)  # from the hip toward the toe
    radius2 = reach ** 2 - along ** 2
    centre = hip_N3 + axis / distance * along
    off = ankle_N3 - centre
    off = off - (off * axis).sum(-1, keepdims=True) / distance ** 2 * axis
    circle = centre + unit(off) * np.sqrt(np.maximum(radius2, 0.0))
    return np.where((radius2 > 0) & (distance < reach + foot), circle, ankle_N3)


def _blend_frames(fps: float) -> int:
    return max(1, int(round(4 * fps / FPS)))  # lock_feet's 4 frames at 20 fps


def _around(rows: np.ndarray, period: int, shift: np.ndarray | None = None) -> np.ndarray:
    """A cycle's rows (the last one its first, one cycle on) as the cycle before, the cycle and the one after, then
    that last row: each cycle's rows moved by ``shift`` (the cycle's travel) from the one before."""
    if shift is None:
        return np.concatenate([rows[:period]] * 3 + [rows[-1:]])
    return np.concatenate([rows[:period] + k * shift for k in (-1, 0, 1)] + [rows[-1:] + shift])


def foot_pins(heads_TJ3: np.ndarray, contacts_T4: np.ndarray, object_rotation: np.ndarray, scale: float,
              fps: float = FPS, held_T: np.ndarray | None = None, cycle: bool = False) -> np.ndarray:
    """(T, 2, 3) the horizontal pins and re-planting arcs of each foot (left, right) over the plants of ``contacts``
    (``feet.foot_corrections`` on the rig's joints, the toe down longer): translations in the motion's frame (Y up,
    motion metres) that ``pin_feet`` applies; the floor is the soles', there. A plant through a frame of ``held_T``
    (bool, T: keyed poses) is pinned where the rig's foot stands at that frame. With ``cycle`` (a loop: the last frame
    is the first one cycle on, moved by its travel) the pins are found over the cycles before and after, so a plant
    across the seam is one plant, and the last frame's pins are the first's (the cycle's end eased onto them)."""
    if cycle and len(heads_TJ3) > 2:
        period = len(heads_TJ3) - 1
        around = foot_pins(_around(heads_TJ3, period, heads_TJ3[-1, 0] - heads_TJ3[0, 0]),
                           _around(contacts_T4, period), object_rotation, scale, fps,
                           None if held_T is None else _around(held_T, period))
        pins, blend = around[period:2 * period + 1], min(2 * _blend_frames(fps), period)
        # a plant cut into steps differently in two cycles (a foot gliding all along): the end eases onto the pins
        # that lead into the start
        x = (np.arange(blend) + 1) / blend
        weight = smootherstep(x)[:, None, None]
        pins[-blend:] = (1 - weight) * pins[-blend:] + weight * around[period - blend + 1:period + 1]
        return pins
    return feet.foot_corrections(_to_motion_frame(heads_TJ3, object_rotation, scale), toe_down_longer(contacts_T4),
                                 _blend_frames(fps), floor=-np.inf, held_T=held_T)


def meet_kept_pins(kept_T23: np.ndarray, edited_T23: np.ndarray, contacts_T4: np.ndarray, start: int, stop: int,
                   fps: float = FPS) -> np.ndarray:
    """(T, 2, 3) ``foot_pins`` for a take whose frames start..stop-1 are edited and whose other frames keep their keys:
    ``kept`` (the pins the kept keys were made with) outside the range, ``edited`` (the edited motion's, over the
    edited ``contacts``) inside, plus, at each end of the range, the difference of the two there: held while the foot
    stays down on a plant crossing that end (it does not slide), then eased out over the blend frames (at once for a
    foot in the air). So the edited frames meet the kept ones without a jump."""
    pins = np.array(kept_T23, dtype=np.float64)
    pins[start:stop] = edited_T23[start:stop]
    down = toe_down_longer(contacts_T4)
    blend = _blend_frames(fps)
    ease = 1.0 - smoothstep((np.arange(blend) + 1) / (blend + 1))  # smoothly from just below 1 to just above 0
    for side in (0, 1):
        foot_down = down[:, 2 * side] | down[:, 2 * side + 1]
        for border, frames in ((start - 1, np.arange(start, stop)), (stop, np.arange(stop - 1, start - 1, -1))):
            if not 0 <= border < len(pins) or len(frames) == 0:
                continue
            held = int(np.argmin(foot_down[frames])) if not foot_down[frames].all() else len(frames)
            weight = np.zeros(len(frames))
            weight[:held] = 1.0
            weight[held:held + len(ease)] = ease[:len(frames) - held]
            pins[frames, side] += weight[:, None] * (kept_T23[border, side] - edited_T23[border, side])
    return pins


def pin_feet(deltas_TJ4: np.ndarray, heads_TJ3: np.ndarray, rest_joints_J3: np.ndarray, shape: FootShape,
             contacts_T4: np.ndarray, object_rotation: np.ndarray, scale: float, fps: float = FPS,
             pins_T23: np.ndarray | None = None, held_T: np.ndarray | None = None, cycle: bool = False
             ) -> tuple[np.ndarray, np.ndarray]:
    """(deltas, heads) with the rig's feet held still over each plant of ``contacts`` (T, 4; ``feet.CONTACT_JOINTS``
    order) and no sole point below the floor; armature space throughout, ``scale`` armature units per motion metre.
    ``pins`` replaces the pins found on the plants (``foot_pins``; an edit's, ``meet_kept_pins``). Frames of ``held_T``
    (bool, T: keyed poses) stay as they are, as ``feet.lock_feet`` keeps them: a plant through one is pinned where the
    foot stands there, and what a correction would move them is taken out around them (over 0.4 s). ``cycle``: a
    loop, as for ``foot_pins``.

    The foot moves rigidly (the ankle and toe keep their world orientation) and the knee follows by two-bone IK,
    except where the straight leg cannot reach a foot whose toe is down: there the heel lifts about the pinned toe.
    Frames whose feet need no correction are returned bit for bit.
    """
    deltas, heads = deltas_TJ4.copy(), heads_TJ3.copy()
    rest = rest_joints_J3
    n = len(contacts_T4)
    if cycle and n > 2:  # a toe down across the seam
        contacts = toe_down_longer(_around(contacts_T4, n - 1))[n - 1:2 * n - 1]
    else:
        contacts = toe_down_longer(contacts_T4)
    delta_m = (foot_pins(heads_TJ3, contacts_T4, object_rotation, scale, fps, held_T, cycle) if pins_T23 is None
               else np.array(pins_T23, dtype=np.float64))  # (T, 2, 3)
    soles = sole_heights(shape, deltas_TJ4, heads_TJ3, rest)
    for side in (0, 1):
        lowest_m = soles[side].min(axis=1) / scale + delta_m[:, side, 1]
        delta_m[:, side, 1] += np.maximum(-lowest_m, 0.0)
    if held_T is not None:
        delta_m = feet.keep_held(delta_m, held_T, 2 * _blend_frames(fps))
    for side, (hip, knee, ankle, toe) in enumerate(feet.LEGS):
        frames = np.flatnonzero(np.abs(delta_m[:, side]).max(axis=-1) > 0)
        if len(frames) == 0:
            continue
        hips, ankles, toes = heads_TJ3[frames, hip], heads_TJ3[frames, ankle], heads_TJ3[frames, toe]
        target = ankles + _from_motion_frame(delta_m[frames, side], object_rotation, scale)
        toe_target = toes + (target - ankles)
        reach = (np.linalg.norm(rest[knee] - rest[hip]) + np.linalg.norm(rest[ankle] - rest[knee])) * (1 - 1e-4)
        rise = contacts[frames, 2 * side + 1] & (np.linalg.norm(target - hips, axis=-1) > reach)
        target[rise] = _heel_rise(hips[rise], target[rise], toe_target[rise], reach,
                                  float(np.linalg.norm(rest[toe] - rest[ankle])))
        new_knee, new_ankle = feet.two_bone_knee(hips, heads_TJ3[frames, knee], ankles, target, toes)
        heads[frames, knee], heads[frames, ankle] = new_knee, new_ankle
        heads[frames, toe] = toes + (new_ankle - ankles)
        heads[frames[rise], toe] = toe_target[rise]
        # the heel-rise frames pitch the foot about the toe; the toe keeps its world orientation (it bends)
        pitch = rot.between(unit(toes[rise] - ankles[rise]), unit(toe_target[rise] - new_ankle[rise]))
        deltas[frames[rise], ankle] = rot.multiply(pitch, deltas_TJ4[frames[rise], ankle])
        hip_delta = _aim(deltas_TJ4[frames, PARENTS[hip]], rest[knee] - rest[hip], new_knee - hips)
        deltas[frames, hip] = hip_delta
        deltas[frames, knee] = _aim(hip_delta, rest[ankle] - rest[knee], new_ankle - new_knee)
    return deltas, heads
