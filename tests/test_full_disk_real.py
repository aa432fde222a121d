"""A real full disk ends every `moscale` writer in one line and loses nothing: each output kind is written onto a
tiny tmpfs (tests/full_disk.py) with room for about half of it, so the kernel's ENOSPC strikes in the middle of the
writer (numpy, the BVH writer, matplotlib and Pillow, Blender's FBX exporter and .blend writer), after the up-front
writability check has passed.

(1) A previous file of that name on the disk: exit status 1, stderr exactly
    `moscale CMD: error: disk full: writing PATH failed: No space left on device (the previous file is kept)`,
    the previous file byte for byte, no scratch folder (`.NAME.*.tmp`) left beside it.
(2) A new file: the same line ending `(nothing was written)`, and nothing at all left on the disk.

tests/test_bad_input.py simulates the same failures in-process (monkeypatched writers); these are the real thing.
"""
from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from full_disk import half_k, mount_namespace, on_full_disk, pages_k
from moscale import cli
from moscale.motion import Motion

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO / "tests" / "fixtures" / "humanml3d" / "new_joints" / "012314.npy"
MOSCALE = [sys.executable, "-m", "moscale.cli"]
HAVE_BPY = importlib.util.find_spec("bpy") is not None

# output suffix -> the command that writes it (.fbx / .blend go through bpy: `moscale export`'s own kinds)
KINDS = {".npz": "convert", ".npy": "convert", ".bvh": "convert", ".gif": "convert", ".png": "convert",
         ".fbx": "export", ".blend": "export"}
NEEDS_BPY = pytest.mark.skipif(not HAVE_BPY, reason="the bpy package (Blender as a Python module) is not installed")


def kinds() -> list:
    return [pytest.param(suffix, marks=NEEDS_BPY) if KINDS[suffix] == "export" else suffix for suffix in KINDS]


@pytest.fixture(scope="module")
def namespace() -> tuple[str, ...]:
    return mount_namespace()


