"""Source mocap skeletons -> SMPL-22 joint positions (metres, Y up, 20 fps), before HumanML3D preprocessing.

A *rig map* says, for each of the 22 SMPL joints, where it sits on a source skeleton. Built-in maps live in
``assets/rigs/*.json`` (bandai, cmu_cgspeed, mixamo, lafan); ``--rig-map my_map.json`` adds your own. Format::

    {
      "name": "my_rig",
      "metres_per_unit": 0.01,          # number, or "auto": inferred from the leg length (m, cm, mm or inches)
      "up_axis": "y",                   # "y", "z" (Z-up, right-handed) or "auto" (from the rest pose)
      "detect": ["Hips", "LeftToe"],    # optional: names that must all exist for auto-detection
      "joints": {                       # all 22 SMPL names (moscale.motion.skeleton.JOINT_NAMES), each a RULE
        "pelvis": "Hips",
        "spine2": {"along": [{"mean": ["LeftUpLeg", "RightUpLeg"]}, "Spine", "Neck"], "t": 0.56},
        "left_foot": {"end_site": "LeftFoot"},
        ...
      }
    }

A RULE is one of
    "Name"                              the source joint's position (a namespace prefix such as ``mixamorig:`` on the
                                        source joint is ignored, so one map serves both spellings)
    {"mean": [RULE, ...]}               the average of several points
    {"lerp": [RULE, RULE], "t": 0.3}    a + t (b - a)
    {"along": [RULE, ...], "t": 0.5}    the point at fraction t of the polyline's length (e.g. SMPL's three spine
                                        joints on a rig with fewer: points along hips -> chest -> neck)
    {"end_site": "Name"}                the joint's BVH End Site (e.g. a toe on a rig that has no toe joint)
    {"offset": [x, y, z], "from": "Name"}  a point fixed to the joint, in its local frame and the file's units

``load_source_clip`` reads a BVH, applies the map, converts units and axes, trims a leading T-pose (and the blend
out of it), puts the floor at y = 0 and resamples to 20 fps by linear interpolation of positions. Retargeting to the
uniform skeleton is ``features.preprocess_joints``'s job.
"""
from __future__ import annotations

import dataclasses

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np

from moscale.motion import bvh
from moscale.motion.cleaning import floor_height, leading_tpose_frames, resample
from moscale.motion.skeleton import FPS, JOINT_INDEX, JOINT_NAMES, PARENTS
from moscale.utils.paths import ASSETS

# the repository's assets/rigs (editable installs); MOSCALE_RIGS_DIR points elsewhere (e.g. an installed add-on)
RIGS_DIR = Path(os.environ.get("MOSCALE_RIGS_DIR") or ASSETS / "rigs")
BUILTIN_RIGS = ("bandai", "cmu_cgspeed", "mixamo", "lafan", "rigify_metarig")
RIG_ALIASES = {"cmu": "cmu_cgspeed", "lafan1": "lafan", "bandai_namco": "bandai"}
Rule = Union[str, dict]

_UNITS = {"metres": 1.0, "centimetres": 0.01, "millimetres": 0.001, "inches": 0.0254}
_TYPICAL_LEG_M = 0.83  # hip -> knee -> ankle of an adult, for unit inference
_RULE_KEYS = {"mean", "lerp", "along", "end_site", "offset"}


class RigError(ValueError):
    """A rig map is malformed, or a skeleton matches no rig map."""


