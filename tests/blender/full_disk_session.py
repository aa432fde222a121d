"""The add-on's Export operators onto a real full disk, in a fresh Python run by test_full_disk_export.py inside a
mount namespace (tests/full_disk.py), where it may mount tmpfs folders:

    python full_disk_session.py WORK_DIR

A take on the SMPL character (40 frames of the reference clip, made the way Generate makes one) is exported with each
operator (FBX, BVH, AMASS .npz) to WORK_DIR/normal: that file is the previous file, and its size the one to run out
of. Then each is exported again onto a fresh tmpfs with room for about half of it: once over the previous file
(case "kept"), once as a new file (case "new"). Prints one line `RESULT {json}`: per operator and case, the error
the operator raised, the names left on the disk, and whether the previous file is byte for byte the same.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import bpy  # first: it puts Blender's script modules (addon_utils) on sys.path
import addon_utils
import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests")]
ADDON = "moscale_blender"
OPERATORS = {".fbx": "export_fbx", ".bvh": "export_bvh", ".npz": "export_amass"}


def _raise(error: BaseException) -> None:
    raise error


def make_take() -> None:
    from moscale.motion import Motion
    from moscale_blender import takes

    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base, scene.frame_start = 20, 1.0, 1
    joints = np.load(REPO / "tests" / "fixtures" / "humanml3d" / "new_joints" / "012314.npy")[:40]
    takes.apply_generate(bpy.context, takes.GeneratePlan("", "", "walk", 2.0, 0, 5.0, "fast"), [Motion(joints)])


def export(suffix: str, path: Path) -> str:
    """The operator's error line ('' when it finished), as a script calling it sees it."""
    try:
        result = getattr(bpy.ops.moscale, OPERATORS[suffix])(filepath=str(path), check_existing=False)
    except RuntimeError as error:
        return str(error)
    return "" if result == {'FINISHED'} else f"not finished: {result}"


def on_full_disk(disk: Path, size_k: int, suffix: str, previous: Path | None) -> dict:
    from full_disk import PAGE_K

    disk.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_k}k", "tmpfs", str(disk)], check=True)
    try:
        path = disk / f"take{suffix}"
        if previous is not None:
            path.write_bytes(previous.read_bytes())
        error = export(suffix, path)
        return {"path": str(path), "error": error, "listing": sorted(p.name for p in disk.iterdir()),
                "same": previous is not None and path.is_file() and path.read_bytes() == previous.read_bytes(),
                "size_k": size_k, "page_k": PAGE_K}
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def main(work: Path) -> dict:
    from full_disk import half_k, pages_k

    addon_utils.enable(ADDON, default_set=False, handle_error=_raise)
    make_take()
    normal = work / "normal"
    normal.mkdir(parents=True)
    seen = {}
    for suffix in OPERATORS:
        previous = normal / f"take{suffix}"
        error = export(suffix, previous)
        assert error == "", error
        size = previous.stat().st_size
        seen[f"{suffix} kept"] = on_full_disk(work / f"kept{suffix}", pages_k(size) + half_k(size), suffix, previous)
        seen[f"{suffix} new"] = on_full_disk(work / f"new{suffix}", half_k(size), suffix, None)
    return seen


if __name__ == "__main__":
    print("RESULT " + json.dumps(main(Path(sys.argv[-1]))))
