"""Control beyond words, measured: the same prompts with and without a path, keyed poses, a loop and in place.

    python build.py bench control [--model assets/model] [--seeds 3] [--threads 1]
                                  [--parts path,keys,pathkeys,loop,loopkey]
                                  [--json out.json]

- Path: an S-shaped 10 m path and a 90-degree corner (5 m + 5 m). Pelvis distance from the path (mean, max), the
  facing's angle to the path (median), toe skating and jerk against the same prompt and length without a path, and
  jerk against the same take without the path (the longer take the path version is cut from, cut at the same frame:
  what the path itself adds, without the difference between two samples).
- Keyed poses: three poses (frames 0, 40, 79 of a 4 s take) taken from another sample of the same prompt (for the walk,
  the middle one moved 0.5 m aside); joint error at the keys and the largest frame-to-frame move within 2 frames of a key against the
  take's median move and against the same frames of the take made without keys.
- Path with keyed poses: a walk along the S-shaped path through two keys taken from another walk along it (a third
  and two thirds of the way, at those frames): pelvis distance from the path between the keys and over the take, joint
  error at the keys, the largest frame-to-frame move within 2 frames of a key against the take's median and against
  the same frames of the path take without keys, skating and jerk against the path take without keys.
- Loop: the jump from the last frame into the repeated first against the take's median frame-to-frame move, and the
  velocity change across the seam against the ordinary ones (95th percentile). In place: farthest pelvis from its start.
  With a keyed first frame (a pose of another walk, turned and moved): the same seam numbers and the key's error.
- Cost: generation time with a path / a loop against the same clip without (median of --repeats, warm).
Lengths in metres. Targets from issue 26.
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
from moscale.motion.cycles import in_place_radius, loop_seam
from moscale.motion.keyposes import key_errors, key_jumps, key_velocity_changes
from moscale.motion.paths import GroundPath, path_stats
from moscale.motion.splice import rotate_y
from moscale.pipeline import MoScalePipeline, control

FPS = 20


def s_path() -> GroundPath:
    t = np.linspace(0, 1, 200)
    return GroundPath.from_points(np.stack([1.2 * np.sin(2 * np.pi * t), 10 * t], axis=-1))


def corner_path() -> GroundPath:
    return GroundPath.from_points([[0, 0], [0, 5], [5, 5]])


def feet_numbers(joints) -> tuple[float, float]:
    stats = feet.foot_stats(joints, feet.contacts_from_joints(joints))
    return stats.skating_cm_s, stats.jerk


def timed(call, repeats: int) -> tuple[object, float]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - started)
    return result, float(np.median(times))


def bench_paths(pipe, seeds, repeats) -> list[dict]:
    rows = []
    for name, path in (("S-shaped 10 m", s_path()), ("90° corner 5 + 5 m", corner_path())):
        for prompt in ("a person walks forward", "a person runs forward", "a person walks backwards"):
            offset = 180.0 if "backwards" in prompt else 0.0
            for seed in seeds:
                with_path, t_path = timed(lambda: pipe.generate(prompt, path=path, seed=seed), repeats)
                plain, t_plain = timed(lambda: pipe.generate(prompt, frames=with_path.num_frames, seed=seed), repeats)
                # what the path take is cut from
                long_frames = control.path_frames(pipe, path, prompt, control.PATH_SLACK, control.PATH_ENDING_S)
                long = pipe.generate(prompt, frames=long_frames, seed=seed)
                stats = path_stats(with_path.joints, path, FPS, offset_deg=offset)
                skate, jerk = feet_numbers(with_path.joints)
                skate0, jerk0 = feet_numbers(plain.joints)
                skate1, jerk1 = feet_numbers(long.joints[: with_path.num_frames])
                rows.append(dict(path=name, prompt=prompt, seed=seed, seconds=with_path.seconds, **stats,
                                 skating=skate, skating_plain=skate0, jerk=jerk, jerk_plain=jerk0,
                                 skating_same_take=skate1, jerk_same_take=jerk1,
                                 time_s=t_path, time_plain_s=t_plain))
    return rows


def bench_keys(pipe, seeds) -> list[dict]:
    rows = []
    for prompt in ("a person walks forward", "a person waves with the right hand"):
        for seed in seeds:
            other = pipe.generate(prompt, seconds=5, seed=1000 + seed)
            aside = np.float32([0.5, 0, 0]) if "walks" in prompt else np.float32([0, 0, 0])  # a wave stands: no shift
            keys = {0: other.joints[0], 40: other.joints[50] + aside, 79: other.joints[90]}
            keyed = pipe.generate(prompt, seconds=4, poses=keys, seed=seed)
            plain = pipe.generate(prompt, seconds=4, seed=seed)
            near, median = key_jumps(keyed.joints, keys)
            plain_near, _ = key_jumps(plain.joints, keys)
            change, p95 = key_velocity_changes(keyed.joints, keys)
            skate, jerk = feet_numbers(keyed.joints)
            skate0, jerk0 = feet_numbers(plain.joints)
            rows.append(dict(prompt=prompt, seed=seed, key_error_m=max(key_errors(keyed.joints, keys)),
                             near_key_move_m=near, median_move_m=median, plain_near_key_move_m=plain_near,
                             near_key_velocity_change_m=change, p95_velocity_change_m=p95,
                             skating=skate, skating_plain=skate0, jerk=jerk, jerk_plain=jerk0))
    return rows


def bench_path_keys(pipe, seeds) -> list[dict]:
    rows, path, prompt = [], s_path(), "a person walks forward"
    for seed in seeds:
        other = pipe.generate(prompt, path=path, seed=100 + seed)
        n = other.num_frames
        keys = {n // 3: other.joints[n // 3], 2 * n // 3: other.joints[2 * n // 3]}
        started = time.perf_counter()
        keyed = pipe.generate(prompt, path=path, poses=keys, seed=seed)
        seconds = time.perf_counter() - started
        plain, plain_seconds = timed(lambda: pipe.generate(prompt, path=path, seed=seed), 1)
        away, _ = path.project(keyed.joints[:, 0, [0, 2]].astype(np.float64))
        near, median = key_jumps(keyed.joints, keys)
        plain_near, _ = key_jumps(plain.joints, keys)
        skate, jerk = feet_numbers(keyed.joints)
        skate0, jerk0 = feet_numbers(plain.joints)
        between = away[min(keys):max(keys) + 1]
        rows.append(dict(seed=seed, keys=sorted(keys), key_error_m=max(key_errors(keyed.joints, keys)),
                         between_mean_m=float(between.mean()), between_max_m=float(between.max()),
                         **path_stats(keyed.joints, path, FPS),
                         near_key_move_m=near, median_move_m=median, plain_near_key_move_m=plain_near, skating=skate,
                         skating_plain=skate0, jerk=jerk, jerk_plain=jerk0, time_s=seconds,
                         time_plain_s=plain_seconds))
    return rows


def bench_loop_keys(pipe, seeds) -> list[dict]:
    rows, prompt = [], "a person walks forward"
    for seed in seeds:
        other = pipe.generate(prompt, seconds=3, seed=100 + seed)
        keys = {0: (rotate_y(other.joints[30], 1.2) + [1.0, 0.0, 0.5]).astype(np.float32)}
        cycle = pipe.generate(prompt, seconds=3, loop=True, poses=keys, seed=seed)
        seam = loop_seam(cycle.joints, np.array(cycle.metadata["cycle_offset"]))
        rows.append(dict(seed=seed, key_error_m=max(key_errors(cycle.joints, keys)), **seam))
    return rows


def bench_loops(pipe, seeds, repeats) -> list[dict]:
    rows = []
    for prompt, seconds in (("a person walks forward", 4.0), ("a person jogs forward", 2.0),
                            ("a person waves with both hands", 3.0)):
        for in_place in (False, True):
            for seed in seeds:
                cycle, t_loop = timed(lambda: pipe.generate(prompt, seconds=seconds, loop=True, in_place=in_place,
                                                            seed=seed), repeats)
                _, t_plain = timed(lambda: pipe.generate(prompt, seconds=seconds, seed=seed), repeats)
                seam = loop_seam(cycle.joints, np.array(cycle.metadata["cycle_offset"]))
                rows.append(dict(prompt=prompt, seconds=seconds, in_place=in_place, seed=seed, **seam,
                                 radius_m=in_place_radius(cycle.joints), time_s=t_loop, time_plain_s=t_plain))
    return rows


def report_more(path_keys, loop_keys) -> str:
    lines = []
    if path_keys:
        lines += ["", "### Path with keyed poses", "", "| seed | keys | joint error at keys (cm) | pelvis to path "
                  "between keys, mean / max (cm) | whole take, mean / max (cm) | largest move near a key / take's "
                  "median / same frames without keys (cm) | skating with / without keys (cm/s) | jerk with / without keys | "
                  "time with / without keys (s) |", "|---|---|---|---|---|---|---|---|---|"]
        for r in path_keys:
            lines.append(f"| {r['seed']} | {r['keys']} | {100 * r['key_error_m']:.2f} | "
                         f"{100 * r['between_mean_m']:.1f} / {100 * r['between_max_m']:.1f} | "
                         f"{100 * r['mean_m']:.1f} / {100 * r['max_m']:.1f} | "
                         f"{100 * r['near_key_move_m']:.1f} / {100 * r['median_move_m']:.1f} / "
                         f"{100 * r['plain_near_key_move_m']:.1f} | {r['skating']:.1f} / {r['skating_plain']:.1f} | "
                         f"{r['jerk']:.0f} / {r['jerk_plain']:.0f} | {r['time_s']:.2f} / {r['time_plain_s']:.2f} |")
    if loop_keys:
        lines += ["", "### Loop with its first frame keyed", "", "| seed | joint error at the key (cm) | seam jump / "
                  "median move (cm) | seam velocity change / ordinary p95 (cm/frame) |", "|---|---|---|---|"]
        for r in loop_keys:
            lines.append(f"| {r['seed']} | {100 * r['key_error_m']:.2f} | {100 * r['seam_jump_m']:.1f} / "
                         f"{100 * r['median_step_m']:.1f} | {100 * r['seam_velocity_change_m']:.1f} / "
                         f"{100 * r['p95_velocity_change_m']:.1f} |")
    return "\n".join(lines)


def report(paths, keys, loops) -> str:
    lines = ["### Path", "", "| path | prompt | seeds | pelvis to path mean / max (cm) | heading error median (°) | "
             "skating with / without (cm/s) | jerk with / without | jerk of the same take without the path | "
             "time with / without (s) |", "|---|---|---|---|---|---|---|---|---|"]
    groups = {}
    for row in paths:
        groups.setdefault((row["path"], row["prompt"]), []).append(row)
    for (name, prompt), rows in groups.items():
        f = lambda key: np.array([r[key] for r in rows])  # noqa: E731
        lines.append(f"| {name} | {prompt} | {len(rows)} | {100 * f('mean_m').mean():.1f} / {100 * f('max_m').max():.1f} | "
                     f"{np.median(f('heading_error_deg')):.1f} | {f('skating').mean():.1f} / {f('skating_plain').mean():.1f} | "
                     f"{f('jerk').mean():.0f} / {f('jerk_plain').mean():.0f} | {f('jerk_same_take').mean():.0f} | "
                     f"{np.median(f('time_s')):.3f} / {np.median(f('time_plain_s')):.3f} |")
    lines += ["", "### Keyed poses", "", "| prompt | seed | joint error at keys (cm) | largest move near a key (cm) | "
              "take's median move (cm) | same frames without keys (cm) | velocity change near a key / elsewhere p95 "
              "(cm/frame) | skating with / without | jerk with / without |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in keys:
        lines.append(f"| {r['prompt']} | {r['seed']} | {100 * r['key_error_m']:.2f} | {100 * r['near_key_move_m']:.1f} | "
                     f"{100 * r['median_move_m']:.1f} | {100 * r['plain_near_key_move_m']:.1f} | "
                     f"{100 * r['near_key_velocity_change_m']:.1f} / {100 * r['p95_velocity_change_m']:.1f} | "
                     f"{r['skating']:.1f} / "
                     f"{r['skating_plain']:.1f} | {r['jerk']:.0f} / {r['jerk_plain']:.0f} |")
    lines += ["", "### Loop and in place", "", "| prompt | in place | seed | seam jump / median move (cm) | "
              "seam velocity change / ordinary p95 (cm/frame) | pelvis from start, max (cm) | time loop / plain (s) |",
              "|---|---|---|---|---|---|---|"]
    for r in loops:
        lines.append(f"| {r['prompt']} ({r['seconds']:g} s) | {'yes' if r['in_place'] else 'no'} | {r['seed']} | "
                     f"{100 * r['seam_jump_m']:.1f} / {100 * r['median_step_m']:.1f} | "
                     f"{100 * r['seam_velocity_change_m']:.1f} / {100 * r['p95_velocity_change_m']:.1f} | "
                     f"{100 * r['radius_m']:.0f} | {r['time_s']:.3f} / {r['time_plain_s']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("assets/model"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per clip (median)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--parts", default="path,keys,pathkeys,loop,loopkey",
                        help="which controls to measure (comma-separated)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))
    if not parts <= {"path", "keys", "pathkeys", "loop", "loopkey"}:
        parser.error(f"--parts takes path, keys, pathkeys, loop and loopkey, got {args.parts!r}")
    torch.set_num_threads(args.threads)
    pipe = MoScalePipeline.from_pretrained(args.model, device="cpu")
    pipe.generate("a person walks forward", seconds=2, seed=0)  # warm-up
    seeds = list(range(args.seeds))
    paths = bench_paths(pipe, seeds, args.repeats) if "path" in parts else []
    keys = bench_keys(pipe, seeds) if "keys" in parts else []
    loops = bench_loops(pipe, seeds, args.repeats) if "loop" in parts else []
    path_keys = bench_path_keys(pipe, seeds) if "pathkeys" in parts else []
    loop_keys = bench_loop_keys(pipe, seeds) if "loopkey" in parts else []
    print(report(paths, keys, loops) + report_more(path_keys, loop_keys))
    if args.json:
        args.json.write_text(json.dumps(dict(paths=paths, keys=keys, loops=loops, path_keys=path_keys,
                                             loop_keys=loop_keys), indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