# ----------------------------------------------------------------------------------------------- rig maps
@dataclass(frozen=True)
class RigMap:
    name: str
    joints: dict[str, Rule]  # SMPL joint name -> rule
    metres_per_unit: float | None = None  # None: infer from the leg length
    up_axis: str = "y"  # "y", "z" or "auto"
    detect: tuple[str, ...] = ()
    description: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any], origin: str = "<dict>") -> "RigMap":
        unknown = set(data) - {"name", "joints", "metres_per_unit", "up_axis", "detect", "description"}
        if unknown:
            raise RigError(f"{origin}: unknown keys {sorted(unknown)}")
        joints = data.get("joints")
        if not isinstance(joints, dict):
            raise RigError(f"{origin}: 'joints' must map each SMPL joint name to a rule")
        missing = [n for n in JOINT_NAMES if n not in joints]
        extra = [n for n in joints if n not in JOINT_INDEX]
        if missing or extra:
            raise RigError(f"{origin}: 'joints' must name exactly the 22 SMPL joints; missing {missing}, "
                           f"unknown {extra} (valid: {', '.join(JOINT_NAMES)})")
        for joint, rule in joints.items():
            _validate_rule(rule, f"{origin}: joints.{joint}")
        units = data.get("metres_per_unit", "auto")
        if units != "auto" and not (isinstance(units, (int, float)) and units > 0):
            raise RigError(f"{origin}: metres_per_unit must be a positive number or 'auto', got {units!r}")
        up_axis = data.get("up_axis", "auto")
        if up_axis not in ("y", "z", "auto"):
            raise RigError(f"{origin}: up_axis must be 'y', 'z' or 'auto', got {up_axis!r}")
        return cls(name=str(data.get("name") or Path(origin).stem), joints=dict(joints),
                   metres_per_unit=None if units == "auto" else float(units), up_axis=up_axis,
                   detect=tuple(data.get("detect", ())), description=str(data.get("description", "")))

    @classmethod
    def from_json(cls, path: str | Path) -> "RigMap":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise RigError(f"{path}: not valid JSON ({error})") from None
        return cls.from_dict(data, str(path))

    def source_names(self) -> set[str]:
        """Every source joint name the rules refer to."""
        names: set[str] = set(self.detect)
        for rule in self.joints.values():
            names |= _rule_names(rule)
        return names


def _validate_rule(rule: Rule, where: str) -> None:
    if isinstance(rule, str):
        return
    if not isinstance(rule, dict) or len(set(rule) & _RULE_KEYS) != 1:
        raise RigError(f"{where}: a rule is a joint name or a dict with one of {sorted(_RULE_KEYS)}, got {rule!r}")
    if "mean" in rule:
        if not rule["mean"]:
            raise RigError(f"{where}: 'mean' needs at least one rule")
        for sub in rule["mean"]:
            _validate_rule(sub, where)
    elif "lerp" in rule or "along" in rule:
        key = "lerp" if "lerp" in rule else "along"
        points = rule[key]
        if not isinstance(points, list) or len(points) < 2 or (key == "lerp" and len(points) != 2):
            raise RigError(f"{where}: '{key}' needs {'two' if key == 'lerp' else 'two or more'} rules")
        if not isinstance(rule.get("t"), (int, float)):
            raise RigError(f"{where}: '{key}' needs a number 't'")
        for sub in points:
            _validate_rule(sub, where)
    elif "end_site" in rule:
        if not isinstance(rule["end_site"], str):
            raise RigError(f"{where}: 'end_site' takes a joint name")
    elif "offset" in rule:
        if not isinstance(rule.get("from"), str) or len(rule["offset"]) != 3:
            raise RigError(f"{where}: 'offset' needs [x, y, z] and a joint name in 'from'")


def _rule_names(rule: Rule) -> set[str]:
    if isinstance(rule, str):
        return {rule}
    if "mean" in rule:
        return set().union(*(_rule_names(r) for r in rule["mean"]))
    if "lerp" in rule or "along" in rule:
        return set().union(*(_rule_names(r) for r in rule.get("lerp", rule.get("along"))))
    return {rule.get("end_site") or rule["from"]}


def builtin_rig(name: str) -> RigMap:
    path = RIGS_DIR / f"{RIG_ALIASES.get(name, name)}.json"
    if not path.is_file():
        raise RigError(f"unknown rig {name!r}; built-in rigs: {', '.join(BUILTIN_RIGS)} (or pass a rig map JSON)")
    return RigMap.from_json(path)


def builtin_rigs() -> list[RigMap]:
    return [builtin_rig(name) for name in BUILTIN_RIGS]


# ----------------------------------------------------------------------------------------------- name lookup
class _Names:
    """Source joint name -> index: exact, then without a namespace prefix ('mixamorig:Hips'), then ignoring case."""

    def __init__(self, names: list[str]) -> None:
        self.exact = {n: i for i, n in enumerate(names)}
        self.bare: dict[str, int] = {}
        self.folded: dict[str, int] = {}
        clashes: set[str] = set()
        for i, n in enumerate(names):
            bare = n.rsplit(":", 1)[-1]
            for table, key in ((self.bare, bare), (self.folded, bare.lower())):
                if key in table and table[key] != i:
                    clashes.add(key)
                table.setdefault(key, i)
        for key in clashes:
            self.bare.pop(key, None)
            self.folded.pop(key, None)

    def find(self, name: str) -> int | None:
        for table, key in ((self.exact, name), (self.bare, name.rsplit(":", 1)[-1]),
                           (self.folded, name.rsplit(":", 1)[-1].lower())):
            if key in table:
                return table[key]
        return None


