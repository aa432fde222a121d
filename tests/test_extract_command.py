"""`moscale data extract`: the animations of Blender files (.blend, .glb) as .npz motions that Motion.load reads.

The files come from tests/blender/keyed_rig.py (a rig with Mesh2Motion's glTF bone names; the pelvis moves 1 m
forward over 21 frames at 20 fps). Blender work runs in subprocesses, as the command does (moscale.cli.scene resets
bpy to factory settings, which must not touch the add-on tests' bpy session).
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from moscale.cli import extract
from moscale.motion import Motion
from moscale.motion.skeleton import JOINT_NAMES

TESTS = Path(__file__).resolve().parent
BPY = pytest.mark.skipif(importlib.util.find_spec("bpy") is None,
                         reason="the bpy package (Blender as a Python module) is not installed")
CM = 0.01


def run_python(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def rig_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("keyed_rig")
    done = run_python([str(TESTS / "blender" / "keyed_rig.py"), str(folder)], folder)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return folder


@BPY
def test_extract_writes_a_motion_per_clip(rig_folder, tmp_path):
    out = tmp_path / "clips"
    done = run_python(["-m", "moscale.cli", "data", "extract", str(rig_folder), "--out", str(out)], tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    line = "{}__Walk_Forward.npz: 21 frames, 1.00 s at 20 fps, pelvis travel 1.00 m (+1.00 m forward)"
    assert done.stdout.splitlines() == [line.format("walk-blend"), line.format("walk-glb"),
                                        f"2 clips from 2 files in {out}"]
    assert done.stderr == ""  # Blender's own messages are hidden
    motions = {}
    for kind in ("blend", "glb"):
        motion = motions[kind] = Motion.load(out / f"walk-{kind}__Walk_Forward.npz")
        assert motion.joints.shape == (21, 22, 3) and motion.fps == 20 and motion.prompt == "walk forward"
        assert motion.metadata == {"source": str(rig_folder / f"walk.{kind}"), "action": "Walk Forward",
                                   "bone_map": "mesh2motion"}
        # the rig faces MoScale's +X (its object is turned); the pelvis at standing height
        np.testing.assert_allclose(motion.joints[-1, 0] - motion.joints[0, 0], [1.0, 0.0, 0.0], atol=CM)
        assert motion.joints[0, 0, 1] == pytest.approx(0.917, abs=CM)
    # the .glb (keys at 20 fps, imported into the command's 24 fps scene) gives the frames the .blend gives
    assert np.abs(motions["glb"].joints - motions["blend"].joints).max() < 1e-3


@BPY
def test_unreadable_files_are_one_line_errors(rig_folder, tmp_path):
    broken = tmp_path / "broken.glb"
    broken.write_bytes(b"not a glb")
    out = tmp_path / "clips"
    done = run_python(["-m", "moscale.cli", "data", "extract", str(broken), str(rig_folder / "walk.blend"),
                       "--out", str(out)], tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"error: {broken}: Blender cannot import it (Bad glTF: json error: Expecting "
                                        "value: line 1 column 1 (char 0))"]
    assert [path.name for path in out.iterdir()] == ["walk__Walk_Forward.npz"]  # the readable file is still written
    gone = tmp_path / "gone.blend"
    missing = run_python(["-m", "moscale.cli", "data", "extract", str(gone), "--out", str(out)], tmp_path)
    assert missing.returncode == 2 and missing.stderr.strip() == f"error: {gone}: no such file or folder"


def test_sources_names_and_bone_maps(tmp_path):
    (tmp_path / "a").mkdir()
    for name in ("a/walk.blend", "a/walk.glb", "a/notes.txt", "run.gltf"):
        (tmp_path / name).write_bytes(b"")
    assert extract.find_files([tmp_path / "a", tmp_path / "run.gltf", tmp_path / "a" / "walk.glb"]) == [
        tmp_path / "a" / "walk.blend", tmp_path / "a" / "walk.glb", tmp_path / "run.gltf"]
    with pytest.raises(ValueError, match="not a Blender animation file"):
        extract.find_files([tmp_path / "a" / "notes.txt"])
    with pytest.raises(FileNotFoundError):
        extract.find_files([tmp_path / "missing"])
    labels = extract.file_labels([tmp_path / "a" / "walk.blend", tmp_path / "a" / "walk.glb", tmp_path / "run.gltf"])
    assert list(labels.values()) == ["walk-blend", "walk-glb", "run"]
    taken: set[Path] = set()
    assert [extract.clip_path(tmp_path, "run", name, taken).name for name in ("Two-hand Blast", "Two-hand/Blast")] == [
        "run__Two-hand_Blast.npz", "run__Two-hand_Blast_2.npz"]
    assert extract.prompt_of("Walk_Formal_Loop") == "walk formal loop" and extract.prompt_of("RunAnime") == "run anime"
    flat = tmp_path / "map.json"
    flat.write_text(json.dumps({joint: f"bone_{i}" for i, joint in enumerate(JOINT_NAMES)}))
    assert extract.read_bone_map(flat).bones["pelvis"] == "bone_0"
    flat.write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected"):
        extract.read_bone_map(flat)



def test_a_bone_map_of_binary_junk_is_one_line(tmp_path):
    from moscale.cli.extract import read_bone_map

    junk = tmp_path / "map.json"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    with pytest.raises(ValueError, match=r"cannot read bone map .*map.json: not a JSON text file"):
        read_bone_map(junk)
