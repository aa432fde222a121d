"""Feet on the user's rig after retargeting: does a foot the motion holds still stay still on a rig of other
proportions, and does the heel stay above the floor? Before and after ``moscale.motion.rig_feet``, in bpy (headless).

    python build.py bench rig_feet [--seeds 0 1] [--motions walk run turn] [--fps 20]

Rigs: a Rigify Human rig made by Rigify's own Generate (keyed through its FK controls), a Mixamo-style rig (the
Mixamo-like proportions of tests/retarget_rigs.py as a Mixamo FBX imports: object turned 90 degrees about X, scale
0.01, bones in cm) and a LAFAN-style rig (a LAFAN1-named BVH, 8% taller with 1.8x longer feet than HumanML3D clip
012314, read by Blender's BVH importer with its defaults: one unit per cm). Motions: 6 s from the bundled model
(assets/model, foot lock on, as the add-on's Generate makes them). Each take goes through the add-on's own path
(``takes.apply_result``: retarget or Rigify's control solve, keys, the check that the rig follows) and is judged on
the depsgraph-evaluated pose at every frame, in the rig's own metres:

  toe drift   the toe bone head's horizontal travel over each run of the motion's toe contact (cm per plant; at
              another scene rate, over the scene frames between the run's first and last frame): mean and worst
              over the plants of all motions
  heel        the lowest heel point over the takes (cm above the floor; Rigify: its heel bones ORG-heel.02.L/R;
              Mixamo-style: the point under the ankle on the ground its rest pose stands on, carried by the foot
              bone; LAFAN-style, whose rest pose is no standing pose: the foot bone's head and tail), and the
              frames with the heel below -1 cm
  foot bone   the lowest head or tail of the foot bones (cm)

"before" is the retargeting as it was (no pins; the take shifted so the rig's lowest ankle/toe joint is as low as
the motion's; rotations slerped to the scene's rate), "after" today's ``retarget.joint_frames`` / ``retarget_at``.
Targets (issue 25): drift <= 1 cm, heel >= -1 cm.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="moscale-bench-"))
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "tests" / "blender")]

import bpy  # noqa: E402
import addon_utils  # noqa: E402  (bpy must come first)
import numpy as np  # noqa: E402
from blender_helpers import ADDON, apply_motion, raise_error  # noqa: E402
from feet_check import PROMPTS, evaluate_feet, generated_motion, lafan_style_rig, mixamo_style_rig  # noqa: E402
from moscale.motion import retarget  # noqa: E402
from moscale.motion import rotations as rot  # noqa: E402

CLIP = REPO / "tests" / "fixtures" / "humanml3d" / "new_joints" / "012314.npy"
_FEET = [7, 8, 10, 11]
_JOINT_FRAMES, _RETARGET_AT = retarget.joint_frames, retarget.retarget_at  # today's; "before" swaps them out


def legacy_joint_frames(joints_TJ3, rest, match, **_options) -> retarget.JointFrames:
    """``joint_frames`` before rig_feet: no pins, and the take shifted so the rig's lowest ankle/toe joint over the
    take is as high as the motion's (scaled), whatever the rig's feet look like."""
    frames = _JOINT_FRAMES(joints_TJ3, rest, match, pin_feet=False)
    if match.map_name == "smpl":
        return frames
    to_armature = rot.conjugate(rot.normalize(rest.object_rotation))
    motion = rot.rotate(to_armature, retarget.to_z_up(np.asarray(joints_TJ3, dtype=np.float64)))
    scale = float(retarget.leg_length(frames.rest_joints)) / float(np.mean(retarget.leg_length(motion)))
    up = rot.rotate(to_armature, np.array([0.0, 0.0, 1.0]))
    shift = scale * float(np.min(motion[:, _FEET] @ up)) - float(np.min(frames.heads[:, _FEET] @ up))
    return retarget.JointFrames(frames.deltas, frames.heads + shift * up, frames.rest_joints)


def legacy_retarget_at(joints_TJ3, rest, match, fps, out_fps, **_options) -> retarget.RetargetResult:
    """``retarget_at`` before rig_feet: every rig retargeted at the motion's rate and its rotations slerped."""
    return retarget.resample(retarget.retarget(joints_TJ3, rest, match, fps), out_fps)