def unmapped_joints(rig: RigMap, names: list[str]) -> dict[str, list[str]]:
    """SMPL joints whose rule refers to a source name the skeleton lacks -> those missing names."""
    lookup = _Names(names)
    missing: dict[str, list[str]] = {}
    for joint, rule in rig.joints.items():
        absent = sorted(n for n in _rule_names(rule) if lookup.find(n) is None)
        if absent:
            missing[joint] = absent
    return missing


def detect_rig(names: list[str], candidates: list[RigMap] | None = None) -> RigMap:
    """The first candidate (custom maps first, then built-ins) that maps every SMPL joint and whose ``detect``
    names all exist. Raises RigError listing, for the closest candidate, the SMPL joints it could not map."""
    candidates = builtin_rigs() if candidates is None else candidates
    lookup = _Names(names)
    scored = []
    for rig in candidates:
        missing = unmapped_joints(rig, names)
        detect_ok = all(lookup.find(n) is not None for n in rig.detect)
        if not missing and detect_ok:
            return rig
        scored.append((len(missing) + (0 if detect_ok else 1), rig, missing))
    _, closest, missing = min(scored, key=lambda item: item[0])
    listing = "; ".join(f"{joint} (needs {', '.join(repr(n) for n in absent)})" for joint, absent in missing.items())
    raise RigError(
        f"unknown rig: no rig map fits this skeleton ({len(names)} joints: {', '.join(names[:12])}"
        f"{', ...' if len(names) > 12 else ''}). Closest built-in map '{closest.name}' cannot map "
        f"{len(missing)} of 22 SMPL joints: {listing or 'its detect names are missing'}. "
        f"Write a rig map JSON naming, for each of the 22 SMPL joints ({', '.join(JOINT_NAMES)}), a joint of your "
        f"skeleton or a rule (format: moscale.motion.sources module docstring, examples in assets/rigs/) and pass it with "
        f"--rig-map my_map.json (Python: load_source_clip(path, rig_map='my_map.json'))."
    )


# ----------------------------------------------------------------------------------------------- rule evaluation
@dataclass
class _Pose:
    skeleton: bvh.BvhSkeleton
    positions: np.ndarray  # (F, J, 3) file units
    rotations: np.ndarray  # (F, J, 3, 3) global
    lookup: _Names = field(init=False)

    def __post_init__(self) -> None:
        self.lookup = _Names(self.skeleton.names)

    def index(self, name: str) -> int:
        found = self.lookup.find(name)
        if found is None:
            raise RigError(f"no joint named {name!r} in this skeleton")
        return found

    def point(self, rule: Rule) -> np.ndarray:
        """(F, 3) position of a rule."""
        if isinstance(rule, str):
            return self.positions[:, self.index(rule)]
        if "mean" in rule:
            return np.mean([self.point(r) for r in rule["mean"]], axis=0)
        if "lerp" in rule:
            a, b = (self.point(r) for r in rule["lerp"])
            return a + float(rule["t"]) * (b - a)
        if "along" in rule:
            return _along(np.stack([self.point(r) for r in rule["along"]], axis=1), float(rule["t"]))
        if "end_site" in rule:
            joint = self.index(rule["end_site"])
            site = self.skeleton.end_sites[joint]
            if site is None:
                raise RigError(f"joint {rule['end_site']!r} has no End Site")
            return self.positions[:, joint] + self.rotations[:, joint] @ site
        joint = self.index(rule["from"])
        return self.positions[:, joint] + self.rotations[:, joint] @ np.asarray(rule["offset"], dtype=np.float64)

    def smpl(self, rig: RigMap) -> np.ndarray:
        """(F, 22, 3) SMPL joints in file units and axes. A joint the map cannot place names --joint-map."""
        points = []
        for name in JOINT_NAMES:
            try:
                points.append(self.point(rig.joints[name]))
            except RigError as error:
                raise RigError(f"rig map '{rig.name}' cannot place the SMPL joint {name}: {error}; name the "
                               f"skeleton's joints with --joint-map map.json, e.g. {{\"{name}\": \"<joint>\"}} "
                               "(Python: joint_map=...)") from None
        return np.stack(points, axis=1)


