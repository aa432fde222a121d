"""Time to apply a 196-frame motion to the SMPL character and to a Mixamo-like rig, in bpy (headless).

    python build.py bench retarget [--repeats 20] [--fps 24]

Parts, each the median of --repeats runs:
  read rest      bpy -> ArmatureRest (bone heads, tails, matrix_local quaternions)
  retarget       numpy: joints -> pose-bone quaternions + root location (moscale.motion.retarget.retarget)
  resample       slerp to the scene frame rate (skipped at 20 fps)
  write keys     new action, slot/channelbag F-curves, keyframe_points.add + foreach_set, assign
  apply (total)  the add-on's whole path for one take (takes.apply_generate: all of the above + the take record)
Each cell is "median / best" in milliseconds.
The motion is HumanML3D clip 012314 (170 frames) played forward then back to 196 frames (9.8 s at 20 fps).
Numbers depend on what else runs: benchmark on an idle machine.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="moscale-bench-"))
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "tests" / "blender")]

import bpy  # noqa: E402
import numpy as np  # noqa: E402
from _common import run_times_s  # noqa: E402
from blender_helpers import build_armature  # noqa: E402
from moscale.motion import retarget  # noqa: E402
from moscale.motion import Motion  # noqa: E402


def motion_196() -> np.ndarray:
    clip = np.load(REPO / "tests" / "fixtures" / "humanml3d" / "new_joints" / "012314.npy")
    return np.concatenate([clip, clip[::-1][1:27]])[:196]


def build_mixamo_like() -> bpy.types.Object:
    from retarget_rigs import mixamo_like_bones

    return build_armature("Mixamo", *mixamo_like_bones("mixamorig:"), scale=0.01)


def median_ms(function, repeats: int) -> tuple[float, float]:
    """(median, best) milliseconds; the best run is the one least disturbed by other processes."""
    times = run_times_s(function, repeats)
    return 1000.0 * statistics.median(times), 1000.0 * min(times)


def measure(obj: bpy.types.Object, joints: np.ndarray, fps: float, repeats: int) -> dict[str, float]:
    from moscale_blender import keyframes, rig, takes

    match = rig.match_bones(obj)
    rest = rig.read_rest(obj)
    result = retarget.retarget(joints, rest, match)
    resampled = retarget.resample(result, fps)

    channels = keyframes.result_channels(obj, resampled)

    def write() -> None:
        action = keyframes.new_action("bench", obj)
        keyframes.write_keys(action, channels, 1)
        keyframes.assign(obj, action)
        keyframes.assign(obj, None)
        bpy.data.actions.remove(action)

    plan = takes.GeneratePlan(obj.name, "", "benchmark", len(joints) / 20, 0, 5.0, "fast")
    motion = Motion(joints)

    def apply_total() -> None:
        takes.apply_generate(bpy.context, plan, [motion])

    return {
        "read rest": median_ms(lambda: rig.read_rest(obj), repeats),
        "retarget": median_ms(lambda: retarget.retarget(joints, rest, match), repeats),
        "resample": median_ms(lambda: retarget.resample(result, fps), repeats) if fps != 20 else (0.0, 0.0),
        "write keys": median_ms(write, repeats),
        "apply (total)": median_ms(apply_total, repeats),
        "channels": len(channels),
        "keys": resampled.num_frames,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--fps", type=float, default=24.0, help="scene frame rate (the motion is 20 fps)")
    args = parser.parse_args()

    import addon_utils

    addon_utils.enable("moscale_blender", default_set=True)
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = int(args.fps), float(int(args.fps) / args.fps)
    joints = motion_196()

    from moscale_blender import character

    rigs = {"SMPL character": character.create_smpl_character(bpy.context, joints),
            "Mixamo-like rig": build_mixamo_like()}
    rows = {name: measure(obj, joints, args.fps, args.repeats) for name, obj in rigs.items()}

    columns = ["read rest", "retarget", "resample", "write keys", "apply (total)"]
    print(f"196-frame motion -> scene at {args.fps:g} fps, {args.repeats} runs, milliseconds as median / best; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'rig':<18}{'channels x keys':>16}" + "".join(f"{c:>16}" for c in columns))
    for name, row in rows.items():
        cells = "".join(f"{f'{row[c][0]:.1f} / {row[c][1]:.1f}':>16}" for c in columns)
        print(f"{name:<18}{row['channels']:>8} x {row['keys']:<5}{cells}")


if __name__ == "__main__":
    main()
