"""Which recordings a corpus is built from: every source folder's files, with labels, captions and known fixes.

Source kinds (``moscale data build --source KIND=FOLDER``):
- ``bandai``: the Bandai-Namco Research Motion Dataset (labels from the file names), ``cmu``: CMU mocap in the
  cgspeed BVH conversion (descriptions from CMU-INDEX.md), ``bvh``: any rig with a NAME.txt of captions per file;
- ``dance``: cmu-dances-acrnn (salsa / indian / martial folders; the true frame rates in source_labels),
  ``idle``: ReActIdle (standing idle, Rigify-metarig BVH), ``deepmimic``: DeepMimic humanoid3d JSON clips,
  ``npz``: motion files (`moscale data extract` of .blend / .glb animations: Mesh2Motion), labelled by their action.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from moscale.data import captions as captions_lib
from moscale.data import source_labels
from moscale.motion.skeleton import FPS

SOURCE_KINDS = ("bandai", "cmu", "bvh", "dance", "idle", "deepmimic", "npz")
# Kinds whose recordings are small sets of new actions: one recording of each action that has several is held out.
NEW_ACTION_KINDS = ("dance", "idle", "deepmimic", "npz")


@dataclass(frozen=True)
class BuildConfig:
    max_frames: int = 196  # feature frames per window
    stride: int = 160
    min_frames: int = 40
    captions: int = captions_lib.DEFAULT_COUNT
    fps: int = FPS
    facing: str = "corrected"  # features.joints_to_features(facing=...): "corrected" decodes exactly; "humanml3d" = published
    compounds: int = 1200  # joined "A, then B" training clips (moscale.data.compound); 0: none, and no held-out split
    motion_captions: int = 3  # captions per window read off its joints (moscale.data.motion_captions); 0: none
    mirror: bool = True  # train recordings also give their left/right mirror image (captions with left <-> right)
    speed_variants: bool = True  # train recordings of new actions and plain walks also played slower and faster
    # (corpus.SPEED_FACTORS, corpus.GAIT_SPEED_FACTORS)


CMU_EXCLUDE = {
    "07_12": "garbled root motion (hip near the floor, root jumping back and forth)",
    "09_10": "garbled root motion (hip near the floor, root jumping back and forth)",
}
# (end in seconds from the start of the file, why): the labelled motion ends there.
BANDAI_CROPS = {
    "dataset-1_byebye_happy_001": (1.2, "waves only until 1.2 s, then holds both arms forward for 6 s"),
    "dataset-2_walk-turn-left_normal_031": (4.9, "turns around (~180 deg) after the left turn"),
    "dataset-2_walk-turn-left_normal_032": (3.7, "turns around (~180 deg) after the left turn"),
    "dataset-2_walk-turn-right_normal_004": (5.4, "turns around (~180 deg) after the right turn"),
    "dataset-2_walk-turn-right_normal_032": (3.5, "turns around (~180 deg) after the right turn"),
    "dataset-2_walk-turn-right_normal_033": (4.4, "turns around (~180 deg) after the right turn"),
}


@dataclass
class Recording:
    name: str  # unique, also the prefix of its window names
    source: str  # a SOURCE_KINDS entry
    path: str
    action: str
    captions: tuple[str, ...]
    rig: str | None = None
    rig_map: str | None = None
    crop_end_s: float | None = None
    notes: list[str] = field(default_factory=list)
    split: str = "train"
    fps: float | None = None  # the true frame rate when the file's header is wrong (cmu-dances-acrnn salsa)


# ----------------------------------------------------------------------------------------------- discovery
def discover(kind: str, folder: Path, config: BuildConfig, rig_map: str | None = None,
             excluded: list[dict] | None = None) -> list[Recording]:
    """The recordings of one source folder (sorted by path), with captions and fixes; skipped ones go to
    ``excluded`` as {'name', 'path', 'reason'}."""
    excluded = [] if excluded is None else excluded
    if kind in OTHER_KINDS:
        return OTHER_KINDS[kind](folder, config, excluded)
    paths = sorted(folder.rglob("*.bvh"))
    if not paths:
        raise FileNotFoundError(f"{folder}: no .bvh files found for source {kind!r}")
    recordings = []
    if kind == "cmu":
        index_files = sorted(folder.rglob("CMU-INDEX.md")) + sorted(folder.rglob("*index*.txt"))
        if not index_files:
            raise FileNotFoundError(f"{folder}: no CMU-INDEX.md (the clip descriptions) found")
        index = captions_lib.parse_cmu_index(index_files[0].read_text(encoding="utf-8", errors="replace"))
    for path in paths:
        stem = path.stem
        try:
            if kind == "bandai":
                label = captions_lib.parse_bandai_name(stem)
                rec = Recording(f"bandai{label.dataset}_{stem.split('_', 1)[1]}", kind, str(path), label.action,
                                tuple(captions_lib.bandai_captions(stem, config.captions)), rig="bandai")
                if label.relabeled:
                    rec.notes.append(f"relabeled {stem.split('_')[1]} -> {label.action} (turns the other way)")
                if stem in BANDAI_CROPS:
                    rec.crop_end_s, why = BANDAI_CROPS[stem]
                    rec.notes.append(f"cropped at {rec.crop_end_s} s: {why}")
            elif kind == "cmu":
                if stem in CMU_EXCLUDE:
                    excluded.append(dict(name=f"cmu_{stem}", path=str(path), reason=CMU_EXCLUDE[stem]))
                    continue
                if stem not in index:
                    excluded.append(dict(name=f"cmu_{stem}", path=str(path), reason="no description in CMU-INDEX.md"))
                    continue
                description = index[stem]
                rec = Recording(f"cmu_{stem}", kind, str(path), captions_lib.cmu_category(description),
                                tuple(captions_lib.cmu_captions(stem, description, config.captions)),
                                rig="cmu_cgspeed", notes=[f"CMU description: {description}"])
            elif kind == "bvh":
                sidecar = path.with_suffix(".txt")
                lines = [l.strip() for l in sidecar.read_text(encoding="utf-8").splitlines()] if sidecar.is_file() else []
                lines = [l.split("#")[0] for l in lines if l]
                if not lines:
                    excluded.append(dict(name=stem, path=str(path), reason=f"no captions ({sidecar.name} missing or empty)"))
                    continue
                rec = Recording(f"bvh_{stem}", kind, str(path), path.parent.name, tuple(lines), rig_map=rig_map)
            elif kind == "dance":
                if path.parent.name not in source_labels.DANCE_FOLDERS:
                    excluded.append(dict(name=stem, path=str(path), reason="not in a dance folder (salsa, indian, "
                                         "martial): a skeleton file"))
                    continue
                rate, label, phrases = source_labels.DANCE_FOLDERS[path.parent.name]
                rec = Recording(f"dance_{label}_{stem}", kind, str(path), label,
                                tuple(source_labels.label_captions(phrases, config.captions, f"{label}_{stem}")),
                                rig="cmu_cgspeed", fps=rate, notes=[f"frame rate {rate:g} (header says otherwise)"])
            elif kind == "idle":
                rec = Recording(f"idle_{stem}", kind, str(path), "idle", tuple(source_labels.label_captions(
                    source_labels.IDLE_PHRASES, config.captions, stem)), rig="rigify_metarig")
            else:
                raise ValueError(f"unknown source kind {kind!r}; expected one of {', '.join(SOURCE_KINDS)}")
        except ValueError as error:
            excluded.append(dict(name=stem, path=str(path), reason=str(error)))
            continue
        recordings.append(rec)
    return recordings


def drop_duplicates(recordings: list[Recording], excluded: list[dict]) -> list[Recording]:
    """Keep the first of byte-identical files (e.g. CMU 14_36 == 14_31)."""
    seen: dict[str, str] = {}
    kept = []
    for rec in recordings:
        digest = hashlib.sha1(Path(rec.path).read_bytes()).hexdigest()
        if digest in seen:
            excluded.append(dict(name=rec.name, path=rec.path, reason=f"byte-identical to {seen[digest]}"))
            continue
        seen[digest] = rec.name
        kept.append(rec)
    return kept


# ----------------------------------------------------------------------------------------------- non-BVH kinds
def _deepmimic(folder: Path, config: BuildConfig, excluded: list[dict]) -> list[Recording]:
    from moscale.motion.deepmimic import deepmimic_action

    paths = sorted(p for p in folder.rglob("*.txt") if p.stem.startswith(("humanoid3d_", "sie_humanoid3d_")))
    if not paths:
        raise FileNotFoundError(f"{folder}: no DeepMimic humanoid3d_*.txt clips found")
    recordings = []
    for path in paths:
        found = deepmimic_action(path.stem)
        if found is None:
            excluded.append(dict(name=path.stem, path=str(path), reason="no label for this DeepMimic clip"))
            continue
        label, phrases = found
        recordings.append(Recording(f"deepmimic_{path.stem}", "deepmimic", str(path), label, tuple(
            source_labels.label_captions(phrases, config.captions, path.stem))))
    return recordings


def _npz(folder: Path, config: BuildConfig, excluded: list[dict]) -> list[Recording]:
    """Motion .npz files with an action name (metadata 'action', else the part of the file name after '__')."""
    import numpy as np

    paths = sorted(folder.rglob("*.npz"))
    if not paths:
        raise FileNotFoundError(f"{folder}: no .npz motion files found (write them with `moscale data extract`)")
    recordings = []
    for path in paths:
        action = path.stem.split("__", 1)[-1]
        try:
            with np.load(path, allow_pickle=False) as data:
                if "metadata" in data.files:
                    import json

                    action = json.loads(str(data["metadata"])).get("action", action) or action
        except (OSError, ValueError) as error:
            excluded.append(dict(name=path.stem, path=str(path), reason=f"unreadable: {error}"))
            continue
        keys = [source_labels.action_key(name) for name in (action, path.stem.split("__", 1)[0])]
        key = next((k for k in keys if k in source_labels.MESH2MOTION_ACTIONS), None)
        if key is None or source_labels.MESH2MOTION_ACTIONS[key] is None:
            reason = "left out (props, magic or a bind pose)" if key else f"no label for action {action!r}"
            excluded.append(dict(name=path.stem, path=str(path), reason=reason))
            continue
        label, phrases = source_labels.MESH2MOTION_ACTIONS[key]
        recordings.append(Recording(f"npz_{source_labels.action_key(path.stem)}", "npz", str(path), label, tuple(
            source_labels.label_captions(phrases, config.captions, path.stem))))
    return recordings


OTHER_KINDS = {"deepmimic": _deepmimic, "npz": _npz}