def _along(points_FP3: np.ndarray, t: float) -> np.ndarray:
    """(F, 3) point at fraction t of each frame's polyline length through P points."""
    segments = np.linalg.norm(np.diff(points_FP3, axis=1), axis=-1)  # (F, P-1)
    cumulative = np.concatenate([np.zeros((len(segments), 1)), np.cumsum(segments, axis=1)], axis=1)
    target = t * cumulative[:, -1:]  # (F, 1)
    index = np.clip((cumulative[:, 1:] < target).sum(axis=1), 0, segments.shape[1] - 1)  # segment of each frame
    rows = np.arange(len(points_FP3))
    start, length = cumulative[rows, index], np.maximum(segments[rows, index], 1e-12)
    weight = np.clip((target[:, 0] - start) / length, 0.0, 1.0)[:, None]
    return points_FP3[rows, index] + weight * (points_FP3[rows, index + 1] - points_FP3[rows, index])


def rest_pose(skeleton: bvh.BvhSkeleton) -> _Pose:
    """The skeleton's rest pose (offsets only, no rotation) as a one-frame pose."""
    positions = np.zeros((1, skeleton.num_joints, 3))
    for joint, parent in enumerate(skeleton.parents):
        positions[0, joint] = skeleton.offsets[joint] + (positions[0, parent] if parent >= 0 else 0.0)
    rotations = np.broadcast_to(np.eye(3), (1, skeleton.num_joints, 3, 3)).copy()
    return _Pose(skeleton, positions, rotations)


def _z_up_to_y_up(points: np.ndarray) -> np.ndarray:
    return np.stack([points[..., 0], points[..., 2], -points[..., 1]], axis=-1)


def _up_axis(rig: RigMap, rest_smpl: np.ndarray) -> str:
    if rig.up_axis != "auto":
        return rig.up_axis
    torso = rest_smpl[0, JOINT_INDEX["neck"]] - rest_smpl[0, JOINT_INDEX["pelvis"]]
    axis = int(np.argmax(np.abs(torso)))
    if axis == 1 and torso[1] > 0:
        return "y"
    if axis == 2 and torso[2] > 0:
        return "z"
    raise RigError(f"rig {rig.name!r}: cannot tell the up axis from the rest pose (pelvis -> neck = {torso}); "
                   "set \"up_axis\" in the rig map")


def leg_length(joints_F223: np.ndarray) -> float:
    """Mean hip -> knee -> ankle length over both legs and all frames, in the joints' units."""
    j = joints_F223
    lengths = [np.linalg.norm(j[:, a] - j[:, b], axis=-1) for a, b in ((1, 4), (4, 7), (2, 5), (5, 8))]
    return float(np.mean(lengths) * 2)


def infer_metres_per_unit(leg: float) -> float:
    """The unit (metres, centimetres, millimetres or inches) that makes a leg of ``leg`` units closest to 0.83 m."""
    if not leg > 0:
        raise RigError("cannot infer units: the rest pose has zero leg length")
    return min(_UNITS.values(), key=lambda unit: abs(math.log(leg * unit / _TYPICAL_LEG_M)))


# ----------------------------------------------------------------------------------------------- loading
@dataclass(frozen=True)
class SourceInfo:
    """What ``load_source_clip`` did to a file."""

    path: str
    rig: str
    source_fps: float
    source_frames: int
    metres_per_unit: float
    up_axis: str
    tpose_frames: int  # leading source frames dropped (T-pose and the blend out of it)
    floor_offset_m: float  # height of the floor that was moved to y = 0
    max_root_speed_mps: float  # fastest pelvis frame-to-frame speed at the source rate (teleports show up here)
    fps: float
    frames: int

    @property
    def seconds(self) -> float:
        return self.frames / self.fps


