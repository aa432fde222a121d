"""Build the extension zip with `python build.py extension`, install it into a sandboxed Blender user folder, and use
it as a user would: generate a take, export FBX (Unity, Unreal) and BVH, re-import, compare.

Which zip: the default run builds the `test` variant (the add-on, the backend wheel and the rig maps; ~0.2 MB,
seconds) and the sessions take torch, transformers and the text encoder from this virtual environment, as a Blender
whose Python already has them would. The user builds are `slow` tests: `light` (every dependency but PyTorch:
~110 MB) and `full` (PyTorch's CPU build too: ~300 MB, 1.3 GB installed); in `full` every library comes from the
zip's wheels. A real light install gets PyTorch from Preferences > Install PyTorch (test_torch_install.py).

Each install runs in fresh Python processes (extension_session.py): `install` (as from Preferences > Get Extensions
> Install from Disk), then `use`, which starts like Blender after a restart, so the zip's wheels come before this
environment's site-packages. The bundled model is left out of the zip; the sessions use a random-weight release.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SESSION = Path(__file__).resolve().parent / "extension_session.py"
MM = 1e-3


def build_zip(variant: str, out_dir: Path) -> Path:
    done = subprocess.run([sys.executable, str(REPO / "build.py"), "extension", "--variant", variant, "--no-model",
                           "--output-dir", str(out_dir), "--build-dir", str(out_dir / "build")],
                          capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Success parsing TOML" in done.stdout  # Blender's validator ran on the staged folder and the zip
    (package,) = out_dir.glob(f"moscale-*-{variant}*.zip")
    return package


def session(phase: str, args: list[str], user: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(BLENDER_USER_RESOURCES=str(user), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    done = subprocess.run([sys.executable, str(SESSION), phase, *args], capture_output=True, text=True, env=env,
                          cwd=user)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


def install_and_use(package: Path, model: Path, tmp_path: Path) -> tuple[dict, dict, Path]:
    user, work = tmp_path / "blender-user", tmp_path / "exports"
    user.mkdir()
    work.mkdir()
    installed = session("install", [str(package)], user)
    used = session("use", [str(model), str(work)], user)
    return installed, used, user


def check_user_session(installed: dict, used: dict, user: Path) -> None:
    assert installed["enabled"] and used["enabled"]
    assert Path(installed["addon_file"]).is_relative_to(user / "extensions" / "user_default" / "moscale")
    wheels = user / "extensions" / ".local"
    assert Path(used["moscale_file"]).is_relative_to(wheels), "the backend must come from the zip's wheel"
    assert used["generate"] == ["FINISHED"] and used["take_frames"] == [1, 40]  # 2 s at 20 fps from frame 1
    for name in ("unity.fbx", "unreal.fbx", "take.bvh"):
        assert used[f"export {name}"] == ["FINISHED"]
        imported = used[name]
        assert imported["bones"] == 22, name  # no leaf bones
        assert imported["frame_range"] == [1, 40], name
        assert imported["max_error_m"] < MM, name
    assert used["unity.fbx"]["meshes"] == used["unreal.fbx"]["meshes"] == 1  # the skinned mannequin
    assert used["unreal.fbx"]["armature_name"] == "Armature"  # no extra root bone in Unreal
    assert "exists" in used["overwrite_refused"] and used["kept_existing"]
    assert used["overwrite_confirmed"] == ["FINISHED"]


def test_extension_zip_installs_generates_and_exports(tiny_model, tmp_path):
    package = build_zip("test", tmp_path / "dist")
    installed, used, user = install_and_use(package, tiny_model, tmp_path)
    check_user_session(installed, used, user)


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["light", "full"])
def test_user_builds_install_and_run_from_their_wheels(variant, tiny_model, tmp_path):
    package = build_zip(variant, tmp_path / "dist")
    print(f"{package.name}: {package.stat().st_size / 2**20:.1f} MiB")
    installed, used, user = install_and_use(package, tiny_model, tmp_path)
    check_user_session(installed, used, user)
    wheels = user / "extensions" / ".local"
    for library in ("transformers", "tokenizers", "safetensors"):
        assert Path(used[f"{library}_file"]).is_relative_to(wheels), library
    assert Path(used["torch_file"]).is_relative_to(wheels) == (variant == "full")
