"""build.py's `extension` and `demo` pieces that need no download: the staged manifest, platforms, the demo's
refusal without a model. (Building and installing real zips: tests/blender/test_extension_install.py.)"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def build():
    spec = importlib.util.spec_from_file_location("moscale_build_script", REPO / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # stdlib only: importing it installs nothing
    return module


def test_staged_manifest_lists_wheels_and_platform(build):
    wheels = ["moscale-0.1.0-py3-none-any.whl", "tokenizers-0.23.3-cp310-abi3-manylinux_2_17_x86_64.whl"]
    light = tomllib.loads(build.staged_manifest(wheels, ["linux-x64"], "light"))
    assert light["wheels"] == [f"./wheels/{name}" for name in wheels]
    assert light["platforms"] == ["linux-x64"]
    assert set(light["permissions"]) == {"files", "network"}  # network: only for Install PyTorch
    full = tomllib.loads(build.staged_manifest(wheels, ["linux-x64"], "full"))
    assert set(full["permissions"]) == {"files"}  # PyTorch is inside: never goes online
    test = tomllib.loads(build.staged_manifest(wheels[:1], [], "test"))
    assert "platforms" not in test and test["id"] == "moscale"
    source = tomllib.loads((REPO / "blender_manifest.toml").read_text())
    assert {k: v for k, v in full.items() if k not in ("wheels", "platforms", "permissions")} == {
        k: v for k, v in source.items() if k != "permissions"}


def test_permission_reasons_fit_blenders_rules():
    permissions = tomllib.loads((REPO / "blender_manifest.toml").read_text())["permissions"]
    for reason in permissions.values():  # the validator: at most 64 characters, no trailing punctuation
        assert len(reason) <= 64 and reason[-1].isalnum()


def test_platforms_and_pins(build):
    assert build.host_platform() in build.PLATFORM_TAGS or sys.platform not in ("linux", "win32", "darwin")
    assert build.torch_spec("linux-x64").endswith("+cpu")  # PyPI's Linux torch is the CUDA build
    assert "+" not in build.torch_spec("windows-x64")
    assert not build.BLENDER_BUNDLED & {name.split("==")[0] for name in build.RUNTIME if name != "numpy"}
    assert build.addon_model_dirname()  # where the add-on looks for the bundled model inside the zip


def test_demo_without_a_model_says_what_to_do(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "build.py"), "demo", "--model", str(tmp_path / "missing"),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert done.returncode == 1
    assert "no model at" in done.stderr and "--model FOLDER" in done.stderr
    assert not (tmp_path / "out").exists()