def resolve_rig(rig: str | RigMap | None, rig_map: str | Path | dict | RigMap | None,
                names: list[str]) -> RigMap:
    """The rig map to use: ``rig_map`` (a path, dict or RigMap) wins, then a built-in name, then auto-detection."""
    if rig_map is not None:
        chosen = rig_map if isinstance(rig_map, RigMap) else (
            RigMap.from_dict(rig_map) if isinstance(rig_map, dict) else RigMap.from_json(rig_map))
    elif isinstance(rig, RigMap):
        chosen = rig
    elif rig is not None:
        chosen = builtin_rig(rig)
    else:
        return detect_rig(names)
    missing = unmapped_joints(chosen, names)
    if missing:
        listing = "; ".join(f"{joint} (needs {', '.join(map(repr, absent))})" for joint, absent in missing.items())
        raise RigError(f"rig map '{chosen.name}' does not fit this skeleton: {listing}")
    return chosen


def load_source_clip(
    path: str | Path,
    rig: str | RigMap | None = None,
    rig_map: str | Path | dict | RigMap | None = None,
    *,
    fps: float = FPS,
    trim_tpose: bool = True,
    fix_floor: bool = True,
) -> tuple[np.ndarray, SourceInfo]:
    """A BVH file -> ((T, 22, 3) float32 SMPL-22 joints at ``fps``, metres, Y up, floor at y = 0; SourceInfo).

    ``rig`` names a built-in map (bandai, cmu_cgspeed, mixamo, lafan, rigify_metarig) or is None to detect it from the joint names;
    ``rig_map`` is a custom map (JSON path, dict or RigMap). The body keeps its source facing and position
    (``features.preprocess_joints`` moves it to the origin facing +Z and retargets the bone lengths).
    """
    clip = bvh.read_bvh(path)
    return clip_to_smpl(clip, resolve_rig(rig, rig_map, clip.skeleton.names), source=str(path), fps=fps,
                        trim_tpose=trim_tpose, fix_floor=fix_floor)


def clip_to_smpl(clip: bvh.BvhClip, rig: RigMap, *, source: str = "<clip>", fps: float = FPS,
                 trim_tpose: bool = True, fix_floor: bool = True) -> tuple[np.ndarray, SourceInfo]:
    """``load_source_clip`` on an already parsed clip with a known rig map."""
    rest = rest_pose(clip.skeleton).smpl(rig)  # (1, 22, 3) file units
    up_axis = _up_axis(rig, rest)
    unit = rig.metres_per_unit or infer_metres_per_unit(leg_length(rest))
    positions, rotations = bvh.forward_kinematics(clip)
    joints = _Pose(clip.skeleton, positions, rotations).smpl(rig) * unit
    if up_axis == "z":
        joints = _z_up_to_y_up(joints)
    if len(joints) < 2:
        raise ValueError(f"{source}: needs at least 2 frames, has {len(joints)}")
    trimmed = leading_tpose_frames(joints, clip.fps) if trim_tpose else 0
    joints = joints[trimmed:]
    root_speed = np.linalg.norm(np.diff(joints[:, 0], axis=0), axis=-1) * clip.fps
    floor = floor_height(joints) if fix_floor else 0.0
    joints = joints - np.array([0.0, floor, 0.0])
    joints = resample(joints, clip.fps, fps).astype(np.float32)
    info = SourceInfo(path=source, rig=rig.name, source_fps=clip.fps, source_frames=clip.num_frames,
                      metres_per_unit=unit, up_axis=up_axis, tpose_frames=trimmed, floor_offset_m=floor,
                      max_root_speed_mps=float(root_speed.max()) if len(root_speed) else 0.0,
                      fps=float(fps), frames=len(joints))
    return joints, info


# ----------------------------------------------------------------------------------------------- one detection path
def joint_map_rig(mapping: dict[str, str], name: str = "joint_map") -> RigMap:
    """A ``--joint-map`` JSON ({SMPL joint name: file joint name}; unnamed joints keep their SMPL names) as a rig
    map. A full rig map (with "joints") is read as one."""
    if "joints" in mapping:
        return RigMap.from_dict(mapping, origin=name)
    unknown = sorted(set(mapping) - set(JOINT_NAMES))
    if unknown:
        raise RigError(f"{name}: keys must be SMPL joint names ({', '.join(JOINT_NAMES)}); unknown {unknown}")
    return RigMap(name, {joint: str(mapping.get(joint, joint)) for joint in JOINT_NAMES}, metres_per_unit=None)


