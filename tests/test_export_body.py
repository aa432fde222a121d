"""`moscale export … --smpl-model FOLDER`: the headless FBX / .blend character gets the real SMPL body from the
user's model files (a tiny synthetic SMPL model made here), and unusable model files write nothing.

Like test_export.py, every export runs in a fresh Python (`moscale.cli.scene` resets bpy to factory settings)."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from moscale.motion import Motion
from synthetic_smpl import write_synthetic_smpl

pytestmark = pytest.mark.skipif(importlib.util.find_spec("bpy") is None or importlib.util.find_spec("smplx") is None,
                                reason="needs the bpy and smplx packages")

TESTS = Path(__file__).resolve().parent
CLIP = TESTS / "fixtures" / "humanml3d" / "new_joints" / "012314.npy"


def run_python(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd)


def test_export_puts_the_real_body_on_the_character(tmp_path):
    write_synthetic_smpl(tmp_path / "models", "MALE")
    Motion(np.load(CLIP)[:30], 20, prompt="a person walks").save(tmp_path / "walk.npz")
    done = run_python(["-m", "moscale.cli.export", str(tmp_path / "walk.npz"), "-o", str(tmp_path / "walk.blend"),
                       "--smpl-model", str(tmp_path / "models"), "--gender", "male", "--betas", "0.5,-1"], tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    check = run_python([str(TESTS / "scene_check.py"), "blend", str(tmp_path / "walk.blend")], tmp_path)
    result = json.loads([line for line in check.stdout.splitlines() if line.startswith("RESULT ")][-1][7:])
    assert result["meshes"] == ["SMPL Character SMPL male"] and result["bones"] == [22]
    assert result["stored_motion"] == [True]


def test_unusable_model_folder_writes_nothing(tmp_path):
    write_synthetic_smpl(tmp_path / "models", "NEUTRAL")
    Motion(np.load(CLIP)[:10], 20).save(tmp_path / "walk.npz")
    done = run_python(["-m", "moscale.cli.export", str(tmp_path / "walk.npz"), "-o", str(tmp_path / "walk.fbx"),
                       "--smpl-model", str(tmp_path / "models"), "--gender", "female"], tmp_path)
    assert done.returncode == 2 and "no female model" in done.stderr
    assert not (tmp_path / "walk.fbx").exists()
    done = run_python(["-m", "moscale.cli.export", str(tmp_path / "walk.npz"), "-o", str(tmp_path / "walk.fbx"),
                       "--smpl-model", str(tmp_path / "models"), "--betas", "1,x"], tmp_path)
    assert done.returncode == 2 and "--betas" in done.stderr and not (tmp_path / "walk.fbx").exists()
