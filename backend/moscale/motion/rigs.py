"""Bone maps: which bone of an armature carries each SMPL-22 joint (Mixamo, Rigify and its metarigs, Unreal, SMPL,
LAFAN, custom JSON maps), and matching them against a rig's bone names. What retargeting (moscale.motion.retarget)
runs on."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from moscale.motion.skeleton import BONE_LENGTHS_M, JOINT_NAMES, PARENTS
from moscale.utils.paths import ASSETS


class UnknownRigError(ValueError):
    """No bone map matches an armature; the message lists the missing bones and how to supply a map."""



@dataclass(frozen=True)
class BoneMap:
    """SMPL joint name -> target bone name, for every one of the 22 joints except leaves the rig has no bone for (a
    hand, toe or the head: ``TIP_JOINTS``, then placed at their parent bone's tail) and in-between joints a rig with
    a short spine has no bone for (``SPANNED_JOINTS``: the bone of the joint above spans both segments). Stored as
    JSON (``from_json``)."""

    name: str
    bones: dict[str, str]
    description: str = ""
    # Control rigs (Rigify): the mapped bones are constraint-driven deform bones; keys go on these control bones
    # instead (control bone -> the SMPL joint whose motion it carries), with these custom properties set per take
    # (bone -> {property: value}, e.g. the IK/FK switches at FK). A control mapped to "rest" is keyed at rest.
    controls: dict[str, str] = field(default_factory=dict)
    switches: dict[str, dict[str, float]] = field(default_factory=dict)
    root_control: str = ""  # the control that also carries the root motion (location)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.bones) - set(JOINT_NAMES))
        optional = {JOINT_NAMES[j] for j in TIP_JOINTS + SPANNED_JOINTS}
        missing = [joint for joint in JOINT_NAMES if joint not in self.bones and joint not in optional]
        if "neck" not in self.bones and "head" not in self.bones:  # the neck's bone would end nowhere
            missing.append("neck or head")
        not_names = sorted(joint for joint, bone in self.bones.items() if not isinstance(bone, str) or not bone)
        if unknown or missing or not_names:
            raise ValueError(
                f"bone map {self.name!r}: keys must be SMPL joint names, each naming a bone; every joint but the "
                f"leaves and in-between joints ({', '.join(sorted(optional))}) is needed; "
                + (f"unknown {unknown} " if unknown else "")
                + (f"missing {missing} " if missing else "")
                + (f"not a bone name: {not_names}" if not_names else "")
            )
        shared = {bone: [j for j in JOINT_NAMES if self.bones.get(j) == bone] for bone in self.bones.values()}
        shared = {bone: joints for bone, joints in shared.items() if len(joints) > 1}
        if shared:  # one bone keyed as two joints plays neither (a one-bone armature "fitting" a full map)
            bone, joints = next(iter(shared.items()))
            raise ValueError(f"bone map {self.name!r}: joints {', '.join(joints)} all name bone {bone!r}; each "
                             "joint needs a bone of its own (leave out a hand, toe or head the rig has no bone for)")

    @classmethod
    def from_json(cls, path: str | Path) -> "BoneMap":
        """Load ``{"name": ..., "description": ..., "bones": {"pelvis": "Hips", ...}}``."""
        path = Path(path)
        data = read_json(path, "bone map")
        if not isinstance(data, dict) or not isinstance(data.get("bones"), dict):
            raise ValueError(f"bone map {path} needs a \"bones\" object mapping SMPL joint names to bone names")
        controls = data.get("controls", {})
        if not isinstance(controls, dict) or not set(controls.values()) <= set(JOINT_NAMES) | {"rest"}:
            raise ValueError(f"bone map {path}: \"controls\" must map control bone names to SMPL joint names "
                             "(or \"rest\": keyed at rest)")
        return cls(str(data.get("name", path.stem)), dict(data["bones"]), str(data.get("description", "")),
                   dict(controls), {bone: dict(props) for bone, props in data.get("switches", {}).items()},
                   str(data.get("root_control", "")))

    @classmethod
    def from_source_map(cls, path: str | Path) -> "BoneMap | None":
        """A source rig map (``assets/rigs/*.json``, ``moscale.motion.sources``) whose 22 rules are plain joint names, as a
        bone map (LAFAN1, Mixamo BVH imported into Blender); None when some joint is a computed point."""
        data = read_json(Path(path), "rig map")
        joints = data.get("joints") if isinstance(data, dict) else None
        if not isinstance(joints, dict) or not all(isinstance(joints.get(j), str) for j in JOINT_NAMES):
            return None
        return cls(str(data.get("name", Path(path).stem)), {j: joints[j] for j in JOINT_NAMES},
                   str(data.get("description", "")))


def read_json(path: Path, what: str):
    """The JSON in ``path``; ValueError naming ``what`` when it cannot be read, is binary (an image renamed .json) or
    is not JSON."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        text = None
    except OSError as error:
        raise ValueError(f"cannot read {what} {path}: {error}") from error
    if text is None or "\0" in text:  # not UTF-8, or NUL bytes: an image or archive renamed .json
        raise ValueError(f"cannot read {what} {path}: not a JSON text file")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"cannot read {what} {path}: {error}") from error


@dataclass(frozen=True)
class RigMatch:
    """A bone map resolved against one armature: the target bone name of each SMPL joint."""

    map_name: str
    bone_of_joint: tuple[str, ...]  # (22,); for a tip or spanned joint, its parent joint's bone
    # Leaf joints the rig has no bone for (a hand, toe or head missing, e.g. a Rigify-named BVH without hands and
    # toes): they sit at the tail of their parent joint's bone.
    tips: tuple[int, ...] = ()
    bone_map: "BoneMap | None" = None
    # In-between joints the rig has no bone for (``SPANNED_JOINTS``; e.g. spine2 on a metarig BVH's short spine):
    # they sit on the bone of the joint above, which spans down to the next joint that has a bone (``spans``).
    spanned: tuple[int, ...] = ()

    @property
    def tip_names(self) -> list[str]:
        return [JOINT_NAMES[j] for j in self.tips]



def builtin_maps_folder() -> Path:
    """assets/rigs/targets of the source tree (the add-on passes its own copy when installed as an extension)."""
    return ASSETS / "rigs" / "targets"



def load_bone_maps(folder: str | Path | None = None, sources_folder: str | Path | None = None) -> list[BoneMap]:
    """Every ``*.json`` bone map in ``folder`` (default: the built-in maps), sorted by file name, then the source
    rig maps of ``sources_folder`` (default: ``folder``'s parent, i.e. ``assets/rigs``) that name one joint per SMPL
    joint (lafan, mixamo): the same maps ``moscale convert`` reads BVH files with, so an armature imported from such
    a BVH is recognised by the add-on too."""
    folder = Path(folder) if folder is not None else builtin_maps_folder()
    maps = [BoneMap.from_json(path) for path in sorted(folder.glob("*.json"))]
    sources_folder = Path(sources_folder) if sources_folder is not None else folder.parent
    names = {m.name for m in maps}
    for path in sorted(sources_folder.glob("*.json")):
        source_map = BoneMap.from_source_map(path)
        if source_map is not None and source_map.name not in names:
            maps.append(BoneMap(f"{source_map.name}", source_map.bones, source_map.description))
    return maps



def _namespace_prefixes(bone_names: Iterable[str]) -> list[str]:
    """"" plus every namespace seen in the names ("mixamorig:", "mixamorig1:", ...)."""
    prefixes = {name[: name.rindex(":") + 1] for name in bone_names if ":" in name}
    return [""] + sorted(prefixes)


# Leaf joints a rig may lack (a BVH without hand or toe joints): placed at their parent bone's tail.
TIP_JOINTS = (10, 11, 15, 20, 21)
# In-between joints a rig may lack (a short spine, no neck or collar bones): spine1, spine2, neck, the collars. Each
# has one child; the bone of the joint above spans both segments and aims at the next joint down that has a bone.
SPANNED_JOINTS = (3, 6, 12, 13, 14)


def spans(spanned: Sequence[int]) -> dict[int, tuple[int, int, float]]:
    """spanned joint -> (the joint above it that has a bone, the joint below it that has one, t): the spanned joint
    sits at ``above + t (below - above)``, t from SMPL's bone lengths along the chain."""
    out = {}
    for joint in spanned:
        above, below = PARENTS[joint], joint
        while above in spanned:
            above = PARENTS[above]
        while below in spanned:
            below = PARENTS.index(below)  # the one child (every spanned joint has one)
        chain = [below]
        while chain[-1] != above:
            chain.append(PARENTS[chain[-1]])
        lengths = {j: BONE_LENGTHS_M[j] for j in chain[:-1]}  # the segment ending at each joint
        done = sum(length for j, length in lengths.items() if j in chain[chain.index(joint):])
        out[joint] = (above, below, float(done / sum(lengths.values())))
    return out


def place_spanned(points_NJ3: np.ndarray, spanned: Sequence[int]) -> np.ndarray:
    """``points`` (..., 22, 3) with each spanned joint moved onto the straight line between the joints above and
    below it that have bones (``spans``), where a rig bone spanning them carries it."""
    points = np.array(points_NJ3, dtype=np.float64)
    for joint, (above, below, t) in spans(spanned).items():
        points[..., joint, :] = points[..., above, :] + t * (points[..., below, :] - points[..., above, :])
    return points



def match_rig(bone_names: Sequence[str], bone_map: BoneMap, allow_tips: bool = False
              ) -> tuple[RigMatch | None, list[str]]:
    """Resolve ``bone_map`` against an armature: (match, []) or (None, missing target bone names).

    Bone names may carry a namespace prefix (``mixamorig:Hips``); matching ignores case when exact names fail.
    With ``allow_tips``, missing leaf bones (hands, toes, head: ``TIP_JOINTS``) are accepted and become tips. Joints
    the map leaves out are tips (leaves) or spanned (in-between joints, ``SPANNED_JOINTS``).
    """
    present = set(bone_names)
    by_lower = {name.lower(): name for name in bone_names}
    best: tuple[RigMatch | None, list[str]] = (None, list(bone_map.bones.values()))
    for prefix in _namespace_prefixes(bone_names):
        resolved, missing, tips, spanned = [], [], [], []
        for joint, joint_name in enumerate(JOINT_NAMES):
            if joint_name not in bone_map.bones:  # left out: at its parent bone's tail, or along that bone
                if resolved[PARENTS[joint]]:
                    (tips if joint in TIP_JOINTS else spanned).append(joint)
                    resolved.append(resolved[PARENTS[joint]])
                else:
                    resolved.append("")
                continue
            wanted = prefix + bone_map.bones[joint_name]
            found = wanted if wanted in present else by_lower.get(wanted.lower())
            if found is None and allow_tips and joint in TIP_JOINTS and resolved[PARENTS[joint]]:
                tips.append(joint)
                found = resolved[PARENTS[joint]]
            if found is None:
                missing.append(bone_map.bones[joint_name])
                resolved.append("")
            else:
                resolved.append(found)
        if not missing:
            return RigMatch(bone_map.name, tuple(resolved), tuple(tips), bone_map, tuple(spanned)), []
        if len(missing) < len(best[1]):
            best = (None, missing)
    return best



def detect_rig(bone_names: Sequence[str], maps: Sequence[BoneMap] | None = None) -> RigMatch:
    """The first bone map whose 22 bones all exist in the armature; ``UnknownRigError`` if none does."""
    maps = load_bone_maps() if maps is None else list(maps)
    closest: tuple[str, list[str]] | None = None
    for allow_tips in (False, True):  # a map that fits every joint wins over one that needs tips
        for bone_map in maps:
            match, missing = match_rig(bone_names, bone_map, allow_tips=allow_tips)
            if match is not None:
                return match
            # closest: fewest bones missing that no tip can stand in for
            if allow_tips and (closest is None or len(missing) < len(closest[1])):
                closest = (bone_map.name, missing)
    if closest is not None:  # name the absent leaves too: with the missing bones found, they would be tips
        strict = match_rig(bone_names, next(m for m in maps if m.name == closest[0]))[1]
        closest = (closest[0], closest[1], [name for name in strict if name not in closest[1]])
    raise UnknownRigError(unknown_rig_message(bone_names, maps, closest))



def unknown_rig_message(bone_names: Sequence[str], maps: Sequence[BoneMap],
                        closest: tuple[str, list[str], list[str]] | None) -> str:
    """The one wording for a skeleton no map fits, shared by the add-on and the command line."""
    known = ", ".join(m.name for m in maps) or "none"
    names = list(bone_names)
    shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
    detail = ""
    if closest:
        leaves = f"; also absent, which is fine: {', '.join(closest[2])}" if closest[2] else ""
        detail = (f" Closest is {closest[0]!r}, missing {len(closest[1])} bones: {', '.join(closest[1])} (hand, toe "
                  f"and head bones may be absent: they are then taken at the end of their parent bone{leaves}).")
    return (
        f"Unknown rig: no bone map ({known}) matches this skeleton ({len(names)} bones: {shown}).{detail} "
        "Supply a custom bone map: a JSON file {\"name\": \"my_rig\", \"bones\": {\"pelvis\": \"<bone>\", ...}} "
        f"naming your bone for each of the 22 SMPL joints ({', '.join(JOINT_NAMES)}; leave out those your rig has "
        "no bone for: hands, toes, the head, and on a short spine spine1, spine2, the neck or the collars); "
        "choose it as 'Bone Map' in the MoScale panel, or pass it with --joint-map my_map.json on the command line "
        "(Python: BoneMap.from_json(path))."
    )



def joint_map_of(match: RigMatch) -> dict[str, str]:
    """SMPL joint name -> skeleton joint name for a resolved match (tips map to their parent joint's name, whose
    End Site / bone tail they are)."""
    return dict(zip(JOINT_NAMES, match.bone_of_joint))
