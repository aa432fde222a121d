"""Feet on the ground: what a viewer sees of foot contact (skating, floor penetration, floating, jerk), and the
foot-lock cleanup that pins a foot while it is in contact.

Contacts come from the 263-d features' contact channels (left ankle, left toe, right ankle, right toe; the model
predicts them with the motion) when the motion has features, else from the joints with the feature codec's rule
(squared per-frame displacement below 0.002 m^2); both with a height test (CONTACT_HEIGHT).

Foot lock, per foot (ankle + toe): each run of contact frames is a plant, over which the toe (where it touches, else
the ankle) is pulled, horizontally, to where it stands on average over the frames of the run it touches the floor.
A run that would need more than MAX_PIN of pull is the model letting a foot glide over the floor (a backward walk
whose "contact" travels metres, a standing body that drifts): it is cut into plants over which the raw toe moves at
most STEP_LENGTH, with a quick re-planting step between them that lifts the foot in an arc, so the foot stands,
steps and stands again as a real one would. Between plants close together the pull passes smoothly from one to the
next; elsewhere it is eased in and out over `blend` frames (so the foot lifts off smoothly), and below-floor frames
are lifted. The foot moves rigidly by that correction and the knee is re-solved by two-bone IK (hip, knee, ankle;
thigh and shin lengths kept, bending in the plane the original knee chose, toward the toes where the leg was nearly
straight, and easing into full extension rather than snapping straight: `two_bone_knee`). The pelvis and upper
body are never touched. Frames whose correction is zero are returned bit-identical, and `editable_T` restricts the
cleanup to a range (edits keep every frame outside it unchanged).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from moscale.motion.features import foot_contacts
from moscale.motion.splice import smoothstep
from moscale.motion.skeleton import CONTACT_SLICE, FEATURE_DIM, FPS, LEFT_FOOT, RIGHT_FOOT

FEET = (LEFT_FOOT, RIGHT_FOOT)  # (ankle, toe) joint indices per foot
LEGS = ((1, 4, 7, 10), (2, 5, 8, 11))  # (hip, knee, ankle, toe) per side
CONTACT_JOINTS = (LEFT_FOOT[0], LEFT_FOOT[1], RIGHT_FOOT[0], RIGHT_FOOT[1])  # order of the contact channels
# m: a contact run that needs a larger pull than this to hold still is cut into plants and re-planting steps
MAX_PIN = 0.3
STEP_LENGTH = 0.25  # m the raw toe may travel over one plant cut out of a longer run (the pin holds it at the mean)
STEP_FRAMES = 4  # frames a re-planting step takes (0.2 s, a quick step)
STEP_RISE, STEP_HEIGHT = 0.3, 0.05  # a re-planting step lifts the foot 0.3 x its length, at most 5 cm
MIN_PLANT = 3  # frames: a shorter contact is a flicker of the predicted channel, not a plant
KNEE_LEAD = 0.1  # of the thigh: a knee the foot lock bends points at least this far toward its toes (two_bone_knee)
SOFT_REACH = 0.02  # of the leg: the foot lock eases a leg into full extension over this last part (two_bone_knee)
TOE_HANDOVER = 5  # frames over which the pin passes from the ankle to the toe (and back)
# m: an ankle / toe joint higher than this above the floor is not in contact (real walking stance, SMPL joints:
# ankle 9-13.5 cm, toe 0-4.5 cm, 5th-95th percentile)
CONTACT_HEIGHT = (0.15, 0.06)


# ---------------------------------------------------------------------------------------------------------------------
# contacts


def contacts_from_features(features_TD: np.ndarray, joints_TJ3: np.ndarray | None = None, floor: float = 0.0
                           ) -> np.ndarray:
    """(T, 4) bool, in CONTACT_JOINTS order, from the features' contact channels; with the joints, also near the
    floor (the channels follow the codec's loose speed rule, under 0.9 m/s, which alone also marks a swinging foot)."""
    features_TD = np.asarray(features_TD)
    if features_TD.ndim != 2 or features_TD.shape[1] != FEATURE_DIM:
        raise ValueError(f"features must have shape (T, {FEATURE_DIM}), got {features_TD.shape}")
    contacts = features_TD[:, CONTACT_SLICE] > 0.5
    if joints_TJ3 is not None:
        contacts &= near_floor(joints_TJ3, floor)
    return contacts


def near_floor(joints_TJ3: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """(T, 4) bool: each contact joint low enough to stand on the floor (CONTACT_HEIGHT)."""
    heights = np.asarray(joints_TJ3, dtype=np.float64)[:, CONTACT_JOINTS, 1] - floor
    return heights < np.array([CONTACT_HEIGHT[0], CONTACT_HEIGHT[1]] * 2)[None]  # ankle, toe, ankle, toe


def contacts_from_joints(joints_TJ3: np.ndarray, fps: float = FPS, floor: float = 0.0) -> np.ndarray:
    """(T, 4) bool: the joint nearly still (the codec's rule, features.foot_contacts, on displacements scaled to
    20 fps; the last frame repeats the one before) and near the floor."""
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    if len(joints) < 2:
        return near_floor(joints, floor)
    # the rule is on the displacement per 20 fps frame: scale the clip so its frames are 20 fps apart in speed
    still = foot_contacts(joints * (fps / FPS))
    return np.concatenate([still, still[-1:]]) & near_floor(joints, floor)


def motion_contacts(joints_TJ3: np.ndarray, features_TD: np.ndarray | None, fps: float) -> np.ndarray:
    if features_TD is not None and len(features_TD) == len(joints_TJ3) and fps == FPS:
        return contacts_from_features(features_TD, joints_TJ3)
    return contacts_from_joints(joints_TJ3, fps)


def runs(mask_T: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of every run of True."""
    padded = np.concatenate([[False], np.asarray(mask_T, dtype=bool), [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def close_gaps(mask_T: np.ndarray, gap: int = 1) -> np.ndarray:
    """Fill holes of at most `gap` frames inside contact (a flicker of the predicted channel is not a step)."""
    mask_T = np.asarray(mask_T, dtype=bool).copy()
    holes = runs(~mask_T)
    for start, stop in holes:
        if start > 0 and stop < len(mask_T) and stop - start <= gap:
            mask_T[start:stop] = True
    return mask_T


# ---------------------------------------------------------------------------------------------------------------------
# what a viewer sees


@dataclass(frozen=True)
class FootStats:
    skating_cm_s: float  # mean horizontal speed of a toe joint over its contact frames (nan: no contact)
    penetration_cm: float  # mean depth of the lowest foot joint below the floor, over all frames
    floating_cm: float  # mean height of the lowest foot joint above the floor, over all frames
    jerk: float  # mean |third derivative| of the joint positions, m/s^3
    contact_fraction: float  # frames with at least one foot joint in contact

    def as_dict(self) -> dict:
        return {"skating_cm_s": self.skating_cm_s, "penetration_cm": self.penetration_cm,
                "floating_cm": self.floating_cm, "jerk": self.jerk, "contact_fraction": self.contact_fraction}


STAT_NAMES = ("skating_cm_s", "penetration_cm", "floating_cm", "jerk")


def foot_stats(joints_TJ3: np.ndarray, contacts_T4: np.ndarray, fps: float = FPS, floor: float = 0.0) -> FootStats:
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    contacts = np.asarray(contacts_T4, dtype=bool)
    feet = joints[:, CONTACT_JOINTS]  # (T, 4, 3)
    if len(joints) > 1:
        # the toes: a planted foot rolls over its toe joint, while a real heel keeps moving ~9 cm/s in contact
        toes = feet[:, 1::2]
        speed = np.linalg.norm(np.diff(toes[..., [0, 2]], axis=0), axis=-1) * fps * 100  # (T-1, 2) cm/s
        in_contact = contacts[:-1, 1::2]
        skating = float(speed[in_contact].mean()) if in_contact.any() else float("nan")
    else:
        skating = float("nan")
    lowest = feet[..., 1].min(axis=1) - floor
    jerk = (float(np.linalg.norm(np.diff(joints, n=3, axis=0), axis=-1).mean() * fps ** 3)
            if len(joints) > 3 else float("nan"))
    return FootStats(skating, float(np.maximum(-lowest, 0).mean() * 100), float(np.maximum(lowest, 0).mean() * 100),
                     jerk, float(contacts.any(axis=1).mean()))


# ---------------------------------------------------------------------------------------------------------------------
# foot lock


def _ease(n: int) -> np.ndarray:
    """n weights rising smoothly from just above 0 to just below 1."""
    return smoothstep((np.arange(n) + 1) / (n + 1))


def clean_contacts(mask_T: np.ndarray, gap: int = 3, shortest: int = MIN_PLANT) -> np.ndarray:
    """Contact runs worth pinning: holes of at most `gap` frames filled (a flicker of the predicted channel is not a
    step), then runs shorter than `shortest` frames dropped."""
    mask_T = close_gaps(mask_T, gap)
    for start, stop in runs(mask_T):
        if stop - start < shortest:
            mask_T[start:stop] = False
    return mask_T


def _run_shift(joints: np.ndarray, c_ankle: np.ndarray, c_toe: np.ndarray, ankle: int, toe: int, start: int,
               stop: int) -> np.ndarray:
    """(stop - start, 2) horizontal pull that holds the foot still over [start, stop): each joint's pull to where it
    stands on average while it touches; the toe's wins where it touches (a real foot rolls heel to toe, its ankle
    moving while the toe stays), the ankle's elsewhere, with the choice eased over TOE_HANDOVER frames so the
    correction does not jump when the toe comes down."""
    pulls = {}
    for joint, touching in ((toe, c_toe[start:stop]), (ankle, c_ankle[start:stop])):
        if not touching.any():  # a plant cut out of a longer run may hold neither channel: hold where it is
            continue
        xz = joints[start:stop, joint][:, [0, 2]]
        pulls[joint] = xz[touching].mean(axis=0) - xz
    if not pulls:
        xz = joints[start:stop, toe][:, [0, 2]]
        return xz.mean(axis=0) - xz
    if len(pulls) == 1:
        (shift,) = pulls.values()
        return shift
    half = TOE_HANDOVER // 2
    touching = c_toe[start:stop].astype(np.float64)
    padded = np.concatenate([np.repeat(touching[:1], half), touching, np.repeat(touching[-1:], half)])
    toe_weight = np.convolve(padded, np.ones(2 * half + 1) / (2 * half + 1), mode="valid")[:, None]
    return toe_weight * pulls[toe] + (1 - toe_weight) * pulls[ankle]


class Plant(NamedTuple):
    start: int
    stop: int
    pull: np.ndarray  # (stop - start, 2) horizontal correction that holds the foot still
    stepped: bool  # a re-planting step leads into this plant (it was cut out of a gliding contact)


def plants(joints: np.ndarray, c_ankle: np.ndarray, c_toe: np.ndarray, ankle: int, toe: int) -> list[Plant]:
    """Every run a foot is held still, in time order. A contact run that needs
    at most MAX_PIN of pull is one plant. A longer one is a foot the model lets glide over the floor (a "contact"
    that travels metres in a backward walk, a standing body that drifts): it is cut into plants over which the toe
    moves at most STEP_LENGTH, each followed by a STEP_FRAMES re-planting step, so the foot stands, steps and
    stands again instead of sliding."""
    either = clean_contacts(c_ankle | c_toe)
    toe_xz = joints[:, toe][:, [0, 2]]
    out = []
    for start, stop in runs(either):
        shift = _run_shift(joints, c_ankle, c_toe, ankle, toe, start, stop)
        if np.linalg.norm(shift, axis=-1).max() <= MAX_PIN:
            out.append(Plant(start, stop, shift, False))
            continue
        first, stepped = start, False
        while stop - first >= MIN_PLANT:
            last = first + 1
            while last < stop and np.linalg.norm(toe_xz[last] - toe_xz[first]) <= STEP_LENGTH:
                last += 1
            if last - first < MIN_PLANT and last < stop:  # too fast to stand even briefly: let it go
                first += 1
                continue
            out.append(Plant(first, last, _run_shift(joints, c_ankle, c_toe, ankle, toe, first, last), stepped))
            first, stepped = last + STEP_FRAMES, True
    return out


def _held_plant(plant: Plant, held_T: np.ndarray) -> Plant:
    """The plant pinned where the foot stands at its held frames: at the one it holds, or passing smoothly from one
    held frame's place to the next's (keys that disagree on where the foot stands)."""
    kept = np.flatnonzero(held_T[plant.start:plant.stop])
    if not len(kept):
        return plant
    t = np.arange(plant.stop - plant.start)
    offset = np.empty_like(plant.pull)
    for axis in range(2):
        offset[:, axis] = np.interp(t, kept, plant.pull[kept, axis])
    for a, b in zip(kept[:-1], kept[1:]):  # eased, not linear, between two held frames
        x = (t[a:b + 1] - a) / (b - a)
        w = x * x * x * (x * (6 * x - 15) + 10)
        offset[a:b + 1] = (1 - w)[:, None] * plant.pull[a] + w[:, None] * plant.pull[b]
    return plant._replace(pull=plant.pull - offset)


def foot_corrections(joints_TJ3: np.ndarray, contacts_T4: np.ndarray, blend: int = 4, floor: float = 0.0,
                     held_T: np.ndarray | None = None) -> np.ndarray:
    """(T, 2, 3) translation of each foot (left, right) that holds it still on each plant (see `plants`). Between
    two plants at most 2 * `blend` frames apart the pull passes smoothly from one to the next (a re-planting step
    also lifts the foot in an arc); elsewhere it eases to zero over `blend` frames after and before each plant (in
    the air, so every contact frame keeps the full pin). No foot joint ends below the floor. A plant holding a frame
    of `held_T` (bool, T: keyed poses) is pinned where the foot stands at that frame, not where it stands on average."""
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    contacts = np.asarray(contacts_T4, dtype=bool)
    T = len(joints)
    delta = np.zeros((T, 2, 3))
    for side, (ankle, toe) in enumerate(FEET):
        shift_T2 = np.zeros((T, 2))
        weight_T = np.zeros(T)
        lift_T = np.zeros(T)
        held = plants(joints, contacts[:, 2 * side], contacts[:, 2 * side + 1], ankle, toe)
        if held_T is not None:  # a keyed frame's foot stays where the key puts it: its plant is pinned there
            held = [_held_plant(plant, np.asarray(held_T, dtype=bool)) for plant in held]
        for plant, after in zip(held, [*held[1:], None]):
            start, stop, shift = plant.start, plant.stop, plant.pull
            shift_T2[start:stop] = shift
            weight_T[start:stop] = 1
            if after is not None and after.start - stop <= 2 * blend:
                # pass from this plant's pull to the next one's over the frames between (no jump at a crossover)
                gap = after.start - stop
                if gap:
                    u = _ease(gap)[:, None]
                    shift_T2[stop:after.start] = (1 - u) * shift[-1] + u * after.pull[0]
                    weight_T[stop:after.start] = 1
                    if after.stepped:  # a re-planting step: the foot was sliding on the floor; lift it over the gap
                        here = joints[stop - 1, toe, [0, 2]] + shift[-1]
                        there = joints[after.start, toe, [0, 2]] + after.pull[0]
                        height = np.clip(STEP_RISE * np.linalg.norm(there - here), 0.0, STEP_HEIGHT)
                        lift_T[stop:after.start] = height * np.sin(np.pi * (np.arange(gap) + 1) / (gap + 1))
                continue
            # ease out after lift-off (plants further apart than 2 * blend: the two easings never overlap)
            for i, w in enumerate(_ease(blend)[::-1]):
                if stop + i < T:
                    shift_T2[stop + i], weight_T[stop + i] = shift[-1], w
        for before, plant in zip([None, *held[:-1]], held):
            # and in before touch-down, unless the previous plant already passes into this one
            if before is not None and plant.start - before.stop <= 2 * blend:
                continue
            for i, w in enumerate(_ease(blend)[::-1]):
                frame = plant.start - 1 - i
                if frame >= 0 and w > weight_T[frame]:
                    shift_T2[frame], weight_T[frame] = plant.pull[0], w
        delta[:, side, 0] = shift_T2[:, 0] * weight_T
        delta[:, side, 2] = shift_T2[:, 1] * weight_T
        # never below the floor (after the horizontal pin, which does not change heights)
        lowest = joints[:, [ankle, toe], 1].min(axis=1) - floor
        delta[:, side, 1] = np.maximum(-lowest, 0) + lift_T
    return delta


def two_bone_knee(hip_N3, knee_N3, ankle_N3, new_ankle_N3, toe_N3=None, soft: float = 0.0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(knee, ankle) after moving the ankle to new_ankle_N3 with the thigh and shin lengths kept; the knee bends
    toward where it pointed before. An unreachable ankle is pulled in along the hip-ankle line.

    With ``toe_N3`` (the foot's toe joint) the knee also bends at least KNEE_LEAD of the thigh toward the toes (eased
    in as the ankle moves up to a twentieth of the thigh, so an ankle left where it is keeps its knee). A leg
    nearly straight, or bent a little backwards, says little about where its knee points: the knee flipped from
    front to back between two frames when the foot lock bent such a leg by a few centimetres.

    ``soft`` (a share of the leg's length) eases the leg into full extension instead of snapping it straight: a
    target beyond the softening start (the leg's length less ``soft`` of it, or the leg's own extension where that is
    more) comes closer to the hip by an exponential that nears full length without reaching it. Near full extension
    the knee moves many times as far as the ankle; eased, a few times at most. A target at the leg's own extension
    or nearer is placed exactly."""
    thigh = np.linalg.norm(knee_N3 - hip_N3, axis=-1)
    shin = np.linalg.norm(ankle_N3 - knee_N3, axis=-1)
    reach = new_ankle_N3 - hip_N3
    distance = np.linalg.norm(reach, axis=-1)
    lo, hi = np.abs(thigh - shin) + 1e-6, (thigh + shin) * (1 - 1e-6)
    u = reach / np.maximum(distance, 1e-9)[:, None]
    if soft > 0:
        own = np.linalg.norm(ankle_N3 - hip_N3, axis=-1)
        start = np.maximum((thigh + shin) * (1 - soft), np.minimum(own, hi))
        width = np.maximum(hi - start, 1e-12)
        distance = np.where(distance > start, start - width * np.expm1(-np.maximum(distance - start, 0) / width),
                            distance)
    clamped = np.clip(distance, lo, hi)
    new_ankle = hip_N3 + u * clamped[:, None]
    along = (thigh ** 2 - shin ** 2 + clamped ** 2) / (2 * clamped)
    radius = np.sqrt(np.maximum(thigh ** 2 - along ** 2, 0))

    def across(vectors):  # the part of each vector square to the hip -> ankle line
        return vectors - (vectors * u).sum(-1, keepdims=True) * u

    pole = across(knee_N3 - hip_N3)
    if toe_N3 is not None:
        toward = across(toe_N3 - ankle_N3)
        toward = toward / np.maximum(np.linalg.norm(toward, axis=-1, keepdims=True), 1e-12)
        lead = (pole * toward).sum(-1, keepdims=True)
        # all of it once the ankle moves a twentieth of the thigh, less for less: no change at all for none
        moved = np.clip(np.linalg.norm(new_ankle_N3 - ankle_N3, axis=-1) / (0.05 * thigh), 0.0, 1.0)[:, None]
        pole = pole + toward * moved * np.maximum(KNEE_LEAD * thigh[:, None] - lead, 0.0)
    pole_norm = np.linalg.norm(pole, axis=-1, keepdims=True)
    forward = np.where(pole_norm > 1e-9, pole / np.maximum(pole_norm, 1e-12), 0.0)
    knee = hip_N3 + u * along[:, None] + forward * radius[:, None]
    return knee, new_ankle


def keep_held(delta_T23: np.ndarray, held_T: np.ndarray, border: int) -> np.ndarray:
    """``delta`` (T, 2, 3 foot corrections) zero at the frames of ``held_T`` (bool, T), the correction each of them
    would get taken out around it, eased over ``border`` frames (the feet move smoothly into a frame kept as it is)."""
    delta, held = np.array(delta_T23, dtype=np.float64), np.asarray(held_T, dtype=bool)
    frames = np.arange(len(delta))
    for _ in range(2):  # twice: keys closer than `border` frames undo a little of each other's removal
        for k in np.flatnonzero(held):
            x = np.clip(np.abs(frames - k) / max(border, 1), 0.0, 1.0)
            delta -= delta[k] * (1.0 - smoothstep(x))[:, None, None]
    delta[held] = 0.0
    return delta


def lock_feet(joints_TJ3: np.ndarray, contacts_T4: np.ndarray, *, blend: int = 4, floor: float = 0.0,
              editable_T: np.ndarray | None = None, border: int = 8, held_T: np.ndarray | None = None) -> np.ndarray:
    """Joints (T, 22, 3) float32 with the feet pinned during contact (see the module docstring). Frames with nothing
    to correct, and every frame outside `editable_T` (bool, T), are returned unchanged bit for bit; inside, the
    cleanup rises from zero over `border` frames from each border of the range (where an edit blends into its
    source). Frames of `held_T` (bool, T: keyed poses) are also returned unchanged, but the feet stay pinned through
    them: a plant holding one is pinned where the foot stands there, and a correction a held frame would get (in the
    air between two plants) is taken out around it over `border` frames."""
    original = np.asarray(joints_TJ3)
    joints = original.astype(np.float64)
    delta = foot_corrections(joints, contacts_T4, blend, floor, held_T)
    if held_T is not None:
        delta = keep_held(delta, held_T, border)
    if editable_T is not None:
        editable = np.asarray(editable_T, dtype=bool)
        if editable.shape != (len(joints),):
            raise ValueError(f"editable_T must have shape ({len(joints)},), got {editable.shape}")
        # ease the correction to zero at both borders of each editable range so the cleanup does not open a seam
        weight = np.zeros(len(joints))
        for start, stop in runs(editable):
            weight[start:stop] = 1
            n = min(border, (stop - start) // 2)
            if n > 0:
                rise = smoothstep(np.arange(n) / n)  # 0 on the border frame itself
                if start > 0:
                    weight[start:start + n] = np.minimum(weight[start:start + n], rise)
                if stop < len(joints):
                    weight[stop - n:stop] = np.minimum(weight[stop - n:stop], rise[::-1])
        delta *= weight[:, None, None]
    out = original.astype(np.float32, copy=True)
    for side, (hip, knee, ankle, toe) in enumerate(LEGS):
        frames = np.flatnonzero(np.abs(delta[:, side]).max(axis=-1) > 0)
        if len(frames) == 0:
            continue
        target = joints[frames, ankle] + delta[frames, side]
        new_knee, new_ankle = two_bone_knee(joints[frames, hip], joints[frames, knee], joints[frames, ankle], target,
                                            joints[frames, toe], soft=SOFT_REACH)
        moved = new_ankle - joints[frames, ankle]  # the delta, less what the leg could not reach
        out[frames, knee] = new_knee
        out[frames, ankle] = new_ankle
        out[frames, toe] = joints[frames, toe] + moved
    return out
