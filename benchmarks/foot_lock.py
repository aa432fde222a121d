"""What the foot lock (``moscale.motion.feet.lock_feet``, on in every generated take) does to the legs: the same takes
of the bundled model with and without it.

    python build.py bench foot_lock [--seeds 4] [--seconds 6] [--model assets/model]

Per take (8 prompts: walks, runs, turns, a circle, a slow walk, a backwards walk, salsa, a crouch):

  skating     toe speed over the frames the joints rule (``feet.contacts_from_joints``) finds in contact (cm/s)
  worst slide the largest horizontal travel of a toe within one such contact run (cm)
  jerk        mean third difference of all joints (m/s^3, ``feet.foot_stats``)
  knee accel  the largest frame-to-frame change of a knee's move (cm/frame^2, second difference), and its 99th
              percentile: a knee the lock bends through a nearly straight leg can swing forward or flip from front
              to back between two frames, which the unlocked take never does

The table gives medians over the takes (the knee's largest: also the worst take) and how many takes' largest knee
acceleration is more than twice the unlocked take's.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from moscale.motion import feet
from moscale.pipeline import MoScalePipeline

PROMPTS = ("a person walks forward", "a person runs forward", "a person walks forward and turns around",
           "a person jogs in a circle", "a person walks slowly", "a person dances salsa", "a person walks backwards",
           "a person crouches down")
KNEES = (4, 5)


def worst_slide_cm(joints: np.ndarray, contacts: np.ndarray) -> float:
    worst = 0.0
    for side in (0, 1):
        toe = feet.CONTACT_JOINTS[2 * side + 1]
        for start, stop in feet.runs(contacts[:, 2 * side + 1]):
            track = joints[start:stop, toe][:, [0, 2]]
            worst = max(worst, float(np.linalg.norm(track - track[0], axis=-1).max()))
    return 100 * worst


def take_numbers(joints: np.ndarray, fps: float) -> dict[str, float]:
    joints = np.asarray(joints, dtype=np.float64)
    contacts = feet.contacts_from_joints(joints, fps)
    stats = feet.foot_stats(joints, contacts, fps)
    accel = 100 * np.linalg.norm(np.diff(joints[:, KNEES], n=2, axis=0), axis=-1)
    return dict(skating=stats.skating_cm_s, slide=worst_slide_cm(joints, contacts), jerk=stats.jerk,
                knee_max=float(accel.max()), knee_p99=float(np.percentile(accel, 99)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path(__file__).resolve().parents[1] / "assets" / "model")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args(argv)
    pipe = MoScalePipeline.from_pretrained(str(args.model), device="cpu")
    rows = {"locked": [], "unlocked": []}
    for prompt in PROMPTS:
        for seed in range(args.seeds):
            for name, lock in (("locked", True), ("unlocked", False)):
                motion = pipe.generate(prompt, seconds=args.seconds, seed=seed, foot_lock=lock)
                rows[name].append(take_numbers(motion.joints, motion.fps))
    print(f"{len(PROMPTS)} prompts x {args.seeds} seeds, {args.seconds:g} s, {args.model}\n")
    print("| take | skating (cm/s) | worst slide (cm) | jerk | knee accel, largest: median / worst (cm/frame^2) "
          "| knee accel p99 |")
    print("|---|---|---|---|---|---|")
    for name, takes in rows.items():
        column = {key: np.array([take[key] for take in takes]) for key in takes[0]}
        print(f"| {name} | {np.nanmedian(column['skating']):.2f} | {np.median(column['slide']):.1f} | "
              f"{np.median(column['jerk']):.1f} | {np.median(column['knee_max']):.1f} / {column['knee_max'].max():.1f} "
              f"| {np.median(column['knee_p99']):.1f} |")
    locked = np.array([take["knee_max"] for take in rows["locked"]])
    unlocked = np.array([take["knee_max"] for take in rows["unlocked"]])
    print(f"\ntakes whose largest knee acceleration locked is more than twice the unlocked take's: "
          f"{int((locked > 2 * unlocked).sum())} of {len(locked)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
