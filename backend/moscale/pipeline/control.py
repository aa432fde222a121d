"""Control beyond words: a drawn path, poses keyed at frames, loops and cycles in place.

    walk = pipe.generate("a person walks", path=GroundPath.load("path.json"))        # along the path
    keyed = pipe.generate("a person waves", seconds=4, poses={0: pose_a, 60: pose_b})  # through the poses
    cycle = pipe.generate("a person jogs", seconds=2, loop=True, in_place=True)        # a game cycle
    both = pipe.generate("a person walks", path=path, poses={70: pose_a})             # along the path, through a pose

The order of work on a take (docs/control.md has the measurements behind each choice):
1. the model generates the prompt (its feet not pinned yet);
2. keyed poses: the take is bent through them (`moscale.motion.keyposes`), then the model regenerates the frames between
   keys as in-betweens around that placeholder (the zero-shot editing of `moscale.pipeline.editing`, the keys locked);
   with a path, this happens in the take's own frame (the keys taken back through its carry along the path), and the
   result is carried along the path with each key's frame where its pelvis stands on the path (`_keys_on_path`);
3. loop: the take is cut at a calm frame past its first moments, and its end bent and blended into its own first
   frames, moved by the cycle's travel (a key on the first frame is the pose the cycle returns to);
4. path: the root is carried along the path, round its corners rounded and slowing into sharp ones
   (`moscale.motion.paths`); a take made long for a path is cut where it reaches the path's end;
5. the feet are pinned where the take's contacts were before 3-4 moved the body (over the repeated cycle for a loop, so
   the pins cross the seam); keyed frames are never touched, and a plant through one is pinned where the key has
   the foot;
6. in place: the travel is taken out (`moscale.motion.cycles`), last, so the feet stay planted relative to the body.
"""
from __future__ import annotations

import random
import re
from typing import Any

import numpy as np

from moscale.motion import feet
from moscale.motion.clip import Motion
from moscale.motion.cycles import cycle_offset, in_place as remove_travel, repeated
from moscale.motion.keyposes import REACH_FRAMES, warp_to_poses
from moscale.motion.measures import PELVIS
from moscale.motion.paths import GroundPath, carry
from moscale.motion.splice import coast, smootherstep, splice
from moscale.pipeline import editing

# The pace of a prompt when a path sets the length: the middle of the speed bands the training captions were written
# with (moscale.motion.measures: walks 1.0-1.6 m/s, slowly < 1.0, quickly >= 1.6, jogs 2.2-2.6, runs to 3.4, sprints).
PACES = (("sprint", 3.8), ("run", 3.0), ("jog", 2.4), ("crawl", 0.5), ("walk", 1.3))
AWAY_WORDS = re.compile(r"\b(backwards?|sideways|to the (left|right)|side ?steps?)\b", re.I)  # facing away: slower
SLOW_WORDS = re.compile(r"\b(slow(ly)?|leisurely|stroll\w*|careful(ly)?|tired(ly)?)\b", re.I)
QUICK_WORDS = re.compile(r"\b(quick(ly)?|fast|brisk(ly)?|hurr\w*|rush\w*)\b", re.I)
PATH_SLACK = 1.4  # a path without a length: the take is made this much longer than the pace table says, then cut where
# its own travel covers the path (the model's paces vary by seed and prompt: walks 0.9-1.3 m/s) ...
PATH_ENDING_S = 1.0  # ... and this much longer again: a take's last second is its ending, where the model slows down or
# settles. A cut inside it put a run's pelvis, ahead of its decelerating travel line, 17 cm past the path's end.
LOOP_SEAM_S = 1.2  # the end of a loop that is regenerated into its start
LOOP_LEAD_FRAMES = 16  # generated before a loop's first frame and dropped (its start is the calmest frame there)
LOOP_CONTEXT_FRAMES = 24  # frames of the start shown after the end as the seam's target
LOOP_PIN_BLEND = 8  # frames over which a loop's pinned end is eased onto what leads into its start
KEY_PATH_M = 0.5  # m: a keyed pose's pelvis farther from the path is refused (the key and the path disagree)
KEY_BACK_M = 0.25  # m: a key may stand this much further back along the path than the key before it, no more