def _absent_joints(rig: RigMap, joint_map: dict, names: list[str]) -> RigMap:
    """A --joint-map that leaves out a joint the skeleton has none for, as the automatic detection takes it: a hand,
    toe or head at its parent joint's End Site; an in-between joint (spine1, spine2, neck, a collar: a short spine)
    along the line from the joint above to the joint below (``rigs.spans``). So a correct map of a rig without hands,
    toes or a full spine fits."""
    from moscale.motion.rigs import SPANNED_JOINTS, TIP_JOINTS, spans

    if "joints" in joint_map:
        return rig
    lookup = _Names(names)
    rules = dict(rig.joints)
    absent = [j for j in TIP_JOINTS + SPANNED_JOINTS
              if JOINT_NAMES[j] not in joint_map and lookup.find(str(rules[JOINT_NAMES[j]])) is None]
    for joint in (j for j in absent if j in TIP_JOINTS):
        name, parent = JOINT_NAMES[joint], rules[JOINT_NAMES[PARENTS[joint]]]
        if isinstance(parent, str) and PARENTS[joint] not in absent:
            rules[name] = {"end_site": parent}
    spanned = [j for j in absent if j in SPANNED_JOINTS]
    for joint, (above, below, t) in spans(spanned).items():
        rules[JOINT_NAMES[joint]] = {"lerp": [rules[JOINT_NAMES[above]], rules[JOINT_NAMES[below]]], "t": t}
    return dataclasses.replace(rig, joints=rules)


def rig_for_skeleton(names: list[str], joint_map: dict | None = None) -> RigMap:
    """The rig map for a skeleton with these joint names: ``joint_map`` when given, SMPL-22 names as they are, the
    source maps (``assets/rigs/*.json``: bandai, cmu_cgspeed, mixamo, lafan), then the bone maps the Blender add-on
    detects armatures with (``moscale.motion.rigs.detect_rig``: Rigify DEF-*, Unreal, ...; a missing hand, toe or
    head joint is taken at its parent's End Site). Raises RigError with the add-on's wording, naming --joint-map."""
    from moscale.motion import rigs  # the add-on's bone maps; local import keeps this module light

    if joint_map is not None:
        rig = joint_map_rig(joint_map)
        rig = _absent_joints(rig, joint_map, names)
        missing = unmapped_joints(rig, names)
        if missing:
            listing = "; ".join(f"{joint} (needs {', '.join(map(repr, absent))})" for joint, absent in missing.items())
            raise RigError(f"the joint map does not fit this skeleton: {listing}")
        return rig
    if set(JOINT_NAMES) <= set(names):
        return RigMap("smpl", {joint: joint for joint in JOINT_NAMES}, metres_per_unit=None)
    try:
        return detect_rig(names)
    except RigError:
        pass
    try:
        match = rigs.detect_rig(names)
    except rigs.UnknownRigError as error:
        raise RigError(str(error)) from None
    rules: dict[str, Rule] = {}
    for joint, (joint_name, bone) in enumerate(zip(JOINT_NAMES, match.bone_of_joint)):
        rules[joint_name] = {"end_site": bone} if joint in match.tips else bone
    for joint, (above, below, t) in rigs.spans(match.spanned).items():  # along the bone spanning them
        rules[JOINT_NAMES[joint]] = {"lerp": [rules[JOINT_NAMES[above]], rules[JOINT_NAMES[below]]], "t": t}
    return RigMap(match.map_name, rules, metres_per_unit=None, up_axis="auto")


def bvh_smpl_joints(clip: bvh.BvhClip, joint_map: dict | None = None, source: str = "<clip>"
                    ) -> tuple[np.ndarray, RigMap]:
    """((F, 22, 3) SMPL-22 joints of every frame, metres, Y up, at the clip's own frame rate; the rig map used):
    what ``moscale convert`` / ``moscale edit`` read a BVH of any known rig with. Nothing is trimmed, moved or
    resampled, so frames map one to one onto the file's."""
    rig = rig_for_skeleton(list(clip.skeleton.names), joint_map)
    joints, _ = clip_to_smpl(clip, rig, source=source, fps=clip.fps, trim_tpose=False, fix_floor=False)
    return joints.astype(np.float64), rig
