"""What an animator sees on the prompts they type first, on several seeds: does the pelvis travel for "walks", does
a hand wave for "waves", does a compound prompt do both parts (moscale.evaluation.behaviour), are the feet planted
(moscale.motion.feet: toe skating over contact frames, cm/s).

    python build.py bench prompts [--model assets/model] [--seeds 5] [--legacy] [--json out.json]

--legacy also scores the model as it was sampled before this release's fixes (KV cache committed from the last
pass's MASK inputs, no foot lock), so one run shows what the fixes change on the same weights.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from moscale.motion import feet
from moscale.evaluation import behaviour
from moscale.pipeline import MoScalePipeline
from moscale.pipeline.timeline import generate_sequence

HEADLINE = "a person walks forward, stops and waves with the right hand"
SECONDS = 8.0
HEADLINE_SECONDS = (6.0, 8.0, 9.8)  # the demo's default length, the benchmark's, one model window
# (prompt, first part, second part): each part is "walk" (pelvis forward >= 1 m in its half), "wave" (right hand),
# "up" (both hands above the head)
COMPOUNDS = (
    ("a person walks forward, then waves with the right hand", "walk", "wave"),
    ("a person waves with the right hand, then walks forward", "wave", "walk"),
    ("a person raises both hands, then walks forward", "up", "walk"),
    ("a person walks forward and then raises both hands", "walk", "up"),
)
WALK_PART_M = 1.0
TIMELINE = ("walks forward:4", "waves with the right hand:3")  # the headline as a prompt timeline (moscale.pipeline.timeline)


def part_done(joints, part: str, start: int, stop: int) -> bool:
    if part == "walk":
        return behaviour.pelvis_travel(joints, start, stop)["forward"] >= WALK_PART_M
    if part == "wave":
        return behaviour.hand_waves(joints, "right", start, stop)
    if part == "up":
        return behaviour.hands_up(joints, start, stop)
    raise ValueError(part)


def skating(motion) -> float:
    """Toe skating over the frames the joints say a foot stands (as evaluation/contact.py judges it)."""
    return feet.foot_stats(motion.joints, feet.contacts_from_joints(motion.joints, motion.fps)).skating_cm_s


def score(pipe: MoScalePipeline, seeds: int, foot_lock: bool) -> dict:
    def make(prompt, seed, seconds=SECONDS):
        return pipe.generate(prompt, seconds=seconds, seed=seed, foot_lock=foot_lock)

    result: dict = {}
    for seconds in HEADLINE_SECONDS:
        headline = []
        for seed in range(seeds):
            motion = make(HEADLINE, seed, seconds)
            half = motion.num_frames // 2
            travel = behaviour.pelvis_travel(motion.joints)
            headline.append({"forward_m": travel["forward"], "distance_m": travel["distance"],
                             "waves": behaviour.hand_waves(motion.joints, "right", half, None),
                             "skating_cm_s": skating(motion)})
        result[f"headline_{seconds:g}s"] = headline
    result["headline"] = result[f"headline_{SECONDS:g}s"]
    walks = [make("a person walks forward", seed) for seed in range(seeds)]
    result["walk_forward_m"] = [behaviour.pelvis_travel(m.joints)["forward"] for m in walks]
    result["walk_skating_cm_s"] = [skating(m) for m in walks]
    waves = [make("a person waves with the right hand", seed) for seed in range(seeds)]
    result["wave_rate"] = float(np.mean([behaviour.hand_waves(m.joints, "right") for m in waves]))
    result["wave_skating_cm_s"] = [skating(m) for m in waves]
    compounds = []
    for prompt, first, second in COMPOUNDS:
        done = []
        for seed in range(seeds):
            motion = make(prompt, seed)
            half = motion.num_frames // 2
            done.append((part_done(motion.joints, first, 0, half), part_done(motion.joints, second, half, None)))
        done = np.array(done)
        compounds.append({"prompt": prompt, "first": float(done[:, 0].mean()), "second": float(done[:, 1].mean()),
                          "both": float(done.all(axis=1).mean())})
    result["compounds"] = compounds
    timeline = []
    for seed in range(seeds):
        motion = generate_sequence(pipe, TIMELINE, seed=seed, foot_lock=foot_lock)
        wave = motion.metadata["segments"][1]
        timeline.append({"forward_m": behaviour.pelvis_travel(motion.joints)["forward"],
                         "waves": behaviour.hand_waves(motion.joints, "right", wave["start"], wave["end"]),
                         "seam_m_per_frame": max(motion.metadata["seam_jumps"], default=float("nan"))})
    result["timeline"] = timeline
    torch.set_num_threads(1)
    started = time.perf_counter()
    for seed in range(5):
        pipe.generate("a person walks forward", seconds=10, seed=seed, foot_lock=foot_lock)
    result["seconds_per_10s_clip"] = (time.perf_counter() - started) / 5
    return result


def table(rows: list[tuple[str, dict]]) -> str:
    lines = ["| Model | headline: forward m (5 seeds) | headline waves | walks forward m | waves | compound, both "
             "parts | skating cm/s: headline / walk / wave | s per 10 s clip |", "|---|---|---|---|---|---|---|---|"]
    for name, r in rows:
        forward = ", ".join(f"{h['forward_m']:.1f}" for h in r["headline"])
        waves = sum(h["waves"] for h in r["headline"])
        walk = np.median(r["walk_forward_m"])
        both = np.mean([c["both"] for c in r["compounds"]])
        sk = (np.nanmedian([h["skating_cm_s"] for h in r["headline"]]), np.nanmedian(r["walk_skating_cm_s"]),
              np.nanmedian(r["wave_skating_cm_s"]))
        lines.append(f"| {name} | {forward} | {waves}/{len(r['headline'])} | {walk:.1f} (median) | "
                     f"{r['wave_rate']:.0%} | {both:.0%} | {sk[0]:.1f} / {sk[1]:.1f} / {sk[2]:.1f} | "
                     f"{r['seconds_per_10s_clip']:.3f} |")
    lines += ["", "| Model | headline length | forward m per seed | median | waves |", "|---|---|---|---|---|"]
    for name, r in rows:
        for seconds in HEADLINE_SECONDS:
            h = r[f"headline_{seconds:g}s"]
            forward = [x["forward_m"] for x in h]
            lines.append(f"| {name} | {seconds:g} s | {', '.join(f'{f:.1f}' for f in forward)} | "
                         f"{np.median(forward):.1f} | {sum(x['waves'] for x in h)}/{len(h)} |")
    lines += ["", f"| Model | timeline {' + '.join(TIMELINE)}: forward m per seed | waves | largest seam jump "
              "(m/frame) |", "|---|---|---|---|"]
    for name, r in rows:
        t = r["timeline"]
        forward = ", ".join(f"{x['forward_m']:.1f}" for x in t)
        lines.append(f"| {name} | {forward} | {sum(x['waves'] for x in t)}/{len(t)} | "
                     f"{max(x['seam_m_per_frame'] for x in t):.3f} |")
    lines += ["", "| Model | compound prompt | first part | second part | both |", "|---|---|---|---|---|"]
    for name, r in rows:
        for c in r["compounds"]:
            lines.append(f"| {name} | {c['prompt']} | {c['first']:.0%} | {c['second']:.0%} | {c['both']:.0%} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, action="append", help="release folder (repeatable; default the bundled)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--legacy", action="store_true", help="also score the pre-fix sampling of each model")
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for folder in args.model or [Path(__file__).resolve().parents[1] / "assets" / "model"]:
        pipe = MoScalePipeline.from_pretrained(folder, device="cpu")
        if args.legacy:
            prefix, pipe.prefix = pipe.prefix, "mask"
            rows.append((f"{folder.name} (MASK prefix, no foot lock)", score(pipe, args.seeds, foot_lock=False)))
            pipe.prefix = prefix
        rows.append((f"{folder.name}", score(pipe, args.seeds, foot_lock=True)))
        print(table(rows[-1:]), flush=True)
    print()
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(dict(rows), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
