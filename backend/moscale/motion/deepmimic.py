"""DeepMimic ``humanoid3d`` motion files -> SMPL-22 joint positions (numpy only).

    joints_TJ3, fps = read_deepmimic("humanoid3d_walk.txt")   # (T, 22, 3) metres, Y up, facing +Z at rest
    label, phrases = deepmimic_action("humanoid3d_walk")       # ("walk", ("walks forward", ...))

The file format (DeepMimic's ``data/motions/*.txt``) is JSON, ``{"Loop": "wrap" | "none", "Frames": [...]}``; one
row per frame: the frame's duration in seconds, the root position (3, metres, Y up), the root rotation (w, x, y, z),
then one value group per joint of the humanoid in file order: a (w, x, y, z) quaternion for a spherical joint, one
angle in radians for a revolute joint. The humanoid's wrists are fixed joints and take no values, so a row holds
1 + 3 + 4 + 8 x 4 + 4 x 1 = 44 numbers (every stored clip matches). Other keys ("RightJoints", "CycleSyncRootPos",
"VelFilterCutoff", ...) only matter to DeepMimic's trainer and are ignored.

The skeleton is DeepMimic's character file ``data/characters/humanoid3d.txt`` (xbpeng/DeepMimic), whose numbers are
copied into ``HUMANOID3D`` below: joint attach points in metres in the parent joint's frame, all ``AttachTheta`` zero.
Forward kinematics is the usual ``G_j = G_parent q_j``, ``P_j = P_parent + G_parent attach_j``. Revolute joints (knees,
elbows) turn about their local +Z axis: DeepMimic's convention, and the one that agrees with the file's joint limits
(knee in [-pi, 0] swings the shin backwards, elbow in [0, pi] the forearm forwards, for a body facing +X).

Frames: the humanoid faces +X with its right side at +Z (DeepMimic's heading is measured from +X; walk clips travel
along +X). SMPL / HumanML3D faces +Z with its right side at -X, so the whole clip, root path included, is turned by
-90 degrees about +Y: ``(x, y, z) -> (-z, y, x)``. Heights are left as in the file (its floor is y = 0; the sole of
the foot box lies 5 cm below the ankle joint, so a planted ankle reads about 0.05 m). The character is adult sized
(leg 0.83 m, standing pelvis ~0.88 m, top of the head ~1.62 m), so no scaling is applied.

SMPL-22 joints DeepMimic does not have are rigid points on its bodies (their bone lengths are constant over time);
their placements are estimates from the humanoid's own body shapes and SMPL's proportions, not measured data:

* spine1 halfway from root to chest (SMPL puts spine1 ~0.55 of the way to its spine2), spine2 = chest (both sit
  ~0.5 of the way from pelvis to neck), spine3 a quarter of the way from chest to neck;
* head 0.11 m above the neck along the neck's frame (the head sphere is centred 0.175 m up with radius ~0.1 m;
  SMPL's head joint sits at the base of the skull, ~0.10 m above its neck);
* collars on the chest, 0.08 m either side of the midline at 0.19 m above the chest joint (SMPL's collars are
  ~0.45 of the way out to the shoulders, a little below them);
* toes (SMPL's "foot" joints) 0.12 m ahead of the ankle along the foot and 0.04 m below it, i.e. the ball of the
  foot 1 cm above the sole of the 0.177 m foot box (which reaches 0.134 m ahead of the ankle);
* wrists are DeepMimic's own fixed wrist joints, 0.259 m down the forearm.

Frames are taken as evenly spaced at the median positive duration (DeepMimic gives the last row a duration of 0).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from moscale.motion import kinematics
from moscale.motion import rotations as rot
from moscale.motion.skeleton import JOINT_NAMES

# (name, parent, type, attach point in the parent joint's frame, metres), from humanoid3d.txt; file order
HUMANOID3D: tuple[tuple[str, int, str, tuple[float, float, float]], ...] = (
    ("root", -1, "none", (0.0, 0.0, 0.0)),
    ("chest", 0, "spherical", (0.0, 0.236151, 0.0)),
    ("neck", 1, "spherical", (0.0, 0.223894, 0.0)),
    ("right_hip", 0, "spherical", (0.0, 0.0, 0.084887)),
    ("right_knee", 3, "revolute", (0.0, -0.421546, 0.0)),
    ("right_ankle", 4, "spherical", (0.0, -0.409870, 0.0)),
    ("right_shoulder", 1, "spherical", (-0.02405, 0.24350, 0.18311)),
    ("right_elbow", 6, "revolute", (0.0, -0.274788, 0.0)),
    ("right_wrist", 7, "fixed", (0.0, -0.258947, 0.0)),
    ("left_hip", 0, "spherical", (0.0, 0.0, -0.084887)),
    ("left_knee", 9, "revolute", (0.0, -0.421546, 0.0)),
    ("left_ankle", 10, "spherical", (0.0, -0.409870, 0.0)),
    ("left_shoulder", 1, "spherical", (-0.02405, 0.24350, -0.18311)),
    ("left_elbow", 12, "revolute", (0.0, -0.274788, 0.0)),
    ("left_wrist", 13, "fixed", (0.0, -0.258947, 0.0)),
)
HUMANOID_NAMES = tuple(joint[0] for joint in HUMANOID3D)
REVOLUTE_AXIS = np.array([0.0, 0.0, 1.0])  # local axis of every revolute joint
_VALUES_PER_TYPE = {"none": 7, "spherical": 4, "revolute": 1, "fixed": 0}  # the root's 7: position + quaternion
ROW_WIDTH = 1 + sum(_VALUES_PER_TYPE[joint[2]] for joint in HUMANOID3D)  # 44: the duration first

# SMPL-22 joints that are rigid points on a humanoid body: (SMPL name, humanoid joint, offset in its frame, metres)
_CHEST_Y, _NECK_Y = HUMANOID3D[1][3][1], HUMANOID3D[2][3][1]
EXTRA_POINTS: tuple[tuple[str, str, tuple[float, float, float]], ...] = (
    ("spine1", "root", (0.0, 0.5 * _CHEST_Y, 0.0)),
    ("spine3", "chest", (0.0, 0.25 * _NECK_Y, 0.0)),
    ("head", "neck", (0.0, 0.11, 0.0)),
    ("right_collar", "chest", (-0.012, 0.19, 0.08)),
    ("left_collar", "chest", (-0.012, 0.19, -0.08)),
    ("right_foot", "right_ankle", (0.12, -0.04, 0.0)),
    ("left_foot", "left_ankle", (0.12, -0.04, 0.0)),
)
# SMPL-22 joints that are humanoid joints (the humanoid's name where it differs)
_SAME_JOINT = {"pelvis": "root", "spine2": "chest"}

# world turn applied to the whole clip: the humanoid faces +X, SMPL faces +Z; y_rotation(-pi/2) maps +X to +Z
FACING_TO_SMPL = rot.y_rotation(-0.5 * np.pi)


class DeepMimicError(ValueError):
    """A file that is not a readable DeepMimic humanoid3d motion; the message starts with the source."""


@dataclass(frozen=True)
class DeepMimicClip:
    """One motion, as stored (the humanoid's frame: Y up, facing +X)."""

    durations_T: np.ndarray  # (T,) seconds each frame lasts
    root_pos_T3: np.ndarray  # (T, 3) metres
    local_quats_TJ4: np.ndarray  # (T, 15, 4) unit (w, x, y, z) per HUMANOID3D joint; root = its world rotation
    loop: str = "none"

    @property
    def fps(self) -> float:
        """Frames per second: 1 / the median positive duration."""
        return float(1.0 / np.median(self.durations_T[self.durations_T > 0]))


# ----------------------------------------------------------------------------------------------- parsing
def parse_deepmimic(text: str, source: str = "<string>") -> DeepMimicClip:
    """Parse a motion file's text; raises ``DeepMimicError`` (a ValueError) with a one-line reason."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise DeepMimicError(f"{source}: not JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("Frames"), list):
        raise DeepMimicError(f"{source}: no 'Frames' list (not a DeepMimic motion file)")
    rows = data["Frames"]
    if not rows:
        raise DeepMimicError(f"{source}: 'Frames' is empty")
    for index, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != ROW_WIDTH:
            size = len(row) if isinstance(row, list) else type(row).__name__
            raise DeepMimicError(f"{source}: frame {index} has {size} values, expected {ROW_WIDTH} (duration, root "
                                 "position 3, root rotation 4, 8 spherical joints x 4, 4 revolute joints x 1)")
        if not all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in row):
            raise DeepMimicError(f"{source}: frame {index} holds a value that is not a number")
    frames_TC = np.asarray(rows, dtype=np.float64)
    bad = ~np.isfinite(frames_TC)
    if bad.any():
        raise DeepMimicError(f"{source}: frame {int(np.argwhere(bad)[0, 0])} has a non-finite value (NaN or inf)")
    durations = frames_TC[:, 0]
    if (durations < 0).any() or not (durations > 0).any():
        raise DeepMimicError(f"{source}: frame durations (first value of each row) must be >= 0 and not all 0")
    loop = data.get("Loop", "none")
    return DeepMimicClip(durations, frames_TC[:, 1:4].copy(), _joint_rotations(frames_TC, source),
                         loop if isinstance(loop, str) else "none")


def _joint_rotations(frames_TC: np.ndarray, source: str) -> np.ndarray:
    """(T, 15, 4) local rotations from the rows' joint columns (after the duration and root position)."""
    quats = rot.identity((len(frames_TC), len(HUMANOID3D)))
    column = 4
    for joint, (name, _, kind, _) in enumerate(HUMANOID3D):
        if kind in ("none", "spherical"):
            values = frames_TC[:, column:column + 4]
            norms = np.linalg.norm(values, axis=-1)
            if (norms < 1e-6).any():
                frame = int(np.argmax(norms < 1e-6))
                raise DeepMimicError(f"{source}: frame {frame} has a zero quaternion for joint {name!r}")
            quats[:, joint] = values / norms[:, None]  # files round to 6 decimals: renormalise
            column += 4
        elif kind == "revolute":
            quats[:, joint] = rot.from_axis_angle(frames_TC[:, column, None] * REVOLUTE_AXIS)
            column += 1
    return quats


def read_deepmimic_clip(path: str | Path) -> DeepMimicClip:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DeepMimicError(f"{path}: not a text file") from None
    return parse_deepmimic(text, str(path))


# ----------------------------------------------------------------------------------------------- joints
def _skeleton() -> tuple[list[int], np.ndarray, list[int]]:
    """The humanoid plus the extra points as one tree: parents, offsets (J', 3) and each SMPL-22 joint's index."""
    parents = [joint[1] for joint in HUMANOID3D]
    offsets = [joint[3] for joint in HUMANOID3D]
    index = {name: i for i, name in enumerate(HUMANOID_NAMES)}
    for smpl_name, body, offset in EXTRA_POINTS:
        index[smpl_name] = len(parents)
        parents.append(HUMANOID_NAMES.index(body))
        offsets.append(offset)
    order = [index[_SAME_JOINT.get(name, name)] for name in JOINT_NAMES]
    return parents, np.array(offsets, dtype=np.float64), order


def clip_to_smpl_joints(clip: DeepMimicClip) -> np.ndarray:
    """(T, 22, 3) SMPL-22 joint positions in metres, Y up, the rest pose facing +Z (see the module docstring)."""
    parents, offsets, order = _skeleton()
    num_frames = len(clip.root_pos_T3)
    local = rot.identity((num_frames, len(parents)))  # extra points are rigid: identity rotations
    local[:, :len(HUMANOID3D)] = clip.local_quats_TJ4
    points = kinematics.forward_kinematics(local, clip.root_pos_T3, offsets, parents)  # (T, J', 3)
    return rot.rotate(FACING_TO_SMPL, points[:, order])


def read_deepmimic(path: str | Path) -> tuple[np.ndarray, float]:
    """Read a DeepMimic humanoid3d motion file: (T, 22, 3) float64 SMPL-22 joints (metres, Y up) and its fps."""
    clip = read_deepmimic_clip(path)
    return clip_to_smpl_joints(clip), clip.fps


# ----------------------------------------------------------------------------------------------- actions
_TOP_LEVEL: dict[str, tuple[str, tuple[str, ...]]] = {
    "backflip": ("backflip", ("does a backflip", "flips backwards", "does a back somersault")),
    "cartwheel": ("cartwheel", ("does a cartwheel", "turns a cartwheel")),
    "crawl": ("crawl", ("crawls forward on hands and knees", "crawls on all fours")),
    "dance_a": ("dance", ("dances", "does a dance")),
    "dance_b": ("dance", ("dances", "dances in place")),
    "dance_spin": ("dance spin", ("dances and spins around", "spins while dancing")),
    "getup_facedown": ("get up", ("gets up from lying face down", "stands up from the floor, starting face down")),
    "getup_faceup": ("get up", ("gets up from lying on the back", "stands up from the floor, starting face up")),
    "jog": ("jog", ("jogs forward", "jogs")),
    "jump": ("jump", ("jumps forward", "leaps forward")),
    "kick": ("kick", ("kicks", "kicks with the right leg")),
    "punch": ("punch", ("punches", "throws a punch")),
    "roll": ("roll", ("does a forward roll", "rolls forward on the ground")),
    "run": ("run", ("runs forward", "runs")),
    "sideflip": ("side flip", ("does a side flip", "flips sideways")),
    "spin": ("spin", ("spins around", "turns around in place")),
    "spinkick": ("spin kick", ("does a spinning kick", "spins and kicks")),
    "stealthy_walk": ("sneak", ("walks stealthily", "sneaks forward", "tiptoes forward")),
    "walk": ("walk", ("walks forward", "walks")),
    "zombie_walk": ("zombie walk", ("walks like a zombie", "shambles forward like a zombie")),
}
_LONG: dict[str, tuple[str, tuple[str, ...]]] = {
    "long_walk": ("walk", ("walks around", "walks and turns")),
    "long_zombie": ("zombie walk", ("walks around like a zombie", "shambles around like a zombie")),
    # these long takes sneak in every direction relative to the hips (forwards, sideways, backwards)
    "stealthy_walk": ("sneak", ("sneaks around", "creeps around stealthily, stepping forwards, sideways and back")),
}
# Sony's clips (sie/): numbered takes of one action; (series, takes, label and phrases)
_SIE: tuple[tuple[str, int, tuple[str, tuple[str, ...]]], ...] = (
    ("punch_forward", 3, ("punch", ("punches forward", "throws punches straight ahead"))),
    ("punch_left", 1, ("punch", ("punches to the left", "turns left and punches"))),
    ("run_forward", 16, ("run", ("runs forward", "runs straight ahead"))),
    ("run_left", 15, ("run", ("runs and turns left", "runs in a curve to the left"))),
    ("run_right", 15, ("run", ("runs and turns right", "runs in a curve to the right"))),
)


def _actions() -> dict[str, tuple[str, tuple[str, ...]]]:
    actions = {f"humanoid3d_{name}": action for name, action in _TOP_LEVEL.items()}
    actions.update({f"humanoid3d_long_walk{take}{mirror}": _LONG["long_walk"]
                    for take in (1, 2, 3) for mirror in ("", "_mirror")})
    actions["humanoid3d_long_zombie"] = _LONG["long_zombie"]
    actions.update({f"humanoid3d_stealthy_walk{take}": _LONG["stealthy_walk"] for take in (0, 1)})
    actions.update({f"sie_humanoid3d_{series}{take:02d}": action
                    for series, takes, action in _SIE for take in range(takes)})
    return actions


DEEPMIMIC_ACTIONS: dict[str, tuple[str, tuple[str, ...]]] = _actions()
_SIE_SERIES = {f"sie_humanoid3d_{series}": action for series, _, action in _SIE}


def deepmimic_action(stem: str) -> tuple[str, tuple[str, ...]] | None:
    """(action label, plain English phrases) for a clip's file stem (a file name or path also works), else None.

    Takes of a Sony series beyond the stored ones (``sie_humanoid3d_run_left15``) fall back to their series."""
    stem = Path(stem).name.removesuffix(".txt")
    if stem in DEEPMIMIC_ACTIONS:
        return DEEPMIMIC_ACTIONS[stem]
    return _SIE_SERIES.get(re.sub(r"\d+$", "", stem))
