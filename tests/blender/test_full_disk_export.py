"""The add-on's Export operators (FBX, BVH, AMASS .npz) onto a real full disk: a tiny tmpfs in a mount namespace
(tests/full_disk.py), driven by full_disk_session.py in a fresh Python (the mount must happen in its namespace).

Each fails with one line, reported as the operator's error: "MoScale export failed: disk full: writing PATH failed:
No space left on device (the previous file is kept)" (or "(nothing was written)" for a new file); the previous file
is byte for byte the same, nothing else is left on the disk, and Blender's FBX exporter's traceback is not printed.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from full_disk import mount_namespace

HERE = Path(__file__).resolve().parent
SUFFIXES = (".fbx", ".bvh", ".npz")


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> tuple[dict, str]:
    """The driver's results and its stderr."""
    prefix = mount_namespace()
    work = tmp_path_factory.mktemp("full_disk_export")
    env = {**os.environ, "BLENDER_USER_RESOURCES": tempfile.mkdtemp(prefix="moscale-blender-user-", dir=work)}
    done = subprocess.run([*prefix, sys.executable, str(HERE / "full_disk_session.py"), str(work)], env=env,
                          capture_output=True, text=True, timeout=600, cwd=HERE.parents[1])
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):]), done.stderr


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_the_previous_file_is_kept(session, suffix):
    seen = session[0][f"{suffix} kept"]
    assert seen["error"] == (f"Error: MoScale export failed: disk full: writing {seen['path']} failed: No space left "
                             "on device (the previous file is kept)\n")
    assert seen["same"]
    assert seen["listing"] == [f"take{suffix}"]  # no .NAME.*.tmp scratch folder


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_nothing_is_written(session, suffix):
    seen = session[0][f"{suffix} new"]
    assert seen["error"] == (f"Error: MoScale export failed: disk full: writing {seen['path']} failed: No space left "
                             "on device (nothing was written)\n")
    assert seen["listing"] == []


def test_no_traceback_is_printed(session):
    """Blender prints a failing Python exporter's traceback before bpy.ops raises it: on a full disk the add-on
    holds it back (the report says what happened)."""
    assert "Traceback" not in session[1], session[1][-3000:]
