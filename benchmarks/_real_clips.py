"""Real mocap clips by action, as SMPL-22 joints at 20 fps (metres, Y up, floor at 0), for benchmarks that check a
predicate on generated motion and want the same predicate's pass rate on real clips of the action next to it.

A clip group is a tuple of specs, each "KIND:NAME" under the data folder (/work/data's layout):

    bandai:ACTION    Bandai-Namco sets 1 and 2, clips labelled ACTION (file names dataset-N_ACTION_style_id.bvh; the
                     known mislabels of set 2 relabelled as moscale.data.captions does)
    cmu:STEM         cmu/**/STEM.bvh (cgspeed rig; subjects 01-14, descriptions in CMU-INDEX.md)
    deepmimic:STEM   deepmimic/**/STEM.txt (looping clips played again until the span is filled)
    idle:*           ReActIdle (Rigify metarig BVH): long takes of standing idle, cut into spans
    salsa:*          cmu-dances-acrnn salsa (60 fps: the BVH header's 120 is wrong), cut into spans
    m2m:ACTION       Mesh2Motion (CC0, hand-keyed): the .npz files `moscale data extract` writes from the .blend/.glb
                     animations, file stem ending in __ACTION (loops, named *_Loop, played again)
"""
from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np

from moscale.data.captions import parse_bandai_name
from moscale.motion import bvh
from moscale.motion.cleaning import floor_height, resample
from moscale.motion.skeleton import FPS
from moscale.motion.sources import clip_to_smpl, load_source_clip, resolve_rig
from moscale.motion.splice import place_after

SALSA_FPS = 60.0
CUT_KINDS = ("idle", "salsa")  # long takes of one activity: cut into spans of the prompt's length


def spread(items: list, count: int) -> list:
    """At most `count` items, evenly spaced over the list (so every style of a sorted Bandai action is drawn)."""
    if len(items) <= count:
        return items
    return [items[i] for i in np.linspace(0, len(items) - 1, count).round().astype(int)]


def loop_to(joints_TJ3: np.ndarray, frames: int) -> np.ndarray:
    """A looping clip played again (each repetition placed where the last one ends) until it has `frames` frames."""
    out = np.asarray(joints_TJ3, dtype=np.float64)
    while len(out) < frames and len(joints_TJ3) > 2:
        out = np.concatenate([out, place_after(out, joints_TJ3[1:], gap=0)])
    return out[:max(frames, len(joints_TJ3))]


def on_floor(joints_TJ3: np.ndarray, fps: float) -> np.ndarray:
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    return resample(joints - np.array([0.0, floor_height(joints), 0.0]), fps, FPS)


def extract_mesh2motion(data: Path, out: Path) -> Path | None:
    """Mesh2Motion's animations as .npz (`moscale data extract`, Blender in a subprocess), once per output folder;
    None when the data folder has none or extraction fails (bpy missing)."""
    sources = [p for p in (data / "mesh2motion" / "glb", data / "mesh2motion" / "rigs") if p.is_dir()]
    if not sources:
        return None
    if not any(out.glob("*.npz")):
        done = subprocess.run([sys.executable, "-m", "moscale.cli", "data", "extract", *map(str, sources), "--out",
                               str(out)], capture_output=True, text=True)
        if not any(out.glob("*.npz")):
            why = (done.stderr.strip().splitlines() or ["no message"])[-1]
            print(f"Mesh2Motion not extracted ({why}): its clips are left out", file=sys.stderr)
            return None
    return out


def _paths(data: Path, kind: str, name: str, m2m: Path | None) -> list[Path]:
    if kind == "bandai":
        paths = sorted(data.glob("Bandai-Namco-Research-Motiondataset-*/data/dataset-*.bvh"))
        return [p for p in paths if parse_bandai_name(p.stem).action == name]
    if kind == "cmu":
        return sorted((data / "cmu").rglob(f"{name}.bvh"))
    if kind == "deepmimic":
        return sorted((data / "deepmimic").rglob(f"{name}.txt"))
    if kind == "idle":
        return sorted((data / "reactidle").rglob("*.bvh"))
    if kind == "salsa":
        return sorted((data / "acrnn" / "train_data_bvh" / "salsa").glob("*.bvh"))
    if kind == "m2m":
        return sorted(m2m.glob(f"*__{name}.npz")) if m2m is not None else []
    raise ValueError(f"unknown real clip kind {kind!r}")


def _load(path: Path, kind: str, frames: int) -> np.ndarray:
    if kind == "bandai":
        return load_source_clip(path, rig="bandai")[0]
    if kind in ("cmu", "idle"):
        return load_source_clip(path, rig="cmu_cgspeed" if kind == "cmu" else "rigify_metarig")[0]
    if kind == "salsa":
        clip = bvh.read_bvh(path)
        clip = dataclasses.replace(clip, frame_time=1.0 / SALSA_FPS)
        return clip_to_smpl(clip, resolve_rig("cmu_cgspeed", None, clip.skeleton.names), source=str(path))[0]
    if kind == "deepmimic":
        from moscale.motion.deepmimic import clip_to_smpl_joints, read_deepmimic_clip

        clip = read_deepmimic_clip(path)
        joints = on_floor(clip_to_smpl_joints(clip), clip.fps)
        return loop_to(joints, frames) if clip.loop == "wrap" else joints
    from moscale.motion.clip import Motion

    motion = Motion.load(path)
    joints = on_floor(motion.joints, motion.fps)
    return loop_to(joints, frames) if path.stem.lower().endswith("_loop") else joints


def load_group(data: Path, specs: tuple[str, ...], seconds: float, max_clips: int,
               m2m: Path | None = None) -> list[tuple[str, np.ndarray]]:
    """(clip name, (T, 22, 3) joints at 20 fps) for each real clip of the specs, at most `max_clips` per spec; long
    takes of CUT_KINDS are cut into spans of `seconds`."""
    frames = int(round(seconds * FPS))
    clips = []
    for spec in specs:
        kind, name = spec.split(":", 1)
        paths = _paths(data, kind, name, m2m)
        if kind in CUT_KINDS:
            spans = []
            for path in paths:
                joints = _load(path, kind, frames)
                spans += [(f"{path.stem}@{start / FPS:g}s", joints[start:start + frames])
                          for start in range(0, len(joints) - frames + 1, frames)]
            clips += spread(spans, max_clips)
        else:
            clips += [(path.stem, _load(path, kind, frames)) for path in spread(paths, max_clips)]
    return [(name, joints) for name, joints in clips if len(joints) >= 2]
