"""Install PyTorch (the light build): refused while Blender is offline, pip's progress and failures reach the user,
and the install folder is the extension's user directory. pip itself is replaced by small scripts."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import bpy
import pytest

from moscale_blender import torch_install

FAKE_PIP = """
import sys, time
if "--progress-bar" in sys.argv and "{refuse_raw}" == "yes":
    print("ERROR: option --progress-bar: invalid choice: 'raw' (choose from 'on', 'off')")
    sys.exit(2)
print("Collecting torch==2.13.0", flush=True)
print("Downloading torch-2.13.0-cp311-cp311-manylinux_2_28_x86_64.whl (192 MB)", flush=True)
print("Progress 50 of 100", flush=True)
time.sleep({pause})
print("Installing collected packages: torch", flush=True)
print("Successfully installed torch-2.13.0", flush=True)
sys.exit({code})
"""


def fake_pip(tmp_path: Path, code: int = 0, pause: float = 0.0, refuse_raw: bool = False) -> list[str]:
    script = tmp_path / "fake_pip.py"
    script.write_text(FAKE_PIP.format(code=code, pause=pause, refuse_raw="yes" if refuse_raw else "no"))
    return [sys.executable, str(script), "--progress-bar", "raw"]


@pytest.fixture
def online(addon):
    system = bpy.context.preferences.system
    before = system.use_online_access
    system.use_online_access = True
    yield
    system.use_online_access = before


def test_offline_blender_refuses_with_a_way_out(addon):
    assert not bpy.app.online_access  # headless Blender starts offline
    with pytest.raises(RuntimeError, match="Allow Online Access.*full MoScale extension zip"):
        bpy.ops.moscale.install_torch(variant='CPU')
    with pytest.raises(torch_install.InstallError, match="Online access is off"):
        torch_install.start_install("CPU")


def test_pip_command_targets_the_extension_user_folder(addon):
    folder = torch_install.torch_folder()
    assert Path(folder).is_relative_to(bpy.utils.user_resource('EXTENSIONS'))
    cpu = torch_install.install_command("CPU", folder, python="python3.11")
    assert cpu[:4] == ["python3.11", "-m", "pip", "install"]
    assert cpu[cpu.index("--target") + 1] == str(folder)
    assert cpu[cpu.index("--index-url") + 1].endswith("/whl/cpu") and cpu[-1].startswith("torch")
    cuda = torch_install.install_command("CUDA", folder)
    assert "/whl/cu" in cuda[cuda.index("--index-url") + 1] and cuda[0] == sys.executable
    with pytest.raises(torch_install.InstallError, match="ROCM"):
        torch_install.install_command("ROCM", folder)


def test_progress_then_success(addon, tmp_path):
    job = torch_install.InstallJob(fake_pip(tmp_path, pause=1.0), tmp_path / "torch")
    seen = set()
    deadline = time.monotonic() + 30
    while torch_install.poll_install(job) == torch_install.RUNNING and time.monotonic() < deadline:
        seen.add((round(job.progress, 2), job.message.split(" ")[0]))
        time.sleep(0.02)
    assert job.state == torch_install.DONE and job.progress == 1.0
    assert (0.5, "Downloading") in seen  # pip's raw progress and its phase, while it ran
    assert "installed" in job.message and job.output[-1] == "Successfully installed torch-2.13.0"


def test_failure_keeps_pips_last_lines(addon, tmp_path):
    job = torch_install.InstallJob(fake_pip(tmp_path, code=1), tmp_path / "torch")
    assert job.wait() == torch_install.FAILED
    assert "exit 1" in job.error and "Successfully installed" in job.error


def test_old_pip_without_raw_progress_is_retried(addon, tmp_path):
    job = torch_install.InstallJob(fake_pip(tmp_path, refuse_raw=True), tmp_path / "torch")
    assert job.wait() == torch_install.DONE
    assert "raw" not in job.command


def test_python_without_pip_gets_ensurepip_first(addon, tmp_path):
    marker = tmp_path / "pip-bootstrapped"
    script = tmp_path / "python_without_pip.py"
    script.write_text(f"""
import pathlib, sys
marker = pathlib.Path({str(marker)!r})
if sys.argv[1:3] == ["-m", "ensurepip"]:
    marker.write_text("ok"); sys.exit(0)
if not marker.exists():
    print("/usr/bin/python3: No module named pip"); sys.exit(1)
print("Successfully installed torch-2.13.0")
""")
    # `<python> -m pip ...`, where <python> is a script standing in for a Blender Python without pip
    job = torch_install.InstallJob([sys.executable, str(script), "-m", "pip", "install", "torch"], tmp_path / "torch")
    assert job.wait() == torch_install.DONE and marker.exists()
    assert job.command[-2:] == ["install", "torch"]  # pip ran again once ensurepip had succeeded


def test_operator_installs_when_online(online, tmp_path, monkeypatch):
    monkeypatch.setattr(torch_install, "install_command", lambda variant, target, python=None: fake_pip(tmp_path))
    assert bpy.ops.moscale.install_torch(variant='CUDA') == {'FINISHED'}
    assert torch_install.active_install().state == torch_install.DONE
    assert str(torch_install.torch_folder()) in sys.path  # importable without restarting Blender
    monkeypatch.setattr(torch_install, "install_command", lambda variant, target, python=None: fake_pip(tmp_path, 3))
    with pytest.raises(RuntimeError, match="pip failed"):
        bpy.ops.moscale.install_torch(variant='CPU')