@pytest.fixture(scope="module")
def walk(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("walk") / "walk.npz"
    Motion(np.load(CLIP)[:60]).save(path)
    return path


@pytest.fixture(scope="module")
def written(walk, namespace, tmp_path_factory) -> dict[str, Path]:
    """Each kind written once on a normal disk: the previous file of case (1), and the size to run out of."""
    folder = tmp_path_factory.mktemp("written")
    python_kinds = [s for s, command in KINDS.items() if command == "convert"]
    assert cli.main(["convert", str(walk), *sum((["-o", str(folder / f"out{s}")] for s in python_kinds), [])]) == 0
    if HAVE_BPY:  # in a subprocess, as the command line runs it: bpy must not start Blender in this process
        import subprocess

        scenes = [s for s, command in KINDS.items() if command == "export"]
        done = subprocess.run([*MOSCALE, "export", str(walk), *sum((["-o", str(folder / f"out{s}")] for s in scenes),
                                                                     [])], capture_output=True, text=True, cwd=REPO)
        assert done.returncode == 0, done.stderr
    return {suffix: folder / f"out{suffix}" for suffix in KINDS if (folder / f"out{suffix}").is_file()}


def full_disk_line(command: str, path: Path, kept: bool) -> str:
    ending = "the previous file is kept" if kept else "nothing was written"
    return f"moscale {command}: error: disk full: writing {path} failed: No space left on device ({ending})"


@pytest.mark.parametrize("suffix", kinds())
def test_a_full_disk_keeps_the_previous_file(suffix, namespace, walk, written, tmp_path):
    previous, name = written[suffix], f"out{suffix}"
    size = previous.stat().st_size
    output = tmp_path / "disk" / name
    seen = on_full_disk(namespace, [*MOSCALE, KINDS[suffix], str(walk), "-o", str(output)], tmp_path,
                        size_k=pages_k(size) + half_k(size), name=name, previous=previous, cwd=REPO)
    assert (seen.rc, seen.stderr) == (1, full_disk_line(KINDS[suffix], output, kept=True) + "\n"), seen.stdout
    assert seen.kept == previous.read_bytes()
    assert seen.listing == [name], seen.listing  # no .NAME.*.tmp scratch folder, no .moscale-check-* folder


@pytest.mark.parametrize("suffix", kinds())
def test_a_full_disk_writes_nothing_new(suffix, namespace, walk, written, tmp_path):
    name = f"out{suffix}"
    output = tmp_path / "disk" / name
    seen = on_full_disk(namespace, [*MOSCALE, KINDS[suffix], str(walk), "-o", str(output)], tmp_path,
                        size_k=half_k(written[suffix].stat().st_size), name=name, cwd=REPO)
    assert (seen.rc, seen.stderr) == (1, full_disk_line(KINDS[suffix], output, kept=False) + "\n"), seen.stdout
    assert seen.listing == [] and seen.kept is None


def test_the_disk_is_really_full(namespace, written, tmp_path):
    """The tmpfs limits what a writer gets: the same file that fits on a normal disk does not fit there."""
    previous = written[".bvh"]
    seen = on_full_disk(namespace, ["cp", str(previous), str(tmp_path / "disk" / "copy.bvh")], tmp_path,
                        size_k=half_k(previous.stat().st_size), name="copy.bvh")
    assert seen.rc != 0 and "No space left on device" in seen.stderr
    assert shutil.disk_usage(tmp_path).free > 1 << 20  # outside the namespace the folder is the normal disk again


# ------------------------------------------------------------------------------ writers that do not say "disk full"

SILENT_WRITER = """
import os, sys
from moscale.utils import atomic

try:
    with atomic.replacing(sys.argv[1]) as temporary:
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT)
        try:  # what fits, and not a word of the ENOSPC (as Blender's .blend writer, which then says "Saved")
            while True:
                os.write(handle, bytes(1 << 16))
        except OSError:
            pass
        os.close(handle)
        raise OSError("Blender wrote an unreadable file")  # what reading the file back finds
except atomic.DiskFull as error:
    sys.exit(f"{error}")
"""


def test_a_writer_that_hides_the_full_disk(namespace, tmp_path):
    """Found by the space left in the folder (the cut-short file is still in the scratch folder then)."""
    output = tmp_path / "disk" / "scene.blend"
    seen = on_full_disk(namespace, [sys.executable, "-c", SILENT_WRITER, str(output)], tmp_path, size_k=48,
                        name=output.name, cwd=REPO)
    assert (seen.rc, seen.stderr) == (1, f"disk full: writing {output} failed: No space left on device (nothing was "
                                         "written)\n")
    assert seen.listing == []


def test_a_quota_is_found_by_trying_to_write(tmp_path, monkeypatch):
    """A quota leaves the disk free space and the user none: the folder is asked by writing to it."""
    import errno
    import os
    import tempfile

    from moscale.utils import atomic

    class OverQuota:
        def __init__(self, *args, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def write(self, data):
            raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))

    with pytest.raises(OSError, match="unreadable") as raised:  # room on the disk: the writer's own error
        with atomic.replacing(tmp_path / "scene.blend") as temporary:
            temporary.write_bytes(b"BLENDER")
            raise OSError("Blender wrote an unreadable file")
    assert not isinstance(raised.value, atomic.DiskFull) and list(tmp_path.iterdir()) == []
    monkeypatch.setattr(tempfile, "TemporaryFile", OverQuota)
    with pytest.raises(atomic.DiskFull, match=r"scene.blend failed: Disk quota exceeded \(nothing was written\)$"):
        with atomic.replacing(tmp_path / "scene.blend") as temporary:
            temporary.write_bytes(b"BLENDER")
            raise OSError("Blender wrote an unreadable file")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("error", [
    RuntimeError("Error: No space left on device\n"),  # bpy.ops.wm.save_as_mainfile, when Blender notices
    RuntimeError("Error: Python: Traceback (most recent call last):\n  ...\nOSError: [Errno 28] No space left on "
                 "device\n"),  # bpy.ops.export_scene.fbx: the exporter's traceback as the operator's report
])
def test_blenders_words_for_a_full_disk(error, tmp_path):
    from moscale.utils import atomic

    (tmp_path / "scene.fbx").write_bytes(b"previous")
    with pytest.raises(atomic.DiskFull) as raised:
        with atomic.replacing(tmp_path / "scene.fbx"):
            raise error
    assert str(raised.value) == (f"disk full: writing {tmp_path / 'scene.fbx'} failed: No space left on device "
                                 "(the previous file is kept)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.fbx"]