def rigify_rig() -> bpy.types.Object:
    addon_utils.enable("rigify", default_set=True)
    bpy.ops.object.armature_human_metarig_add()
    bpy.ops.pose.rigify_generate()
    rig = bpy.data.objects["rig"]
    bpy.data.objects.remove(bpy.data.objects["metarig"])
    return rig


def build(kind: str, folder: Path, fps: int) -> tuple[bpy.types.Object, float]:
    """A fresh scene with the rig of ``kind`` (active): (the rig, metres per world unit)."""
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base, scene.frame_start = fps, 1.0, 1
    if kind == "Rigify":
        obj, unit = rigify_rig(), 1.0
    elif kind == "Mixamo-style":
        obj, unit = mixamo_style_rig(), 1.0
    else:
        obj, unit = lafan_style_rig(folder, np.load(CLIP)), 0.01
    for other in bpy.context.scene.objects:
        other.select_set(other == obj)
    bpy.context.view_layer.objects.active = obj
    return obj, unit


def measure(kind: str, motions: dict, legacy: bool, folder: Path, fps: int) -> dict:
    from moscale_blender import rig

    retarget.joint_frames = legacy_joint_frames if legacy else _JOINT_FRAMES
    retarget.retarget_at = legacy_retarget_at if legacy else _RETARGET_AT
    try:
        obj, unit = build(kind, folder, fps)
        match = rig.match_bones(obj)
        drift, heels, feet_cm = [], [], []
        for name, motion in motions.items():
            (take,) = apply_motion(obj, motion, prompt=name)
            report = evaluate_feet(obj, match, take.frame_start, take.frame_count, motion.joints, motion.fps, unit)
            drift.append(report.drift_cm)
            heels.append(report.heels_cm)
            feet_cm.append(report.feet_cm)
    finally:
        retarget.joint_frames, retarget.retarget_at = _JOINT_FRAMES, _RETARGET_AT
    drift, heels = np.concatenate(drift), np.concatenate(heels)
    return {"plants": len(drift), "drift_mean": drift.mean(), "drift_max": drift.max(),
            "over_1cm": int(np.sum(drift > 1.0)), "heel": heels.min(), "heel_below": int(np.sum(heels < -1.0)),
            "frames": len(heels), "foot": np.concatenate(feet_cm).min()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--motions", nargs="+", default=list(PROMPTS), choices=list(PROMPTS))
    parser.add_argument("--fps", type=int, default=20, help="scene frame rate (the motions are 20 fps)")
    args = parser.parse_args(argv)
    addon_utils.enable(ADDON, default_set=True, handle_error=raise_error)
    from moscale.pipeline import MoScalePipeline

    pipe = MoScalePipeline.from_pretrained(str(REPO / "assets" / "model"), device="cpu")
    motions = {f"{kind} {seed}": generated_motion(pipe, kind, seed) for kind in args.motions for seed in args.seeds}
    folder = Path(tempfile.mkdtemp(prefix="moscale-rig-feet-"))
    rows = [(kind, mode, measure(kind, motions, mode == "before", folder, args.fps))
            for kind in ("Rigify", "Mixamo-style", "LAFAN-style") for mode in ("before", "after")]
    print(f"motions: {', '.join(motions)} (6 s each, bundled model); scene at {args.fps} fps; evaluated pose, "
          "rig metres; targets: drift <= 1 cm, heel >= -1 cm")
    header = (f"{'rig':<14}{'':<8}{'plants':>7}{'toe drift mean':>16}{'worst':>10}{'> 1 cm':>8}{'heel lowest':>13}"
              f"{'frames < -1 cm':>16}{'foot bone lowest':>18}")
    print(header)
    print("-" * len(header))
    for kind, mode, row in rows:
        print(f"{kind:<14}{mode:<8}{row['plants']:>7}{row['drift_mean']:>13.2f} cm{row['drift_max']:>7.2f} cm"
              f"{row['over_1cm']:>8}{row['heel']:>10.2f} cm{row['heel_below']:>9} / {row['frames']:<5}"
              f"{row['foot']:>14.2f} cm")

if __name__ == "__main__":
    main()
