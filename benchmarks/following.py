"""Prompt following: does the generated motion do what the animator typed? Each prompt has a check, a predicate on the
joints alone (benchmarks/_prompt_checks.py, on moscale.motion.measures and moscale.evaluation.behaviour), on several
seeds; with --real the same check is run on real mocap clips of the action, so a check is only trusted where real
clips pass it (benchmarks/_real_clips.py: Bandai-Namco, CMU, DeepMimic, ReActIdle, cmu-dances salsa, Mesh2Motion).

    python build.py bench following [--model assets/model] [--seeds 3] [--real /work/data] [--json out.json]
    python build.py bench following --real-only --real /work/data --through-tokenizer assets/model/tokenizer

With --through-tokenizer each real clip is first encoded and decoded by that tokenizer (all scales): a check that the
real clips pass but their reconstructions fail is out of the generator's reach, whatever it learns, until the
tokenizer can represent the action.

Categories: trained actions (in today's corpus), modifiers (speed, direction, turns, standing still, and pairs such
as "walks slowly" vs "walks quickly" whose speeds must differ), compounds ("A, then B": A in the first half, B in the
second) and new actions the next model is trained on (sitting, lying, crawling, flips, ...; today's model has not
seen them, so they are expected to fail until it has). Lengths in "standard-body metres" (measures.standard_scale).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from moscale.motion import measures as ms
from moscale.motion.skeleton import FPS
from moscale.motion.splice import place_after

from _prompt_checks import CHECKS, SPEED_RATIO, STILL_M, TURN_ASKED_DEG  # a script's own folder leads sys.path
from _real_clips import extract_mesh2motion, load_group


# ----------------------------------------------------------------------------------------------- prompts
@dataclass(frozen=True)
class Case:
    prompt: str
    category: str  # trained | modifier | compound | new
    check: str  # a CHECKS key; a compound: "FIRST+SECOND", each judged on its half
    seconds: float


@dataclass(frozen=True)
class Pair:
    """Two prompts (cases) whose mean pelvis speeds must differ by `ratio` on the same seed; real clips in pairs."""

    slow: str
    fast: str
    ratio: float
    real: tuple[tuple[str, str], ...]


CATEGORIES = ("trained", "modifier", "compound", "new")
CASES = tuple(Case(prompt, category, check, seconds) for category, rows in (
    ("trained", (("a person walks forward", "walk", 5), ("a person runs forward", "run", 4),
                 ("a person jogs forward", "run", 4), ("a person waves with the right hand", "wave_right", 5),
                 ("a person waves with the left hand", "wave_left", 5),
                 ("a person waves with both hands", "wave_both", 5),
                 ("a person raises both hands", "raise_both", 4), ("a person raises the right hand", "raise_right", 4),
                 ("a person raises the left hand", "raise_left", 4), ("a person bows", "bow", 4),
                 ("a person dances", "dance", 6), ("a person jumps", "jump", 4), ("a person kicks", "kick", 4),
                 ("a person punches", "punch", 4), ("a person picks something up from the floor", "pick_up", 5),
                 ("a person climbs up some steps", "climb", 5))),
    ("modifier", (("a person walks slowly", "walk_slow", 6), ("a person walks quickly", "walk_quick", 6),
                  ("a person stands still", "still", 4), ("a person turns right by about 90 degrees", "turn_right", 4),
                  ("a person turns left by about 90 degrees", "turn_left", 4),
                  ("a person walks forward and turns right", "turn_right", 6),
                  ("a person walks forward and turns left", "turn_left", 6),
                  ("a person walks backwards", "backward", 5),
                  ("a person walks to the left", "left", 5), ("a person walks to the right", "right", 5),
                  ("a person jumps forward", "jump_forward", 4), ("a person jumps in place", "jump_in_place", 4))),
    ("compound", (("a person walks forward, then waves with the right hand", "walk+wave_right", 8),
                  ("a person waves with the right hand, then walks forward", "wave_right+walk", 8),
                  ("a person raises both hands, then walks forward", "raise_both+walk", 8),
                  ("a person walks forward and then raises both hands", "walk+raise_both", 8),
                  ("a person walks forward, then turns left", "walk+turn_left", 8),
                  ("a person runs forward, then stands still", "run+still", 8),
                  ("a person jumps, then walks forward", "jump+walk", 8),
                  ("a person walks backwards, then waves with both hands", "backward+wave_both", 8))),
    ("new", (("a person sits down", "sit_down", 5), ("a person sits cross-legged on the floor", "sit_floor", 5),
             ("a person crouches down", "crouch", 4), ("a person kneels down", "kneel", 4),
             ("a person lies down on the ground", "lie", 5), ("a person gets up from the ground", "get_up", 5),
             ("a person crawls forward on hands and knees", "crawl", 5), ("a person does a cartwheel", "cartwheel", 4),
             ("a person does a forward roll", "roll", 4), ("a person does a backflip", "backflip", 4),
             ("a person does jumping jacks", "jumping_jacks", 5), ("a person does push-ups", "push_up", 5),
             ("a person throws a ball", "throw", 4), ("a person spins around in place", "spin", 4),
             ("a person walks in a circle", "circle", 8), ("a person stands idle", "idle", 5),
             ("a person dances salsa", "salsa", 6), ("a person hops on one leg", "hop", 4),
             ("a person walks like a zombie with arms stretched forward", "zombie", 5))),
) for prompt, check, seconds in rows)
PAIRS = (
    Pair("a person walks slowly", "a person walks quickly", SPEED_RATIO,
         (("cmu:07_04", "cmu:07_12"), ("cmu:07_05", "cmu:07_12"), ("cmu:08_04", "cmu:08_05"),
          ("cmu:08_11", "cmu:08_07"))),  # CMU's slow and brisk / striding walks of one subject
    Pair("a person walks forward", "a person runs forward", SPEED_RATIO, (("bandai:walk", "bandai:run"),)),
)


def judge(check: str, joints: np.ndarray, fps: float = FPS) -> dict:
    """{'pass': bool, 'value': key number (a compound: one per part), 'parts': [bool, bool] for a compound}."""
    joints = np.asarray(joints, dtype=np.float64)
    if "+" not in check:
        done, value = CHECKS[check].test(joints, fps)
        return {"pass": bool(done), "value": float(value)}
    half = len(joints) // 2
    parts = [CHECKS[name].test(span, fps) for name, span in zip(check.split("+"), (joints[:half], joints[half:]))]
    return {"pass": all(done for done, _ in parts), "value": [float(v) for _, v in parts],
            "parts": [bool(done) for done, _ in parts]}


def check_text(check: str) -> str:
    return " / then ".join(f"{name}: {CHECKS[name].text}" for name in check.split("+"))


# ----------------------------------------------------------------------------------------------- scoring
def score_model(pipe, seeds: int, guidance: float, schedule: str) -> dict:
    """Every case on seeds 0..seeds-1 and every pair's speed ratio per seed."""
    cases, speeds = [], {}
    for case in CASES:
        runs_ = []
        for seed in range(seeds):
            motion = pipe.generate(case.prompt, seconds=case.seconds, seed=seed, guidance=guidance, schedule=schedule)
            runs_.append({"seed": seed, **judge(case.check, motion.joints, motion.fps)})
            speeds[case.prompt, seed] = ms.travel(motion.joints, motion.fps).mean_speed_mps
        cases.append({"prompt": case.prompt, "category": case.category, "check": case.check,
                      "seconds": case.seconds, "runs": runs_})
    pairs = [{"slow": p.slow, "fast": p.fast, "ratio_needed": p.ratio,
              "ratios": [speeds[p.fast, s] / max(speeds[p.slow, s], 1e-6) for s in range(seeds)]} for p in PAIRS]
    return {"cases": cases, "pairs": pairs}


