"""Headless export (`moscale export`, moscale.cli.scene.write_scene): FBX and .blend through the bpy module.

Each export runs in a fresh Python, as the command line does (`moscale.cli.scene` resets bpy to factory settings,
which must not touch the add-on tests' bpy session), and tests/scene_check.py re-opens what it wrote.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from moscale.cli import export, scene
from moscale.motion import Motion

# bpy is not imported here (it would start Blender in this process): the exports run in subprocesses
pytestmark = pytest.mark.skipif(importlib.util.find_spec("bpy") is None,
                                reason="the bpy package (Blender as a Python module) is not installed")

TESTS = Path(__file__).resolve().parent
CLIP = TESTS / "fixtures" / "humanml3d" / "new_joints" / "012314.npy"
FRAMES = 60  # 3 s of the reference clip
MM = 1e-3


def run_python(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd)


def scene_check(args: list[str], cwd: Path) -> dict:
    done = run_python([str(TESTS / "scene_check.py"), *args], cwd)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A real motion as `moscale generate` saves it (.npz with prompt and settings), and its joints as .npy."""
    folder = tmp_path_factory.mktemp("clip")
    joints = np.load(CLIP)[:FRAMES]
    Motion(joints, 20, prompt="a person walks", metadata={"seed": 3, "guidance": 5.0, "schedule": [1, 1, 1, 1]}).save(
        folder / "walk.npz")
    np.save(folder / "joints.npy", joints)
    return folder


@pytest.fixture(scope="module")
def unity_export(clip) -> Path:
    out = clip / "unity"
    done = run_python(["-m", "moscale.cli.export", str(clip / "walk.npz"), "-o", str(out / "walk.fbx"),
                       "-o", str(out / "walk.blend"), "-o", str(out / "walk.bvh"), "-o", str(out / "walk.gif")], clip)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def test_fbx_reimports_with_the_motion_to_a_millimetre(unity_export, clip):
    result = scene_check(["fbx", str(unity_export / "walk.fbx"), str(clip / "joints.npy")], clip)
    assert result["bones"] == 22  # add_leaf_bones=False
    assert result["frame_range"] == [1, FRAMES]
    assert result["meshes"] == 1  # the skinned mannequin keeps the rest pose
    assert result["scale"] == pytest.approx([1.0, 1.0, 1.0])  # Unity preset: sizes applied, imports at scale 1
    assert result["max_error_m"] < MM


def test_blend_holds_the_character_and_an_editable_take(unity_export):
    result = scene_check(["blend", str(unity_export / "walk.blend")], unity_export)
    assert result["armatures"] == ["SMPL Character"] and result["bones"] == [22]
    assert result["meshes"] == ["SMPL Character Mannequin"]
    assert result["assigned_action"] == ["MoScale Take 1"]
    assert result["stored_motion"] == [True]  # the add-on's Edit works on the take
    assert result["fps"] == 20 and result["frame_range"] == [1, FRAMES]
    assert result["takes"] == [{"name": "Take 1", "prompt": "a person walks", "frames": FRAMES,
                                "armature": "SMPL Character"}]


def test_other_outputs_of_the_same_command(unity_export, clip):
    bvh = Motion.load(unity_export / "walk.bvh")
    assert np.abs(bvh.joints - np.load(clip / "joints.npy")).max() < MM
    assert (unity_export / "walk.gif").stat().st_size > 0


def test_unreal_preset_and_frame_rate(clip):
    out = clip / "unreal" / "walk.fbx"
    done = run_python(["-m", "moscale.cli.export", str(clip / "walk.npz"), "-o", str(out), "--preset", "unreal",
                       "--fps", "30"], clip)
    assert done.returncode == 0, done.stderr[-3000:]
    np.save(clip / "first.npy", np.load(clip / "joints.npy")[:1])  # frame 1 is the motion's frame 0 at any rate
    result = scene_check(["fbx", str(out), str(clip / "first.npy")], clip)
    assert result["armature_name"] == "Armature"  # Unreal adds no extra root bone for it
    assert result["frame_range"] == [1, FRAMES * 30 // 20]  # the add-on's resampling keeps the duration
    assert result["max_error_m"] < MM


def test_write_outputs_rejects_unknown_types(tmp_path):
    motion = Motion(np.load(CLIP)[:4], 20)
    with pytest.raises(ValueError, match=r"\.obj"):
        export.write_outputs(motion, [tmp_path / "walk.obj"])
    with pytest.raises(ValueError, match="preset"):
        export.write_scene(motion, tmp_path / "walk.fbx", preset="godot")


def test_missing_bpy_is_explained(monkeypatch, tmp_path, capsys, clip):
    monkeypatch.setitem(sys.modules, "bpy", None)  # `import bpy` raises ImportError
    with pytest.raises(scene.BlenderUnavailable, match="pip install bpy"):
        scene.require_bpy()
    args = _parse(["export", str(clip / "walk.npz"), "-o", str(tmp_path / "walk.fbx")])
    assert export.run(args) == 3
    assert "pip install bpy" in capsys.readouterr().err
    assert not (tmp_path / "walk.fbx").exists()


def _parse(argv: list[str]):
    import argparse

    parser = argparse.ArgumentParser()
    export.configure_parser(parser)
    return parser.parse_args(argv[1:])


@pytest.mark.slow
def test_filmstrip_renders_with_cycles(clip):
    out = clip / "strip.png"
    done = run_python(["-m", "moscale.cli.export", str(clip / "walk.npz"), "-o", str(clip / "strip.blend"),
                       "--filmstrip", str(out), "--filmstrip-frames", "3", "--samples", "2"], clip)
    assert done.returncode == 0, done.stderr[-3000:]
    from PIL import Image

    with Image.open(out) as image:
        assert image.size == (3 * 200, 300)
        assert np.asarray(image).std() > 5  # something was drawn
