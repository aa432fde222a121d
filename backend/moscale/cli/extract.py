"""`moscale data extract`: hand-keyed animations in Blender files as motion files for the training corpus.

    moscale data extract rigs/human/ human-base-animations.glb --out extracted/

Every action of each .blend and every clip of each .glb/.gltf (files, or folders searched recursively) is read by the
add-on's reader (its ``animation_files``, reached through ``moscale.cli.scene``): the evaluated pose of the rig's
bones, frame by frame at the file's frame rate, as SMPL-22 joints (metres, Y up, facing +Z). Each clip becomes
``OUT/<file stem>__<action>.npz`` (``<stem>-<suffix>__`` where two files share a stem): AMASS-style, with
``joints``; the prompt is the action's name in words, the metadata names the source file, the action and the bone
map. A file that cannot be read is reported in one line and skipped (exit status 2); the others are still written.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from contextlib import contextmanager
from pathlib import Path

SUFFIXES = (".blend", ".glb", ".gltf")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="+", type=Path, metavar="SRC",
                        help=".blend, .glb or .gltf files, or folders of them (searched recursively)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the .npz files (made)")
    parser.add_argument("--joint-map", type=Path, metavar="JSON",
                        help="bone map for a rig no built-in map recognises: {\"name\": ..., \"bones\": {SMPL joint: "
                             "bone}} or {SMPL joint: bone}")
    parser.add_argument("--verbose", action="store_true", help="show Blender's own messages while reading")


def find_files(sources: list[Path]) -> list[Path]:
    """The animation files named or inside the named folders, in order; FileNotFoundError / ValueError when a
    source is missing or of another kind."""
    files = []
    for source in sources:
        if source.is_dir():
            found = sorted(p for p in source.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
            if not found:
                raise ValueError(f"{source}: no {', '.join(SUFFIXES)} files in this folder")
            files += found
        elif not source.exists():
            raise FileNotFoundError(f"{source}: no such file or folder")
        elif source.suffix.lower() not in SUFFIXES:
            raise ValueError(f"{source}: not a Blender animation file ({', '.join(SUFFIXES)})")
        else:
            files.append(source)
    return list(dict.fromkeys(files))


def read_bone_map(path: Path | None):
    """A ``BoneMap`` from a bone map JSON (``BoneMap.from_json``) or a plain {SMPL joint: bone} object; None."""
    if path is None:
        return None
    from moscale.motion.rigs import BoneMap, read_json

    data = read_json(path, "bone map")  # a binary file or bad JSON: one line naming it
    if isinstance(data, dict) and "bones" in data:
        return BoneMap.from_json(path)
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError(f"bone map {path}: expected {{\"bones\": {{SMPL joint: bone}}}} or {{SMPL joint: bone}}")
    return BoneMap(path.stem, data)


def clip_path(out: Path, label: str, action: str, taken: set[Path]) -> Path:
    """``out/<label>__<action>.npz``, the action's name made safe for a file name, unique within a run."""
    name = re.sub(r"[^\w.-]+", "_", action).strip("_.") or "action"
    path, count = out / f"{label}__{name}.npz", 1
    while path in taken:
        count += 1
        path = out / f"{label}__{name}_{count}.npz"
    taken.add(path)
    return path


def file_labels(files: list[Path]) -> dict[Path, str]:
    """Each file's stem, or stem-suffix where two files share a stem (walk.blend, walk.glb: walk-blend, walk-glb)."""
    stems = [path.stem for path in files]
    return {path: path.stem if stems.count(path.stem) == 1 else f"{path.stem}-{path.suffix[1:].lower()}"
            for path in files}


def prompt_of(action: str) -> str:
    """'Walk_Formal_Loop' -> 'walk formal loop': the action's name in words, a stand-in caption."""
    return " ".join(re.sub(r"([a-z])([A-Z])", r"\1 \2", action).replace("_", " ").replace("-", " ").split()).lower()


def run(args: argparse.Namespace) -> int:
    from moscale.cli import scene

    try:
        files = find_files(args.sources)
        bone_map = read_bone_map(args.joint_map)
        reader = scene.animation_reader()
    except scene.BlenderUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    status, taken, written, labels = 0, set(), 0, file_labels(files)
    for path in files:
        try:
            with _blender_output(shown=args.verbose):
                clips = reader.read_animations(path, bone_map)
        except (OSError, ValueError) as error:
            print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
            status = 2
            continue
        if not clips:
            print(f"{path}: no animation of an armature", file=sys.stderr)
        for clip in clips:
            out = clip_path(args.out, labels[path], clip.name, taken)
            _write(clip, out)
            written += 1
    print(f"{written} clips from {len(files)} files in {args.out}")
    return status


def _write(clip, out: Path) -> None:
    from moscale.evaluation.behaviour import pelvis_travel
    from moscale.motion import Motion

    metadata = {"source": clip.source, "action": clip.name, "bone_map": clip.bone_map}
    Motion(clip.joints, clip.fps, prompt=prompt_of(clip.name), metadata=metadata).save(out)
    travel = pelvis_travel(clip.joints) if len(clip.joints) > 1 else {"distance": 0.0, "forward": 0.0}
    print(f"{out.name}: {len(clip.joints)} frames, {clip.seconds:.2f} s at {clip.fps:g} fps, pelvis travel "
          f"{travel['distance']:.2f} m ({travel['forward']:+.2f} m forward)")


@contextmanager
def _blender_output(shown: bool):
    """Blender's C code and importers print (library warnings, import logs) straight to the process's stdout and
    stderr: hidden unless ``shown``, so the command's own lines stay readable."""
    if shown:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (null, *saved):
            os.close(fd)
