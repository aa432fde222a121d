"""A warm Generate in Blender (headless bpy, the real add-on, the bundled model, default preferences): what an animator
waits for after the first press, with and without another process busy on a core.

    python build.py bench blender_generate [--seconds 10] [--repeats 5] [--busy]

Each row: the median / best of --repeats presses of `bpy.ops.moscale.generate()` (EXEC: the same backend work and
keyframing the modal operator runs in its worker thread) on the SMPL character, after one warm-up press that loads
the model. Threads: the add-on's CPU Threads preference (0 = automatic, one thread) and 2, for comparison.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="moscale-bench-"))
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "tests" / "blender")]

import bpy  # noqa: E402
import addon_utils  # noqa: E402  (bpy must come first)
from _common import run_times_s  # noqa: E402
from blender_helpers import ADDON, raise_error  # noqa: E402


def press_times(seconds: float, repeats: int, threads: int) -> list[float]:
    prefs = bpy.context.preferences.addons[ADDON].preferences
    prefs.model_folder, prefs.device, prefs.quality, prefs.cpu_threads = "", "CPU", "FAST", threads
    settings = bpy.context.scene.moscale
    settings.target, settings.seconds, settings.prompt = 'SMPL', seconds, "a person walks forward"

    def press():
        settings.seed += 1
        assert bpy.ops.moscale.generate() == {'FINISHED'}

    return run_times_s(press, repeats)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--busy", action="store_true", help="a busy loop in another process meanwhile")
    args = parser.parse_args(argv)
    addon_utils.enable(ADDON, default_set=True, handle_error=raise_error)
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.context.scene.render.fps = 24
    busy = subprocess.Popen([sys.executable, "-c", "while 1: pass"]) if args.busy else None
    try:
        rows = [(label, press_times(args.seconds, args.repeats, threads)) for label, threads in
                (("automatic (1 thread)", 0), ("2 threads", 2))]
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    load = ", a busy loop on another core" if args.busy else ""
    print(f"Warm Generate, {args.seconds:g} s at 24 fps on the SMPL character, bundled model, fast{load}:")
    print("| CPU Threads | median s | best s |")
    print("|---|---|---|")
    for label, times in rows:
        print(f"| {label} | {statistics.median(times):.3f} | {min(times):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