def round_trip(tokenizer, latents: str = "tokens", extra_passes: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    """(T, 22, 3) joints -> the same clip as `tokenizer` reconstructs it, (T-1, 22, 3): HumanML3D preprocessing,
    263-d features, encode, decode, joints again. `latents`: "tokens" decodes its tokens (all scales, as generation
    does; `extra_passes` more residual passes at the finest scale with the shared codebook: would more codes help?),
    "unquantised" the encoder's latents themselves (does the autoencoder keep the action at all? A rough bound: the
    decoder was trained on quantised latents)."""
    from moscale.motion.features import features_to_joints, joints_to_features, preprocess_joints

    if latents not in ("tokens", "unquantised"):
        raise ValueError(f"latents {latents!r}: 'tokens' or 'unquantised'")

    @torch.no_grad()
    def through(joints: np.ndarray) -> np.ndarray:
        features = tokenizer.normalize(torch.from_numpy(joints_to_features(preprocess_joints(joints)))[None].float())
        lengths = torch.tensor([features.shape[1]])
        f_BNC = tokenizer.encode_latent(features, lengths)
        if latents == "tokens":
            finest = tokenizer.config.num_scales - 1
            f_hat = tokenizer.init_f_hat(lengths)
            for k in list(range(tokenizer.config.num_scales)) + [finest] * extra_passes:
                f_hat = tokenizer.accumulate(f_hat, tokenizer.quantize_scale(f_BNC, f_hat, k, lengths), k, lengths)
            f_BNC = f_hat
        decoded = tokenizer.denormalize(tokenizer.decode_latent(f_BNC, lengths))[0]
        return np.asarray(features_to_joints(decoded.numpy()), dtype=np.float64)
    return through


def score_real(data: Path, max_clips: int, m2m: Path | None, through=None) -> dict:
    """Each case's check on the real clips of its action(s) (a compound: part A's clip, then part B's, each cut to
    half the length), and each pair's speed ratio on real pairs; with `through` (`round_trip`), on each clip as a
    tokenizer reconstructs it."""
    loaded: dict = {}

    def clips(specs, seconds):
        if (specs, seconds) not in loaded:
            group = load_group(data, specs, seconds, max_clips, m2m)
            loaded[specs, seconds] = [(name, through(joints)) for name, joints in group] if through else group
        return loaded[specs, seconds]

    cases = {}
    for case in CASES:
        names = case.check.split("+")
        if len(names) == 1:
            real_clips = clips(CHECKS[case.check].real, case.seconds)
            tested = [(name, judge(case.check, joints)) for name, joints in real_clips]
        else:
            half = int(case.seconds * FPS) // 2
            first, second = (clips(CHECKS[n].real, case.seconds / 2) for n in names)
            count = min(max(len(first), len(second)), max_clips) if first and second else 0
            tested = []
            for i in range(count):
                (a_name, a), (b_name, b) = first[i % len(first)], second[i % len(second)]
                joined = np.concatenate([a[:half], place_after(a[:half], b[:half], gap=0)])
                tested.append((f"{a_name} + {b_name}", judge(case.check, joined)))
        cases[case.prompt] = [{"clip": name, **result} for name, result in tested]
    pairs = {}
    for pair in PAIRS:
        ratios = []
        for slow_spec, fast_spec in pair.real:
            slow, fast = clips((slow_spec,), 5.0), clips((fast_spec,), 5.0)
            for (_, a), (_, b) in zip(slow, fast):
                ratios.append(ms.travel(b, FPS).mean_speed_mps / max(ms.travel(a, FPS).mean_speed_mps, 1e-6))
        pairs[pair.slow] = ratios
    return {"cases": cases, "pairs": pairs}


# ----------------------------------------------------------------------------------------------- tables
def fmt(value) -> str:
    if isinstance(value, list):
        return " / ".join(fmt(v) for v in value)
    return f"{value:.0f}" if abs(value) >= 10 else f"{value:.2f}"


def needed(seeds: int) -> int:
    """Seeds a prompt must pass on to count as done: 2 of 3 (two thirds, rounded up)."""
    return -(-2 * seeds // 3)


def real_cells(results: list[dict] | None) -> tuple[str, str]:
    """(passed k/n, median key number) on the real clips; '—' without --real or without clips of the action."""
    if not results:
        return "—", "—"
    values = np.array([r["value"] for r in results], dtype=np.float64)
    return f"{sum(r['pass'] for r in results)}/{len(results)}", fmt(np.median(values, axis=0).tolist())


def category_table(category: str, model: dict | None, real: dict | None) -> str:
    compound = category == "compound"
    head = ("| prompt | check | seeds passed" + (" (first / second / both)" if compound else "")
            + " | key number per seed | real clips passed | real median |")
    lines = [f"### {category}", "", head, "|---|---|---|---|---|---|"]
    rows = {c["prompt"]: c for c in model["cases"]} if model else {}
    for case in (c for c in CASES if c.category == category):
        unit = " / ".join(CHECKS[n].unit for n in case.check.split("+"))
        runs_ = rows.get(case.prompt, {}).get("runs", [])
        passed = f"{sum(r['pass'] for r in runs_)}/{len(runs_)}" if runs_ else "—"
        if compound and runs_:
            first, second = (sum(r["parts"][i] for r in runs_) for i in (0, 1))
            passed = f"{first} / {second} / {passed}"
        values = "; ".join(fmt(r["value"]) for r in runs_) or "—"
        cells = real_cells(real["cases"].get(case.prompt) if real else None)
        lines.append(f"| {case.prompt} ({case.seconds:g} s) | {check_text(case.check)} | {passed} | {values} {unit} | "
                     f"{cells[0]} | {cells[1]} |")
    if category == "modifier":
        for index, pair in enumerate(PAIRS):
            ratios = model["pairs"][index]["ratios"] if model else []
            real_ratios = real["pairs"].get(pair.slow, []) if real else []
            ok = f"{sum(r >= pair.ratio for r in ratios)}/{len(ratios)}" if ratios else "—"
            real_ok = f"{sum(r >= pair.ratio for r in real_ratios)}/{len(real_ratios)}" if real_ratios else "—"
            lines.append(f"| {pair.slow} → {pair.fast} | mean pelvis speed ratio >= {pair.ratio:g}x | {ok} | "
                         f"{'; '.join(f'{r:.2f}' for r in ratios) or '—'} x | {real_ok} | "
                         f"{f'{np.median(real_ratios):.2f}' if real_ratios else '—'} |")
    return "\n".join(lines)


def summary(model: dict | None, real: dict | None) -> list[dict]:
    """The issue's targets, each with the generated and the real-clip number and whether the target is met."""
    def runs_of(category=None, prompts=None) -> list[dict]:
        return [r for c in (model["cases"] if model else []) for r in c["runs"]
                if (category is None or c["category"] == category) and (prompts is None or c["prompt"] in prompts)]

    def real_of(category=None, prompts=None) -> list[dict]:
        return [r for c in CASES for r in (real["cases"].get(c.prompt, []) if real else [])
                if (category is None or c.category == category) and (prompts is None or c.prompt in prompts)]

    def rate(passes: list[bool]) -> str:
        return f"{np.mean(passes):.0%}" if passes else "—"

    def done(category) -> tuple[str, int | None]:
        cases = [c for c in (model["cases"] if model else []) if c["category"] == category]
        count = sum(sum(r["pass"] for r in c["runs"]) >= needed(len(c["runs"])) for c in cases)
        return (f"{count}/{len(cases)}", count) if model else ("—", None)

    def validated(category) -> str:
        if not real:
            return "—"
        results = [real["cases"].get(c.prompt, []) for c in CASES if c.category == category]
        fair = sum(np.mean([r["pass"] for r in clips]) > 0.5 for clips in results if clips)
        return f"{fair}/{sum(map(bool, results))} checks pass most real clips ({results.count([])} without clips)"

    model_pairs = [[r >= p["ratio_needed"] for r in p["ratios"]] for p in model["pairs"]] if model else []
    real_pairs = [[r >= p.ratio for r in real["pairs"].get(p.slow, [])] for p in PAIRS] if real else [[]]
    modifiers = [r["pass"] for r in runs_of("modifier")] + sum(model_pairs, [])
    slow_fast = model["pairs"][0]["ratios"] if model else []
    still = runs_of(prompts={"a person stands still"})
    turn_prompts = {c.prompt for c in CASES if c.check in ("turn_right", "turn_left")}
    turns = runs_of(prompts=turn_prompts)
    new_text, new_count = done("new")
    real_slow_fast = real_pairs[0]
    return [
        dict(measure="modifiers right (% of runs, pairs included)", target=">= 80 %", generated=rate(modifiers),
             real=rate([r["pass"] for r in real_of("modifier")] + sum(real_pairs, [])),
             met=None if not modifiers else bool(np.mean(modifiers) >= 0.8)),
        dict(measure="walks slowly → quickly: mean speed ratio per seed", target=f">= {PAIRS[0].ratio:g}x",
             generated=", ".join(f"{r:.2f}" for r in slow_fast) or "—",
             real=f"{sum(real_slow_fast)}/{len(real_slow_fast)} pairs" if real_slow_fast else "—",
             met=None if not slow_fast else all(r >= PAIRS[0].ratio for r in slow_fast)),
        dict(measure="stands still: farthest from the start (m) per seed", target=f"< {STILL_M:g} m",
             generated=", ".join(fmt(r["value"]) for r in still) or "—",
             real=rate([r["pass"] for r in real_of(prompts={"a person stands still"})]),
             met=None if not still else all(r["pass"] for r in still)),
        dict(measure="turn asked (right/left, in place and walking)", target=f">= {TURN_ASKED_DEG:g} deg that way",
             generated=f"{sum(r['pass'] for r in turns)}/{len(turns)} runs" if turns else "—",
             real=rate([r["pass"] for r in real_of(prompts=turn_prompts)]),
             met=None if not turns else all(r["pass"] for r in turns)),
        dict(measure="new actions passing on >= 2/3 seeds", target=">= 10", generated=new_text,
             real=validated("new"), met=None if new_count is None else new_count >= 10),
        dict(measure="trained actions passing on >= 2/3 seeds", target="—", generated=done("trained")[0],
             real=validated("trained"), met=None),
        dict(measure="compounds, both parts in their halves (% of runs)", target="—",
             generated=rate([r["pass"] for r in runs_of("compound")]),
             real=rate([r["pass"] for r in real_of("compound")]), met=None),
    ]


def summary_table(rows: list[dict]) -> str:
    lines = ["### summary", "", "| measure | target | generated | real clips | met |", "|---|---|---|---|---|"]
    for row in rows:
        met = "—" if row["met"] is None else "yes" if row["met"] else "no"
        lines.append(f"| {row['measure']} | {row['target']} | {row['generated']} | {row['real']} | {met} |")
    return "\n".join(lines)


def report(model: dict | None, real: dict | None) -> str:
    return "\n\n".join([category_table(c, model, real) for c in CATEGORIES] + [summary_table(summary(model, real))])


def comparison_table(before: dict, after: dict, before_name: str, after_name: str) -> str:
    """One row per prompt: seeds passed and the key numbers of two runs (two models' --json files)."""
    runs = {name: {case["prompt"]: case for case in data["generated"]["cases"]} for name, data in
            (("before", before), ("after", after))}
    lines = [f"| category | prompt | check | {before_name} | {after_name} |", "|---|---|---|---|---|"]

    def cell(case: dict | None) -> str:
        if case is None:
            return "—"
        passed = sum(bool(run["pass"]) for run in case["runs"])
        values = "; ".join(_number(run.get("value")) for run in case["runs"])
        return f"{passed}/{len(case['runs'])} ({values})"

    for prompt, case in runs["after"].items():
        lines.append(f"| {case['category']} | {prompt} | {case['check']} | {cell(runs['before'].get(prompt))} | "
                     f"{cell(case)} |")
    rows = {row["measure"]: row for row in before["summary"]}
    lines += ["", f"| measure | target | {before_name} | {after_name} |", "|---|---|---|---|"]
    for row in after["summary"]:
        lines.append(f"| {row['measure']} | {row['target']} | {rows.get(row['measure'], {}).get('generated', '—')} | "
                     f"{row['generated']} |")
    return "\n".join(lines)


def _number(value) -> str:
    if isinstance(value, (list, tuple)):
        return " / ".join(_number(v) for v in value)
    return "—" if value is None else f"{value:.2f}" if abs(value) < 10 else f"{value:.0f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path(__file__).resolve().parents[1] / "assets" / "model",
                        help="release folder (default: the bundled model)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--guidance", type=float, default=2.0)
    parser.add_argument("--schedule", default="fast")
    parser.add_argument("--real", type=Path, metavar="DATA_DIR", help="also run every check on real clips (/work/data)")
    parser.add_argument("--real-clips", type=int, default=12, help="at most this many clips per real source")
    parser.add_argument("--mesh2motion", type=Path, metavar="DIR",
                        help="Mesh2Motion clips already extracted (`moscale data extract`); default: extracted from "
                             "DATA_DIR/mesh2motion into a temporary folder")
    parser.add_argument("--real-only", action="store_true", help="only the real clips: no model is loaded")
    parser.add_argument("--through-tokenizer", type=Path, metavar="FOLDER",
                        help="run the real clips through this tokenizer (encode, decode) before each check")
    parser.add_argument("--latents", choices=["tokens", "unquantised"], default="tokens",
                        help="with --through-tokenizer: decode the clip's tokens (default) or the encoder's latents "
                             "as they are (is the action lost in the codebook or in the autoencoder?)")
    parser.add_argument("--extra-passes", type=int, default=0, metavar="N",
                        help="with --through-tokenizer: N more residual passes at the finest scale (would more "
                             "codes keep the action?)")
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    parser.add_argument("--compare", type=Path, nargs=2, metavar=("BEFORE.json", "AFTER.json"),
                        help="only print two earlier runs side by side (e.g. two releases)")
    parser.add_argument("--write-release", type=Path, metavar="FOLDER",
                        help="write FOLDER/following.json: each single-action prompt's passes and tries, which the "
                             "release's prompt check names when a prompt is like one the model seldom makes right")
    parser.add_argument("--from-json", type=Path, metavar="RUN.json",
                        help="with --write-release: take the scores of an earlier --json run of that model")
    args = parser.parse_args(argv)
    if args.from_json:
        if not args.write_release:
            parser.error("--from-json only goes with --write-release")
        run = json.loads(args.from_json.read_text())
        return write_release(args.write_release, run["generated"], run["model"], run["seeds"], run["guidance"],
                             run["schedule"])
    if args.compare:
        before, after = (json.loads(path.read_text()) for path in args.compare)
        print(f"before: {before['model']}; after: {after['model']}\n")
        print(comparison_table(before, after, "before", "after"))
        return 0
    torch.set_num_threads(1)
    model = real = None
    if not args.real_only:
        from moscale.pipeline import MoScalePipeline

        pipe = MoScalePipeline.from_pretrained(args.model, device="cpu")
        model = score_model(pipe, args.seeds, args.guidance, args.schedule)
    if args.real is not None:
        with tempfile.TemporaryDirectory() as scratch:
            m2m = args.mesh2motion or extract_mesh2motion(args.real, Path(scratch))
            through = None
            if args.through_tokenizer is not None:
                from moscale.model.tokenizer import MotionTokenizer

                through = round_trip(MotionTokenizer.from_pretrained(args.through_tokenizer).eval(), args.latents,
                                     args.extra_passes)
            real = score_real(args.real, args.real_clips, m2m, through)
    print(report(model, real))
    if args.json:
        args.json.write_text(json.dumps({"model": str(args.model), "seeds": args.seeds, "guidance": args.guidance,
                                         "schedule": args.schedule, "generated": model, "real": real,
                                         "through_tokenizer": str(args.through_tokenizer or ""),
                                         "summary": summary(model, real)}, indent=1))
    if args.write_release and model is not None:
        return write_release(args.write_release, model, str(args.model), args.seeds, args.guidance, args.schedule)
    return 0


def write_release(folder: Path, generated: dict, model: str, seeds: int, guidance: float, schedule: str) -> int:
    """The release folder's prompt-following scores (moscale.pipeline.coverage.SCORES_FILE)."""
    from moscale.pipeline.coverage import SCORES_FILE, load_scores, following_content
    from moscale.utils import atomic

    if seeds < 3:
        print(f"error: --write-release needs --seeds >= 3 (got {seeds}): a score of 1 try warns on luck",
              file=sys.stderr)
        return 2
    root = Path(__file__).resolve().parents[1]
    shown = Path(model).resolve()
    model = str(shown.relative_to(root)) if shown.is_relative_to(root) else model
    content = following_content(generated["cases"], model, seeds, guidance, schedule)
    atomic.write_text(folder / SCORES_FILE, json.dumps(content, indent=1) + "\n")
    weak = [test.prompt for test in load_scores(folder) if test.weak]
    print(f"wrote {folder / SCORES_FILE}: {len(content['prompts'])} prompts, {len(weak)} made right on fewer than a "
          f"third of {seeds} tries: " + "; ".join(weak))
    return 0


if __name__ == "__main__":
    sys.exit(main())
