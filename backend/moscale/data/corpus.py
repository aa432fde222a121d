"""`moscale data build`: BVH mocap folders -> a HumanML3D-layout training corpus.

    moscale data build --source bandai=/data/bandai-namco-1 --source bandai=/data/bandai-namco-2 \\
                       --source cmu=/data/cmu-cgspeed-01-14 --out corpus [--workers 2]

Source kinds: ``bandai`` (Bandai-Namco Research Motion Dataset; labels from the file names), ``cmu`` (cgspeed BVH;
descriptions from CMU-INDEX.md in the folder), ``bvh`` (any rig; captions from a NAME.txt next to each NAME.bvh, one
per line; the rig is detected from the joint names or given with ``--rig-map my_map.json``, see moscale.motion.sources).

Per recording (one BVH file): SMPL-22 joints at 20 fps (``sources.load_source_clip``), data fixes (crops of the
known bad tails, exclusions, duplicates), then windows of at most ``--max-frames`` (196) feature frames: a recording of
T joint frames gives one window if T - 1 <= 196, else evenly spaced 197-frame windows whose starts are at most
``--stride`` (160) frames apart, the last one ending at the recording's end (so no tail is lost and neighbours overlap
by >= 36 frames). Windows with fewer than ``--min-frames`` (40) feature frames are dropped (HumanML3D's loader drops
them too). Each window is preprocessed on its own (``features.preprocess_joints``: uniform skeleton, floor, origin,
facing +Z at its first frame) and encoded (``features.joints_to_features``).

Output (HumanML3D layout): new_joints/NAME.npy (T, 22, 3) and new_joint_vecs/NAME.npy (T, 263) float32 (the joints are
the window's first T of T + 1 preprocessed frames, the rows the features describe, as in HumanML3D), texts/NAME.txt
(``caption#tokens#0.0#0.0``, every caption of the recording), train/val/test/all.txt (window names; a recording's
windows share one split, ~85/5/10 stratified by source and action, deterministic in the names), Mean.npy/Std.npy
(train split, HumanML3D's group-wise std), SOURCES.md, LICENSES/, manifest.json (per recording), summary.json.
Then ``--compounds`` (1200) joined "A, then B" clips go into train/val and heldout.txt is written
(``moscale.data.compound``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import multiprocessing
import shutil
import sys
import time
import zlib
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path

import numpy as np

from moscale.motion import features as feature_codec
from moscale.data import caption_words
from moscale.data import captions as captions_lib
from moscale.data import compound
from moscale.motion.skeleton import FEATURE_DIM, NUM_JOINTS
from moscale.data.discovery import (NEW_ACTION_KINDS, SOURCE_KINDS, BuildConfig, Recording, discover,
                                    drop_duplicates)
from moscale.data.motion_captions import captions_from_motion, mirror_caption
from moscale.data.recordings import load_recording
from moscale.motion.kinematics import mirror_joints
from moscale.pipeline.coverage import phrase
from moscale.motion.cleaning import resample, root_jitter
from moscale.motion.paths import round_a_circle, travel_length
from moscale.motion.sources import RigError, RigMap
SPLIT_FRACTIONS = {"test": 0.10, "val": 0.05}  # the rest is train
MAX_ROOT_JITTER = 20.0  # m/s^2, see moscale.motion.cleaning.root_jitter
SPEED_FACTORS = (0.85, 1.15)  # speed variants of the new actions' training takes ("vary speed a little")
# Plain walks also played slower and faster, captioned from the motion alone: nearly every recorded walk is 1.0-1.6 m/s,
# so "walks quickly" (>= 1.6 m/s, moscale.data.motion_captions) had 21 windows of 8,526 and the model made quick walks
# no faster than 1.2 m/s. 1.4x puts a 1.2 m/s walk at 1.7 m/s (a brisk walk's cadence), 0.75x at 0.9 m/s.
GAIT_SPEED_FACTORS = (0.75, 1.4)
GAIT_ACTIONS = ("walk",)
# ... and carried round a circle (`paths.round_a_circle`, one side per recording): the recorded walks go straight or
# turn up to 180 degrees, so "walks in a circle" was only ever said of climbing steps. A full window walks this many
# laps, at a radius within CIRCLE_RADIUS_M.
CIRCLE_LAPS = 1.2
CIRCLE_RADIUS_M = (1.2, 3.0)
CIRCLE_MIN_SPEED = 0.5  # m/s: a slower "walk" is not carried round a circle

# HumanML3D's mean_variance: the std of each feature group is the mean std of its channels, divided by a bias
# (1.0 for every group in the published Std.npy; text-to-motion's evaluator divides some groups by 5 at load time).
STD_GROUPS = {
    "root_angular_velocity": (slice(0, 1), 1.0),
    "root_linear_velocity": (slice(1, 3), 1.0),
    "root_height": (slice(3, 4), 1.0),
    "ric": (slice(4, 4 + (NUM_JOINTS - 1) * 3), 1.0),
    "rot6d": (slice(4 + (NUM_JOINTS - 1) * 3, 4 + (NUM_JOINTS - 1) * 9), 1.0),
    "local_velocity": (slice(4 + (NUM_JOINTS - 1) * 9, 4 + (NUM_JOINTS - 1) * 9 + NUM_JOINTS * 3), 1.0),
    "contacts": (slice(4 + (NUM_JOINTS - 1) * 9 + NUM_JOINTS * 3, FEATURE_DIM), 1.0),
}

LICENCES = {
    "bandai": ("CC BY-NC 4.0 (Bandai Namco Research Inc.): non-commercial use only; models trained on it inherit "
               "the restriction. Attribution: Bandai-Namco-Research-Motiondataset, (c) 2022 Bandai Namco Research Inc."),
    "cmu": ("CMU Graphics Lab Motion Capture Database: free for all uses, research and commercial. Please acknowledge: "
            "\"The data used in this project was obtained from mocap.cs.cmu.edu. The database was created with funding "
            "from NSF EIA-0196217.\" BVH conversion by B. Hahne (cgspeed), no further restriction; conversion repository "
            "MIT."),
    "bvh": "unknown: see the source folder",
    "dance": ("CMU dance and martial-arts takes as published with acRNN (repository MIT); CMU data free for all uses "
              "(acknowledge mocap.cs.cmu.edu, NSF EIA-0196217)."),
    "idle": "ReActIdle (MIT).",
    "deepmimic": ("DeepMimic clips (repository MIT); the sie/ clips are Sony's, CC BY-NC 4.0: non-commercial use "
                  "only."),
    "npz": "Mesh2Motion animations, CC0 1.0 (public domain), when the .npz files were extracted from them.",
}
LICENCE_SHORT = {"bandai": "CC BY-NC 4.0 (non-commercial)", "cmu": "CMU: free for all uses; cgspeed conversion: MIT",
                 "bvh": "unknown", "dance": "MIT / CMU free", "idle": "MIT", "deepmimic": "MIT; sie/ CC BY-NC 4.0",
                 "npz": "CC0 (Mesh2Motion)"}


def _unit_hash(text: str) -> float:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") / 2.0 ** 64


def assign_splits(recordings: list[Recording]) -> None:
    """Split by recording, stratified by (source, action): in each group, ordered by a hash of the names, the first
    round(10%) go to test (at least one of a new-action source's group of two or more), the next round(5%) to val, the
    rest to train. Deterministic, independent of file order."""
    groups: dict[tuple[str, str], list[Recording]] = defaultdict(list)
    for rec in recordings:
        groups[(rec.source, rec.action)].append(rec)
    for members in groups.values():
        members.sort(key=lambda r: (_unit_hash(r.name), r.name))
        n_test = math.floor(len(members) * SPLIT_FRACTIONS["test"] + 0.5)
        if members[0].source in NEW_ACTION_KINDS and len(members) >= 2:
            n_test = max(n_test, 1)  # a new action keeps one recording out of training, to test it on
        n_val = math.floor(len(members) * SPLIT_FRACTIONS["val"] + 0.5)
        for i, rec in enumerate(members):
            rec.split = "test" if i < n_test else "val" if i < n_test + n_val else "train"


def window_bounds(frames: int, config: BuildConfig) -> list[tuple[int, int]]:
    """[start, stop) joint-frame ranges of the windows of a recording (each gives stop - start - 1 feature rows)."""
    longest = config.max_frames + 1
    if frames - 1 < config.min_frames:
        return []
    if frames <= longest:
        return [(0, frames)]
    count = math.ceil((frames - longest) / config.stride) + 1
    starts = np.round(np.linspace(0, frames - longest, count)).astype(int)
    return [(int(s), int(s) + longest) for s in starts]


# ----------------------------------------------------------------------------------------------- processing
def process_recording(rec: Recording, out: Path, config: BuildConfig) -> dict:
    """Load, clean, cut, encode and write one recording; returns its windows and feature sums (or an error)."""
    result = dict(name=rec.name, windows=[], frames=0, error=None)
    try:
        joints, info = load_recording(rec, fps=config.fps)
    except (RigError, ValueError, OSError) as error:
        result["error"] = f"{type(error).__name__}: {error}"
        return result
    result["info"] = asdict(info)
    if rec.crop_end_s is not None:
        offset_s = info.tpose_frames / info.source_fps
        joints = joints[: max(0, int(math.floor((rec.crop_end_s - offset_s) * config.fps + 1e-6)) + 1)]
    jitter = root_jitter(joints, config.fps)
    result["root_jitter"] = jitter
    if jitter > MAX_ROOT_JITTER:
        result["error"] = f"garbled root motion (root jitter {jitter:.0f} m/s^2 > {MAX_ROOT_JITTER:.0f})"
        return result
    bounds = window_bounds(len(joints), config)
    result["frames"] = len(joints)
    if not bounds:
        result["error"] = (f"too short: {len(joints)} frames ({len(joints) / config.fps:.2f} s) after cleaning, "
                           f"windows need >= {config.min_frames + 1}")
        return result
    total = np.zeros(FEATURE_DIM)
    total_sq = np.zeros(FEATURE_DIM)
    rows = 0
    decode_errors = []
    phrases = tuple(dict.fromkeys(phrase(caption) for caption in rec.captions))
    for suffix, mirrored, start, stop, source, labelled in _variants(rec, joints, bounds, config):
        clip = mirror_joints(source[start:stop]) if mirrored else source[start:stop]
        name = f"{rec.name}{suffix}"
        if labelled:
            captions = [mirror_caption(c) for c in rec.captions] if mirrored else list(rec.captions)
            if config.motion_captions:  # what this window's joints do: speed, direction, turns, postures, ...
                captions += captions_from_motion(clip, config.fps, tuple(mirror_caption(p) if mirrored else p
                                                                         for p in phrases),
                                                 config.motion_captions, key=name, label=rec.action)
        else:  # played at another pace: the label's own words ("a tired walk") may no longer hold, the joints do
            captions = captions_from_motion(clip, config.fps, (), max(config.motion_captions, 1), key=name,
                                            label=rec.action)
        window = feature_codec.preprocess_joints(clip)
        feats = feature_codec.joints_to_features(window, facing=config.facing)
        decoded = feature_codec.features_to_joints(feats)  # HumanML3D saves new_joints = recover_from_ric(features)
        decode_errors.append(float(np.abs(decoded - window[:-1]).max()))
        np.save(out / "new_joints" / f"{name}.npy", decoded.astype(np.float32))
        np.save(out / "new_joint_vecs" / f"{name}.npy", feats.astype(np.float32))
        text = "".join(caption_words.caption_line(c) + "\n" for c in dict.fromkeys(captions))
        (out / "texts" / f"{name}.txt").write_text(text, encoding="utf-8")
        result["windows"].append((name, len(feats)))
        as64 = feats.astype(np.float64)
        total += as64.sum(axis=0)
        total_sq += (as64 ** 2).sum(axis=0)
        rows += len(feats)
    result.update(sum=total, sum_sq=total_sq, rows=rows, decode_errors_m=decode_errors)
    return result


def _variants(rec: Recording, joints: np.ndarray, bounds: list[tuple[int, int]], config: BuildConfig):
    """(name suffix, mirrored, start, stop, joints, captioned by the label) of every window written for a recording:
    its windows; for a training recording their mirror images; for a new action's training recording also the whole
    take played ``SPEED_FACTORS`` times as fast (cut into its own windows), so a few clips teach more than one pace
    (not standing idle: 47 minutes of it need no more, and its pace is none); for a plain walk's training recording
    the take played ``GAIT_SPEED_FACTORS`` times as fast and carried round a circle, captioned from its joints alone."""
    train = rec.split == "train"
    for k, (start, stop) in enumerate(bounds):
        yield f"_w{k:02d}", False, start, stop, joints, True
        if config.mirror and train:
            yield f"_w{k:02d}_mirror", True, start, stop, joints, True
    if not (train and config.speed_variants):
        return
    if rec.source in NEW_ACTION_KINDS and rec.action != "idle":
        factors, labelled = SPEED_FACTORS, True
    elif rec.action in GAIT_ACTIONS:
        factors, labelled = GAIT_SPEED_FACTORS, False
    else:
        return
    for factor in factors:
        faster = resample(joints, config.fps * factor, config.fps).astype(np.float32)
        for k, (start, stop) in enumerate(window_bounds(len(faster), config)):
            yield f"_x{round(factor * 100)}_w{k:02d}", False, start, stop, faster, labelled
    if labelled:
        return
    speed = travel_length(joints, config.fps) * config.fps / max(len(joints) - 1, 1)
    if speed >= CIRCLE_MIN_SPEED:
        radius = float(np.clip(speed * config.max_frames / config.fps / (2 * np.pi * CIRCLE_LAPS), *CIRCLE_RADIUS_M))
        side = 1 if zlib.crc32(rec.name.encode()) % 2 else -1
        circled = round_a_circle(joints, config.fps, radius, side).astype(np.float32)
        for k, (start, stop) in enumerate(bounds):
            yield f"_circle_w{k:02d}", False, start, stop, circled, False


def _worker(task: tuple[Recording, str, BuildConfig]) -> dict:
    rec, out, config = task
    return process_recording(rec, Path(out), config)


def normalization(total: np.ndarray, total_sq: np.ndarray, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and HumanML3D group-wise Std (``STD_GROUPS``) from feature sums over ``rows`` frames."""
    if rows < 2:
        raise ValueError("need at least 2 training frames for Mean/Std")
    mean = total / rows
    std = np.sqrt(np.maximum(total_sq / rows - mean ** 2, 0.0))
    grouped = np.empty_like(std)
    for group, bias in STD_GROUPS.values():
        value = std[group].mean() / bias
        grouped[group] = value if value > 1e-8 else 1.0
    return mean.astype(np.float32), grouped.astype(np.float32)


# ----------------------------------------------------------------------------------------------- build
def build(sources: list[tuple[str, Path]], out: Path, *, workers: int = 2, config: BuildConfig = BuildConfig(),
          rig_map: str | None = None, overwrite: bool = False, limit: int | None = None,
          progress: bool = True) -> dict:
    """Build the corpus; returns the summary (also written to summary.json)."""
    started = time.time()
    _prepare(out, overwrite)
    excluded: list[dict] = []
    recordings: list[Recording] = []
    for kind, folder in sources:
        found = discover(kind, Path(folder), config, rig_map, excluded)
        recordings += found[:limit] if limit else found
    recordings = drop_duplicates(recordings, excluded)
    names = [r.name for r in recordings]
    if len(set(names)) != len(names):
        clashes = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"recording names clash across sources: {clashes[:5]} (the same folder given twice?)")
    assign_splits(recordings)
    results = _run(recordings, out, config, workers, progress)
    summary = _finish(recordings, results, excluded, sources, out, config, time.time() - started)
    if config.compounds > 0:
        summary["compounds"] = compound.augment(out, train=config.compounds, val=max(1, config.compounds // 20),
                                                heldout=max(1, config.compounds // 10))
        (out / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return summary


def _prepare(out: Path, overwrite: bool) -> None:
    if (out / "new_joint_vecs").exists() and any((out / "new_joint_vecs").iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out} already holds a corpus; pass --overwrite to replace it")
        for sub in ("new_joints", "new_joint_vecs", "texts", "LICENSES"):
            shutil.rmtree(out / sub, ignore_errors=True)
    for sub in ("new_joints", "new_joint_vecs", "texts"):
        (out / sub).mkdir(parents=True, exist_ok=True)


def _run(recordings: list[Recording], out: Path, config: BuildConfig, workers: int, progress: bool) -> list[dict]:
    from tqdm import tqdm

    tasks = [(rec, str(out), config) for rec in recordings]
    bar = tqdm(total=len(tasks), desc="recordings", unit="clip", disable=not progress, file=sys.stderr)
    results = []
    if workers <= 1:
        for task in tasks:
            results.append(_worker(task))
            bar.update()
    else:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        with multiprocessing.get_context(method).Pool(workers) as pool:
            for result in pool.imap(_worker, tasks, chunksize=1):  # ordered: sums add up deterministically
                results.append(result)
                bar.update()
    bar.close()
    return results


def _finish(recordings: list[Recording], results: list[dict], excluded: list[dict], sources, out: Path,
            config: BuildConfig, seconds: float) -> dict:
    splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    total, total_sq, rows = np.zeros(FEATURE_DIM), np.zeros(FEATURE_DIM), 0
    manifest = []
    per_source: dict[str, dict] = defaultdict(lambda: defaultdict(float))
    per_action: dict[str, dict] = defaultdict(lambda: defaultdict(float))
    captions: dict[str, set] = defaultdict(set)
    action_captions: dict[str, set] = defaultdict(set)
    for rec, result in zip(recordings, results):
        entry = dict(name=rec.name, source=rec.source, path=rec.path, action=rec.action, split=rec.split,
                     captions=list(rec.captions), notes=rec.notes, frames=result["frames"],
                     windows=[w for w, _ in result["windows"]], info=result.get("info"), error=result["error"],
                     root_jitter=round(result.get("root_jitter", 0.0), 2),
                     decode_errors_m=[round(e, 4) for e in result.get("decode_errors_m", [])])
        manifest.append(entry)
        if result["error"]:
            excluded.append(dict(name=rec.name, path=rec.path, reason=result["error"]))
            continue
        splits[rec.split] += [w for w, _ in result["windows"]]
        if rec.split == "train":
            total, total_sq, rows = total + result["sum"], total_sq + result["sum_sq"], rows + result["rows"]
        key = f"{rec.source}/{rec.action}"
        for table, k in ((per_source, rec.source), (per_action, key)):
            table[k]["clips"] += 1
            table[k]["windows"] += len(result["windows"])
            table[k]["minutes"] += result["frames"] / config.fps / 60
            table[k]["window_minutes"] += sum(n for _, n in result["windows"]) / config.fps / 60
            table[k][rec.split + "_clips"] += 1
        captions[rec.source] |= set(rec.captions)
        action_captions[key] |= set(rec.captions)
    for name, members in splits.items():
        (out / f"{name}.txt").write_text("".join(f"{w}\n" for w in sorted(members)), encoding="utf-8")
    (out / "all.txt").write_text("".join(f"{w}\n" for w in sorted(sum(splits.values(), []))), encoding="utf-8")
    if rows >= 2:
        mean, std = normalization(total, total_sq, rows)
        np.save(out / "Mean.npy", mean)
        np.save(out / "Std.npy", std)
    for table, caps in ((per_source, captions), (per_action, action_captions)):
        for k, row in table.items():
            row["captions"] = len(caps[k])
    summary = dict(
        sources=[dict(kind=k, folder=str(f)) for k, f in sources],
        config=asdict(config), build_seconds=round(seconds, 1),
        totals=dict(clips=int(sum(r["clips"] for r in per_source.values())),
                    windows=int(sum(r["windows"] for r in per_source.values())),
                    minutes=round(sum(r["minutes"] for r in per_source.values()), 2),
                    train_frames=rows, **{f"{s}_windows": len(v) for s, v in splits.items()},
                    windows_decoding_off_by_over_1cm=sum(e > 0.01 for m in manifest for e in m["decode_errors_m"])),
        per_source={k: _rounded(v) for k, v in sorted(per_source.items())},
        per_action={k: _rounded(v) for k, v in sorted(per_action.items())},
        excluded=sorted(excluded, key=lambda e: e["name"]),
        fixes={r.name: r.notes for r in recordings if r.notes and r.source != "cmu"},
    )
    (out / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    _write_sources(sources, recordings, results, out)
    return summary


def _rounded(row: dict) -> dict:
    return {k: (round(v, 2) if isinstance(v, float) and k.endswith("minutes") else int(v)) for k, v in row.items()}


def _write_sources(sources, recordings: list[Recording], results: list[dict], out: Path) -> None:
    used: dict[str, int] = defaultdict(int)
    for rec, result in zip(recordings, results):
        if not result["error"]:
            used[str(Path(rec.path).resolve())] += 1
    (out / "LICENSES").mkdir(exist_ok=True)
    lines = ["# Sources of this corpus", "", "| source | folder | BVH files | recordings used | licence |",
             "|---|---|---|---|---|"]
    for number, (kind, folder) in enumerate(sources):
        folder = Path(folder)
        files = sorted(folder.rglob("*.bvh"))
        count = sum(used[str(p.resolve())] for p in files)
        lines.append(f"| {kind} | {folder} | {len(files)} | {count} | {LICENCE_SHORT[kind]} |")
        for licence in sorted(folder.rglob("LICENSE*"))[:1]:
            shutil.copyfile(licence, out / "LICENSES" / f"{number:02d}-{kind}-{folder.name}.txt")
    lines += ["", "## Licence terms", ""] + [f"- **{k}**: {LICENCES[k]}" for k in dict.fromkeys(k for k, _ in sources)]
    lines += ["", "LICENSES/ holds a copy of each source folder's own licence file.", ""]
    (out / "SOURCES.md").write_text("\n".join(lines), encoding="utf-8")


def format_summary(summary: dict) -> str:
    """The printed table: per source, then per action."""
    header = f"{'':34s} {'clips':>6s} {'windows':>8s} {'minutes':>8s} {'captions':>9s}  train/val/test clips"
    lines = [header, "-" * len(header)]
    for title, table in (("per source", summary["per_source"]), ("per action", summary["per_action"])):
        lines.append(title)
        for key, row in table.items():
            split = f"{row.get('train_clips', 0)}/{row.get('val_clips', 0)}/{row.get('test_clips', 0)}"
            lines.append(f"  {key:32s} {row['clips']:6d} {row['windows']:8d} {row['minutes']:8.1f} "
                         f"{row['captions']:9d}  {split}")
    totals = summary["totals"]
    lines.append(f"total: {totals['clips']} clips, {totals['windows']} windows, {totals['minutes']:.1f} min; windows "
                 f"train/val/test {totals['train_windows']}/{totals['val_windows']}/{totals['test_windows']}; "
                 f"{len(summary['excluded'])} excluded; built in {summary['build_seconds']:.0f} s")
    for item in summary["excluded"]:
        lines.append(f"  excluded {item['name']}: {item['reason']}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- command line
def _source_arg(text: str) -> tuple[str, Path]:
    kind, sep, folder = text.partition("=")
    if not sep or kind not in SOURCE_KINDS:
        raise argparse.ArgumentTypeError(f"expected KIND=FOLDER with KIND one of {', '.join(SOURCE_KINDS)}, got {text!r}")
    if not Path(folder).is_dir():
        raise argparse.ArgumentTypeError(f"{folder}: not a folder")
    return kind, Path(folder)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", action="append", type=_source_arg, required=True, metavar="KIND=FOLDER",
                        help=f"a mocap folder; KIND is one of {', '.join(SOURCE_KINDS)} (repeatable)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (HumanML3D layout)")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--rig-map", default=None, metavar="JSON",
                        help="rig map for 'bvh' sources whose skeleton is not a built-in rig (format: moscale.motion.sources)")
    parser.add_argument("--max-frames", type=int, default=196, help="feature frames per window (default 196)")
    parser.add_argument("--stride", type=int, default=160, help="most frames between window starts (default 160)")
    parser.add_argument("--min-frames", type=int, default=40, help="drop shorter windows (default 40)")
    parser.add_argument("--captions", type=int, default=captions_lib.DEFAULT_COUNT, help="captions per clip (>= 3)")
    parser.add_argument("--facing", choices=("humanml3d", "corrected"), default="corrected",
                        help="facing convention of the features (moscale.motion.features). 'corrected' (default) decodes back to the "
                             "input exactly; 'humanml3d' reproduces the published code, hip-order and ±180° bugs included")
    parser.add_argument("--motion-captions", type=int, default=BuildConfig.motion_captions,
                        help="captions per window read off its joints: speed, direction, turns, postures, ... "
                             "(default %(default)s; 0: the source labels' captions only)")
    parser.add_argument("--no-mirror", action="store_true", help="no left/right mirror images of training takes")
    parser.add_argument("--no-speed-variants", action="store_true",
                        help="no slower and faster copies of the new actions' training takes")
    parser.add_argument("--compounds", type=int, default=BuildConfig.compounds,
                        help="joined 'A, then B' training clips to add, and a held-out split of test-clip compounds "
                             "and unseen paraphrases (default %(default)s; 0: none)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N recordings of each source (tests)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing corpus in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if args.captions < 3:
        raise SystemExit("--captions must be at least 3")
    if args.rig_map is not None:
        RigMap.from_json(args.rig_map)  # fail early on a malformed map
    config = BuildConfig(max_frames=args.max_frames, stride=min(args.stride, args.max_frames),
                         min_frames=args.min_frames, captions=args.captions, facing=args.facing,
                         compounds=args.compounds, motion_captions=args.motion_captions,
                         mirror=not args.no_mirror, speed_variants=not args.no_speed_variants)
    summary = build(args.source, args.out, workers=args.workers, config=config, rig_map=args.rig_map,
                    overwrite=args.overwrite, limit=args.limit, progress=not args.quiet)
    print(format_summary(summary))
    return 0