def prompt_pace(prompt: str) -> float:
    """Metres per second a prompt's gait travels at (walks when it names none), for a path without a length."""
    words = prompt.lower()
    pace = next((speed for stem, speed in PACES if re.search(rf"\b{stem}", words)), 1.3)
    if AWAY_WORDS.search(words):
        pace *= 0.5
    if SLOW_WORDS.search(words):
        pace *= 0.65
    elif QUICK_WORDS.search(words):
        pace *= 1.3
    return pace


def path_frames(pipe, path: GroundPath, prompt: str, slack: float = 1.0, ending_s: float = 0.0,
                anchors: dict[int, float] | None = None) -> int:
    """The take's length when a path gives it: the path's length at the prompt's pace (times `slack`, plus `ending_s`),
    in whole latent steps. With keyed poses on the path (`anchors`, from `key_anchors`), at least long enough to pass
    the last key and go on from it to the path's end the same way (the slack and the ending counted from the key)."""
    pace = prompt_pace(prompt)
    seconds = path.length_m / pace
    unit = pipe.tokenizer.config.downsample
    if seconds * pipe.fps > pipe.max_frames:
        raise ValueError(f"the path is {path.length_m:.1f} m: at this prompt's pace ({pace:.1f} m/s) that takes "
                         f"{seconds:.0f} s, longer than the {pipe.max_frames / pipe.fps:.0f} s a take can be; shorten "
                         f"the path or give a faster prompt")
    frames = int(round((seconds * slack + ending_s) * pipe.fps / unit)) * unit
    if anchors:
        last = max(anchors)
        rest = (path.rounded().length_m - anchors[last]) / pace
        frames = max(frames, int(np.ceil((last + 1 + (rest * slack + ending_s) * pipe.fps) / unit)) * unit)
    return min(max(pipe.min_frames, frames), pipe.max_frames // unit * unit)


def check_controls(path, poses, loop: bool, in_place: bool, frames: int) -> dict[int, np.ndarray]:
    """Validate the combination and the keyed poses ({frame: (22, 3) joints}, frames inside the take)."""
    if path is not None and not isinstance(path, GroundPath):
        raise TypeError(f"path must be a moscale.motion.paths.GroundPath, got {type(path).__name__}")
    if path is not None and (loop or in_place):
        asked = [name for name, on in (("loop", loop), ("in place", in_place)) if on]
        raise ValueError(f"a path cannot be combined with {' or '.join(asked)}: the path decides where the body "
                         f"goes and where it ends (use one or the other)")
    if poses and in_place:
        raise ValueError("keyed poses cannot be combined with in place: the keys fix where the body stands")
    keys = {}
    for frame, pose in (poses or {}).items():
        if isinstance(frame, bool) or not isinstance(frame, (int, np.integer)):
            raise ValueError(f"a keyed pose's frame must be a whole number, got {frame!r}")
        if not 0 <= int(frame) < frames:
            raise ValueError(f"keyed pose at frame {frame} is outside the take (frames 0 to {frames - 1} at 20 fps)")
        array = np.asarray(pose, dtype=np.float64)
        if array.shape != (22, 3):
            raise ValueError(f"keyed pose at frame {frame}: expected SMPL-22 joints of shape (22, 3), got "
                             f"{array.shape}")
        if not np.isfinite(array).all():
            raise ValueError(f"keyed pose at frame {frame}: {int((~np.isfinite(array)).any(-1).sum())} of its 22 "
                             "joints are not finite numbers (NaN or infinite)")
        keys[int(frame)] = array
    return keys


def key_anchors(path: GroundPath, keys: dict[int, np.ndarray]) -> dict[int, float]:
    """{frame: metres along the path's rounded line} where each keyed pose's pelvis stands, for `paths.carry`. Keyed
    poses are in the same space as the path: a key whose pelvis is more than KEY_PATH_M from it, or that stands
    further back along it than the key before, is refused (the keys and the path would disagree)."""
    if not keys:
        return {}
    frames = sorted(keys)
    pelvis = np.array([keys[frame][PELVIS, [0, 2]] for frame in frames])
    away, _ = path.project(pelvis)
    for frame, distance in zip(frames, away):
        if distance > KEY_PATH_M:
            raise ValueError(f"keyed pose at frame {frame}: its pelvis is {distance:.2f} m from the path (at most "
                             f"{KEY_PATH_M} m): key the pose on the path, or draw the path through it")
    _, along = path.rounded().project(pelvis)
    anchors, reached, before = {}, 0.0, None
    for frame, distance in zip(frames, along):
        if before is not None and distance < reached - KEY_BACK_M:
            raise ValueError(f"keyed poses at frames {before} and {frame} go back along the path ({reached:.2f} m, "
                             f"then {distance:.2f} m from its start): key the poses in the order the path is walked")
        reached, before = max(reached, float(distance)), frame
        anchors[frame] = reached
    return anchors


def _sampling(sampling: dict, seed: int, offset: int, foot_lock: bool = False) -> dict:
    """Options for an in-between pass: the take's sampling settings with a seed of its own."""
    allowed = ("guidance", "schedule", "temperature", "top_p", "top_k", "cancel")
    options = {key: value for key, value in sampling.items() if key in allowed}
    return dict(editing.sampling_defaults(options), seed=seed + offset, foot_lock=foot_lock)


def _key_inbetweens(pipe, joints: np.ndarray, keys: dict[int, np.ndarray], prompt: str, seed: int,
                    sampling: dict, foot_lock: bool) -> np.ndarray:
    """The model's in-betweens around the keys: every stretch between keys (and before the first / after the last)
    regenerated as an edit, the key frames locked (frames outside each stretch keep their bits)."""
    frames = sorted(keys)
    shortest = editing.min_edit_frames(pipe.tokenizer.config.downsample, pipe.model.config.factors)
    stretches = [(0, frames[0])] + [(a + 1, b) for a, b in zip(frames[:-1], frames[1:])] + [(frames[-1] + 1, len(joints))]
    for i, (start, end) in enumerate(stretches):
        if end - start < shortest:
            continue  # too short for a token of the finest scale: the warp's frames stay
        # each in-between pins its feet where the model says they stand (the warp's placeholder has no contacts)
        joints = editing.regenerate_range(pipe, joints, start, end, prompt, kind="keys",
                                          **_sampling(sampling, seed, 1 + i, foot_lock)).joints.astype(np.float64)
    return joints


def _keys_on_path(pipe, joints: np.ndarray, keys: dict, path: GroundPath, anchors: dict, cut: bool, prompt: str,
                  seed: int, sampling: dict, foot_lock: bool):
    """Keyed poses on a path: the keys taken back into the take's own frame (`Carried.unbend`, through the take's
    carry along the path with each key's frame at its place), the take bent through them and in-betweened there as
    without a path (the model's gait is straight there), then carried along the path (each key's frame at its place)
    and bent onto the keys once more for what that carry left (a key's pelvis beside the path, its turn), each key's
    share reaching 1 s to either side, so the take swerves to a key beside the path and back onto it. Returns
    (joints, contacts from before the carry, the carry)."""
    bent = carry(joints, path, pipe.fps, cut=cut, min_frames=pipe.min_frames, anchors=anchors)
    own = {frame: bent.unbend(pose, frame) for frame, pose in keys.items()}
    joints = warp_to_poses(joints, own)
    joints = _key_inbetweens(pipe, joints, own, prompt, seed, sampling, foot_lock)
    contacts = feet.contacts_from_joints(joints, pipe.fps)
    carried = carry(joints, path, pipe.fps, cut=cut, min_frames=pipe.min_frames, anchors=anchors)
    return warp_to_poses(carried.joints, keys, root_reach=REACH_FRAMES), contacts[: len(carried.joints)], carried


def calm_start(joints: np.ndarray, lead: int) -> int:
    """Where a loop starts among the first `lead` frames: past the take's first moments (a generated take often starts
    mid-gesture), at the calmest frame, so the seam (which carries the start's velocity) falls where little moves."""
    if lead < 2:
        return lead
    moves = np.linalg.norm(np.diff(np.asarray(joints[: lead + 2], dtype=np.float64), axis=0), axis=-1).max(axis=-1)
    candidates = np.arange(lead // 4 + 1, lead + 1)
    return int(candidates[np.argmin(moves[candidates - 1] + moves[candidates])])


def _loop_seam(pipe, joints: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """The take's last LOOP_SEAM_S bent and blended into its own first frames, moved by the travel of one cycle, so
    the end flows into the start (`moscale.motion.splice`: the trajectory lands on the start, turns, steps and pose
    cross-fade from the take's own end frames over half the seam at each side). Returns the take, the seam's frames
    and the cycle's offset (x, z).

    Why not the model: regenerating the seam as an in-between (an edit pass over the seam and its context) was
    measured on walks, jogs, waves and dances (docs/control.md): the same seam jumps and velocity changes, twice the
    generation time."""
    n = len(joints)
    unit = pipe.tokenizer.config.downsample
    seam = min(int(LOOP_SEAM_S * pipe.fps) // unit * unit, n // 2 // unit * unit)
    if seam < editing.min_edit_frames(unit, pipe.model.config.factors):
        raise ValueError(f"a loop needs at least {4 * unit} frames ({4 * unit / pipe.fps:.1f} s)")
    kept = joints[: n - seam]
    offset = cycle_offset(kept) * n / max(n - seam, 1)  # the kept part's travel, continued over the seam
    context = min(LOOP_CONTEXT_FRAMES, n - seam)
    target = repeated(joints[:context], offset, 2)[context:]  # the first frames, where the next repetition has them
    # near the end, the seam blends toward a placeholder that glides into the target (as in-betweening's does)
    weight = smootherstep(np.arange(1, seam + 1) / (seam + 1))[:, None, None]
    filler = (1 - weight) * coast(kept, seam) + weight * coast(target[::-1], seam)[::-1]
    working = np.concatenate([kept, filler, target])
    own = np.concatenate([joints, target])
    # turns, steps and pose cross-fade over half the seam from each side (over an edit's 8 frames, a waving hand
    # changed speed at the seam by more than anywhere else in the take in 16 of 60 loops; over half the seam, 4)
    return splice(working, own, n - seam, n, seam // 2)[:n], seam, offset


def _pin_feet(joints: np.ndarray, contacts: np.ndarray, keys: dict, offset: np.ndarray | None) -> np.ndarray:
    """Feet pinned where `contacts` says, the keyed frames kept (a plant through a key is pinned where the key puts
    the foot); a loop (its cycle `offset` given) is pinned as the repeating cycle it is."""
    held = np.zeros(len(joints), dtype=bool)
    held[list(keys)] = True
    if offset is None:
        return feet.lock_feet(joints, contacts & feet.near_floor(joints), held_T=held).astype(np.float64)
    n = len(joints)
    thrice = repeated(joints, offset, 3)
    pinned = feet.lock_feet(thrice, np.tile(contacts, (3, 1)) & feet.near_floor(thrice), held_T=np.tile(held, 3))
    shift = np.array([offset[0], 0.0, offset[1]])
    middle = pinned[n: 2 * n].astype(np.float64) - shift
    # a plant cut differently in two repetitions (a long stand is cut into steps) leaves the middle cycle's end not
    # quite flowing into its start: its last frames cross-fade onto the frames that lead into the start
    blend = min(LOOP_PIN_BLEND, n // 2)
    weight = smootherstep(np.arange(1, blend + 1) / blend)[:, None, None]
    lead_in = pinned[n - blend: n].astype(np.float64)
    middle[n - blend:] = (1 - weight) * middle[n - blend:] + weight * lead_in
    return middle


def generate(pipe, prompt: str, *, seconds: float | None = None, frames: int | None = None,
             path: GroundPath | None = None, poses: dict | None = None, loop: bool = False, in_place: bool = False,
             seed: int | None = None, foot_lock: bool = True, progress=None, **sampling: Any) -> Motion:
    """One take under the controls (see the module doc). With a path and no length, the length follows from the path
    and the prompt's pace. metadata records the controls ('path', 'keyed_frames', 'loop', 'cycle_offset', 'in_place')."""
    cut = path is not None and seconds is None and frames is None
    if cut:
        keys = check_controls(path, poses, loop, in_place, pipe.max_frames)
        frames = path_frames(pipe, path, prompt, PATH_SLACK, PATH_ENDING_S, key_anchors(path, keys))
    frames = pipe.resolve_frames(seconds, frames)
    keys = check_controls(path, poses, loop, in_place, frames)
    anchors = key_anchors(path, keys) if path is not None else {}  # refused before the model runs
    seed = random.randrange(2**31) if seed is None else int(seed)
    lead = min(LOOP_LEAD_FRAMES, pipe.max_frames - frames) if loop else 0
    base = pipe.generate(prompt, frames=frames + lead, seed=seed, foot_lock=False, progress=progress, **sampling)
    start = calm_start(base.joints, lead) if loop else 0
    joints = np.asarray(base.joints, dtype=np.float64)[start:start + frames]
    contacts = feet.motion_contacts(base.joints, base.features, pipe.fps)[start:start + frames]
    carried = None
    if keys and path is not None:
        joints, contacts, carried = _keys_on_path(pipe, joints, keys, path, anchors, cut, prompt, seed, sampling,
                                                  foot_lock)
    elif keys:
        joints = warp_to_poses(joints, keys)
        joints = _key_inbetweens(pipe, joints, keys, prompt, seed, sampling, foot_lock)
        contacts = feet.contacts_from_joints(joints, pipe.fps)
    offset = None
    if loop:
        joints, seam, offset = _loop_seam(pipe, joints)
        contacts[-seam:] = feet.contacts_from_joints(joints, pipe.fps)[-seam:]
    if path is not None and carried is None:
        carried = carry(joints, path, pipe.fps, cut=cut, min_frames=pipe.min_frames)  # cut where it covers the path
        joints, contacts = carried.joints, contacts[: len(carried.joints)]
    if foot_lock:
        joints = _pin_feet(joints, contacts, keys, offset)
    if in_place:
        joints = remove_travel(joints, pipe.fps, loop_offset=offset)
        offset = None if offset is None else np.zeros(2)
    for frame, pose in keys.items():  # the keyed frames are the poses as given, bit for bit
        joints[frame] = pose
    metadata = dict(base.metadata, foot_lock=bool(foot_lock), loop=bool(loop), in_place=bool(in_place),
                    frames=len(joints))
    if path is not None:  # path_stretch: the (rounded) line walked over the take's own travel (1: its own pace)
        metadata.update(path=path.points.round(4).tolist(), path_length_m=round(path.length_m, 4),
                        path_stretch=round(float(carried.stretch), 3))
    if keys:
        metadata["keyed_frames"] = sorted(keys)
    if offset is not None:
        metadata["cycle_offset"] = [float(offset[0]), float(offset[1])]
    return Motion(joints.astype(np.float32), fps=pipe.fps, prompt=prompt, metadata=metadata)


def carry_along(pipe, motion: Motion, path: GroundPath) -> Motion:
    """A finished take (a timeline) carried along `path`, its feet pinned again where they were planted: each part of
    the take covers the part of the path its own travel covers."""
    if not isinstance(path, GroundPath):
        raise TypeError(f"path must be a moscale.motion.paths.GroundPath, got {type(path).__name__}")
    contacts = feet.contacts_from_joints(motion.joints, motion.fps)
    joints = carry(motion.joints, path, motion.fps).joints
    if motion.metadata.get("foot_lock", True):
        joints = _pin_feet(joints, contacts, {}, None)
    metadata = dict(motion.metadata, path=path.points.round(4).tolist(), path_length_m=round(path.length_m, 4))
    return Motion(joints.astype(np.float32), fps=motion.fps, prompt=motion.prompt, metadata=metadata)
