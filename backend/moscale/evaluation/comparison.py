"""`moscale eval compare`: the controlled comparison, one command from trained release folders to docs/results.md.

    moscale eval compare --config compare.json

compare.json (relative paths are relative to the file's folder):

    {
      "data": "corpus", "evaluator": "runs/evaluator/evaluator", "out": "docs",
      "split": "test", "repeats": 20, "mm_repeats": 20, "mm_texts": 100, "mm_samples": 10, "max_items": null,
      "seed": 0, "device": "cpu", "threads": null,
      "sampling": {"schedule": "fast", "guidance": 5.0, "temperature": 1.0, "top_p": 0.9},
      "models": [
        {"name": "MoScale", "folder": "runs/gen/release", "run": "runs/gen", "snapshots": "runs/gen/snapshots/*",
         "batch_size": 64},
        {"name": "w/o HR", "folder": "runs/gen-nohr/release", "run": "runs/gen-nohr"},
        {"name": "next-token", "folder": "runs/gen-ntp/release", "run": "runs/gen-ntp"}
      ],
      "guidance_sweep": {"models": ["MoScale"], "values": [1, 2, 3, 5, 7], "repeats": 5},
      "schedule_sweep": {"models": ["MoScale"], "values": ["1,1,1,1", "1,2,3,4", "1,2,5,10"], "repeats": 5},
      "training_curve": {"repeats": 5},
      "timing": {"frames": 200, "runs": 5},
      "notes": "comparison_notes.md"
    }

Sections (each optional except "models"); "notes" names a markdown file (the reading of the numbers) that goes in
after the main tables, so a regenerated report keeps it:
- the results table: ground truth and every model at the default sampling settings, with seconds per clip;
- quality against training time (like the paper's Figure 3): every snapshot release folder of a model ("snapshots": a
  glob or a list; each folder's config.json `training.step` places it) and its final folder, against the minutes its
  run's train_log.csv took to reach that step (an `elapsed_s` column when present, else the logged samples/s and the
  model's `batch_size`, default 64);
- a guidance-scale sweep (Figure 5) and refinement schedules (Table 5; next-scale models only);
- timing: seconds to generate one clip of `frames` frames with the default settings (median of `runs`, after one
  warm-up call), and the per-clip time measured during the main evaluation.

Every evaluation is cached in OUT/compare_cache/ under a key of the folder's weights and the settings, so a rerun
after adding a model or a sweep value only computes what is new. Writes OUT/results.md, OUT/results.json and
OUT/results_*.png.
"""
from __future__ import annotations

import argparse
import csv
import glob
import hashlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from moscale.utils import atomic
from moscale.evaluation import metrics
from moscale.evaluation.load import load_evaluator
from moscale.evaluation.generation import (EvalContext, PipelineGenerator, evaluate_generator,
                                           evaluate_ground_truth, load_eval_set, results_table)

DEFAULT_SAMPLING = {"schedule": "fast", "guidance": 5.0, "temperature": 1.0, "top_p": 0.9}
CACHE_DIR = "compare_cache"


# ---------------------------------------------------------------------------------------------------------------------
# configuration

COMPARISON_TITLE = "# Next-scale generation against its ablations and a next-token baseline"


def read_config(path: str | Path) -> dict:
    """The comparison config with paths resolved against its folder and defaults filled in."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such comparison config")
    config = json.loads(path.read_text())
    base = path.resolve().parent
    for key in ("data", "evaluator"):
        if key not in config:
            raise ValueError(f"{path}: {key!r} is required")
    if not config.get("models"):
        raise ValueError(f"{path}: 'models' must list at least one {{'name', 'folder'}}")
    resolve = (lambda p: str(p if Path(p).is_absolute() else base / p))
    config["data"], config["evaluator"] = resolve(config["data"]), resolve(config["evaluator"])
    config["out"] = resolve(config.get("out", "docs"))
    for key in ("glove", "evaluator_mean", "evaluator_std", "notes"):
        if config.get(key):
            config[key] = resolve(config[key])
    names = set()
    for model in config["models"]:
        if "name" not in model or "folder" not in model:
            raise ValueError(f"{path}: every model needs a 'name' and a 'folder', got {model}")
        if model["name"] in names:
            raise ValueError(f"{path}: model name {model['name']!r} appears twice")
        names.add(model["name"])
        model["folder"] = resolve(model["folder"])
        if model.get("run"):
            model["run"] = resolve(model["run"])
        snapshots = model.get("snapshots") or []
        patterns = [snapshots] if isinstance(snapshots, str) else snapshots
        model["snapshots"] = sorted({p for pattern in patterns for p in glob.glob(resolve(pattern))
                                     if (Path(p) / "config.json").is_file()})
    config["sampling"] = {**DEFAULT_SAMPLING, **config.get("sampling", {})}
    for sweep in ("guidance_sweep", "schedule_sweep"):
        unknown = set(config.get(sweep, {}).get("models", [])) - names
        if unknown:
            raise ValueError(f"{path}: {sweep} names unknown models {sorted(unknown)}")
    return config


# ---------------------------------------------------------------------------------------------------------------------
# training time


def training_seconds(log_path: str | Path, batch_size: int = 64) -> list[tuple[int, float]]:
    """(step, seconds of training up to it) for every row of a train_log.csv: its `elapsed_s` column when present,
    else the sum over logging intervals of steps x batch / samples_per_s."""
    rows = []
    with open(log_path, newline="") as handle:
        for row in csv.DictReader(handle):
            if row.get("step") not in (None, ""):
                rows.append(row)
    points, seconds, previous = [], 0.0, 0
    for row in rows:
        step = int(float(row["step"]))
        if row.get("elapsed_s") not in (None, ""):
            seconds = float(row["elapsed_s"])
        elif row.get("samples_per_s") not in (None, "") and float(row["samples_per_s"]) > 0:
            seconds += (step - previous) * batch_size / float(row["samples_per_s"])
        else:
            continue  # a row that only carries validation columns
        points.append((step, seconds))
        previous = step
    return points


def minutes_at(points: list[tuple[int, float]], step: int) -> float | None:
    """Training minutes at `step`, linearly interpolated (extrapolated at the rate of the last interval)."""
    if not points:
        return None
    steps = np.array([p[0] for p in points], dtype=np.float64)
    seconds = np.array([p[1] for p in points], dtype=np.float64)
    if step <= steps[-1] or len(points) < 2:
        return float(np.interp(step, np.concatenate([[0.0], steps]), np.concatenate([[0.0], seconds]))) / 60
    rate = (seconds[-1] - seconds[-2]) / max(steps[-1] - steps[-2], 1)
    return float(seconds[-1] + rate * (step - steps[-1])) / 60


def run_times(model: dict) -> list[tuple[int, float]]:
    """`training_seconds` of a model's run folder (its train_log.csv), or [] when the config names none."""
    log_path = Path(model["run"]) / "train_log.csv" if model.get("run") else None
    return training_seconds(log_path, int(model.get("batch_size", 64))) if log_path and log_path.is_file() else []


def model_facts(model: dict) -> dict:
    """What the matched budget is about: transformer parameters, mode, training iterations and minutes."""
    from safetensors import safe_open

    folder = Path(model["folder"])
    config = json.loads((folder / "config.json").read_text())
    with safe_open(str(folder / "generator.safetensors"), framework="pt") as weights:
        parameters = sum(int(np.prod(weights.get_slice(k).get_shape())) for k in weights.keys())
    times = run_times(model)
    step = release_step(folder)
    return {"name": model["name"], "mode": config["transformer"]["mode"], "parameters": parameters, "step": step,
            "batch_size": model.get("batch_size"), "options": config.get("training", {}).get("options", {}),
            "minutes": minutes_at(times, step) if times and step is not None else None}


def release_step(folder: str | Path) -> int | None:
    training = json.loads((Path(folder) / "config.json").read_text()).get("training", {})
    return int(training["step"]) if isinstance(training, dict) and "step" in training else None


# ---------------------------------------------------------------------------------------------------------------------
# the runner


class Comparison:
    def __init__(self, config: dict, log=print):
        self.config = config
        self.out = Path(config["out"])
        self.log = log
        self.seed = int(config.get("seed", 0))
        self.device = config.get("device", "cpu")
        self._pipelines: dict[str, PipelineGenerator] = {}
        self.context: EvalContext | None = None

    # --- shared state

    def prepare(self) -> None:
        c = self.config
        embedder = load_evaluator(c["evaluator"], device=self.device, glove=c.get("glove"),
                                  mean=c.get("evaluator_mean") or Path(c["data"]) / "Mean.npy",
                                  std=c.get("evaluator_std") or Path(c["data"]) / "Std.npy")
        eval_set = load_eval_set(c["data"], c.get("split", "test"))
        if c.get("max_items"):
            eval_set = eval_set.subset(int(c["max_items"]), self.seed)
        split = c.get("split", "test")
        train = load_eval_set(c["data"], "train") if split != "train" and (Path(c["data"]) / "train.txt").is_file() \
            else None
        self.context = EvalContext(embedder, eval_set, reference_set=train)

    def generator(self, folder: str, sampling: dict) -> PipelineGenerator:
        if folder not in self._pipelines:
            self._pipelines[folder] = PipelineGenerator(folder, device=self.device, **DEFAULT_SAMPLING)
        generate = self._pipelines[folder]
        # the models as they generate: the foot lock is a cleanup after decoding, the same for every model compared
        generate.settings = {"foot_lock": False, **sampling}
        return generate

    def _cache_key(self, folder: str, sampling: dict, repeats: int, mm_repeats: int) -> str:
        weights = sorted(Path(folder).rglob("*.safetensors"))
        stamp = [(str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in weights]
        c = self.config
        payload = json.dumps([str(Path(folder).resolve()), stamp, sampling, repeats, mm_repeats, self.seed,
                              c.get("split", "test"), c.get("max_items"), c.get("mm_texts", 100),
                              c.get("mm_samples", 10), str(c["evaluator"])], sort_keys=True)
        return hashlib.sha1(payload.encode()).hexdigest()[:16]

    def evaluate(self, name: str, folder: str, sampling: dict, repeats: int, mm_repeats: int = 0) -> dict:
        """One row: `name` at `sampling` over `repeats` (cached on disk)."""
        key = self._cache_key(folder, sampling, repeats, mm_repeats)
        path = self.out / CACHE_DIR / f"{key}.json"
        if path.is_file():
            row = json.loads(path.read_text())
            row["name"] = name
            return row
        self.log(f"evaluating {name} ({folder}) with {sampling}, {repeats} repeats")
        started = time.perf_counter()
        row = evaluate_generator(self.generator(folder, sampling), self.context, repeats=repeats, seed=self.seed,
                                 mm_texts=int(self.config.get("mm_texts", 100)),
                                 mm_samples=int(self.config.get("mm_samples", 10)), mm_repeats=mm_repeats, name=name)
        row.update(folder=folder, sampling=dict(sampling), repeats=repeats, wall_s=time.perf_counter() - started)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(row, indent=2) + "\n")
        return row

    # --- sections

    def main_table(self) -> list[dict]:
        c = self.config
        repeats = int(c.get("repeats", 20))
        mm_repeats = int(c.get("mm_repeats", repeats))
        rows = [evaluate_ground_truth(self.context, repeats=repeats, seed=self.seed)]
        for model in c["models"]:
            rows.append(self.evaluate(model["name"], model["folder"], c["sampling"], repeats, mm_repeats))
        return rows

    def training_curve(self) -> list[dict]:
        section = self.config.get("training_curve")
        if section is None:
            return []
        repeats = int(section.get("repeats", 5))
        curves = []
        for model in self.config["models"]:
            points = []
            times = run_times(model)
            for folder in [*model["snapshots"], model["folder"]]:
                step = release_step(folder)
                row = self.evaluate(model["name"], folder, self.config["sampling"], repeats)
                points.append({"folder": folder, "step": step,
                               "minutes": minutes_at(times, step) if step is not None else None,
                               "top1": row["metrics"]["top1"]["mean"], "fid": row["metrics"]["fid"]["mean"]})
            points.sort(key=lambda p: (p["step"] is None, p["step"] or 0))
            curves.append({"name": model["name"], "points": points,
                           "total_minutes": times[-1][1] / 60 if times else None,
                           "total_steps": times[-1][0] if times else None})
        return curves

    def sweep(self, key: str, setting: str) -> list[dict]:
        section = self.config.get(key)
        if section is None:
            return []
        by_name = {m["name"]: m for m in self.config["models"]}
        repeats = int(section.get("repeats", 5))
        results = []
        for name in section.get("models", [self.config["models"][0]["name"]]):
            folder = by_name[name]["folder"]
            if setting == "schedule" and not self._is_next_scale(folder):
                self.log(f"{name}: not a next-scale model, no schedule sweep")
                continue
            for value in section["values"]:
                sampling = {**self.config["sampling"], setting: value}
                row = self.evaluate(name, folder, sampling, repeats)
                entry = {"name": name, setting: value, "metrics": row["metrics"],
                         "seconds_per_clip": row["seconds_per_clip"]}
                if setting == "schedule":
                    entry["passes"] = self._passes(folder, value)
                results.append(entry)
        return results

    def timing(self) -> list[dict]:
        section = self.config.get("timing")
        if section is None:
            return []
        frames, runs = int(section.get("frames", 200)), int(section.get("runs", 5))
        results = []
        for model in self.config["models"]:
            generate = self.generator(model["folder"], self.config["sampling"])
            frames_here = min(frames, generate.pipe.max_frames)
            prompt = "a person walks forward and waves"
            generate.prepare(prompt)
            generate(prompt, frames_here, 0, 1)  # warm-up
            seconds = []
            for run in range(runs):
                started = time.perf_counter()
                generate(prompt, frames_here, run + 1, 1)
                seconds.append(time.perf_counter() - started)
            results.append({"name": model["name"], "frames": frames_here, "median_s": statistics.median(seconds),
                            "min_s": min(seconds), "threads": torch.get_num_threads()})
        return results

    def _is_next_scale(self, folder: str) -> bool:
        from moscale.model.transformer import NEXT_SCALE

        return self.generator(folder, self.config["sampling"]).pipe.model.config.mode == NEXT_SCALE

    def _passes(self, folder: str, schedule) -> int:
        from moscale.model.sampling import resolve_schedule

        model = self.generator(folder, self.config["sampling"]).pipe.model
        return int(sum(resolve_schedule(schedule, len(model.config.factors))))

    # --- everything

    def run(self) -> dict:
        if threads := self.config.get("threads"):
            torch.set_num_threads(int(threads))
        self.prepare()
        result = {"config": self.config, "items": len(self.context.eval_set),
                  "models": [model_facts(model) for model in self.config["models"]],
                  "fid_test_vs_train": self.context.fid_test_vs_train, "rows": self.main_table(),
                  "training_curve": self.training_curve(), "guidance_sweep": self.sweep("guidance_sweep", "guidance"),
                  "schedule_sweep": self.sweep("schedule_sweep", "schedule"), "timing": self.timing()}
        write_results(self.out, result)
        return result


# ---------------------------------------------------------------------------------------------------------------------
# output


def write_results(out: Path, result: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    figures = plot_results(out, result)
    c = result["config"]
    lines = [COMPARISON_TITLE, "",
             f"Evaluator `{_shown(c['evaluator'])}` on {result['items']} items of the `{c.get('split', 'test')}` split "
             f"of `{_shown(c['data'])}`; mean ± 95% confidence half-width over {c.get('repeats', 20)} repeats; sampling "
             + ", ".join(f"{k} {v}" for k, v in c["sampling"].items()) + ". s/clip: generation time per clip at the "
             "ground-truth lengths on this machine.", "", results_table(result["rows"]), ""]
    ci = metrics.format_mean_ci
    if result.get("models"):
        def flag(options: dict, key: str) -> str:
            return "-" if key not in options else ("yes" if options[key] else "no")

        lines += [*_table(["Model", "Mode", "HR", "TR", "Parameters", "Iterations × batch", "Training minutes"],
                          [[m["name"], m["mode"], flag(m["options"], "hierarchical_refinement"),
                            flag(m["options"], "temporal_refinement"), f"{m['parameters'] / 1e6:.2f} M",
                            f"{m['step']} × {m['batch_size'] or '-'}", _minutes(m["minutes"])]
                           for m in result["models"]]), ""]
    if c.get("notes") and Path(c["notes"]).is_file():  # the authors' reading of the numbers, kept beside the config
        lines += [Path(c["notes"]).read_text().strip(), ""]
    if result.get("fid_test_vs_train") is not None:
        lines += [f"FID between the ground-truth test and train motions (the floor set by the split and the test-set "
                  f"size): {result['fid_test_vs_train']:.4f}.", ""]

    def section(title: str, columns: list[str], rows: list[list], figure: tuple[str, str] | None) -> list[str]:
        """A titled table and, for sections that have one, the line of its figure (`figure`: its key in `figures`
        and its alt text; the line stays blank when the figure was not drawn)."""
        if figure is None:
            return [f"## {title}", "", *_table(columns, rows), ""]
        key, alt = figure
        return [f"## {title}", "", *_table(columns, rows), "", f"![{alt}]({figures[key]})" if key in figures else "",
                ""]

    if result["training_curve"]:
        lines += section("Quality against training time", ["Model", "Step", "Minutes", "Top-1", "FID"],
                         [[curve["name"], p["step"] if p["step"] is not None else "-", _minutes(p["minutes"]),
                           f"{p['top1']:.3f}", f"{p['fid']:.3f}"]
                          for curve in result["training_curve"] for p in curve["points"]],
                         ("training", "quality against training time"))
    if result["guidance_sweep"]:
        lines += section("Guidance scale", ["Model", "Guidance", "Top-1", "FID", "MM-Dist", "Diversity"],
                         [[e["name"], e["guidance"], *(ci(e["metrics"][k]) for k in ("top1", "fid", "mm_dist",
                                                                                  "diversity"))]
                          for e in result["guidance_sweep"]], ("guidance", "guidance sweep"))
    if result["schedule_sweep"]:
        lines += section("Refinement schedules", ["Model", "Schedule", "Passes", "Top-1", "FID", "MM-Dist", "s/clip"],
                         [[e["name"], e["schedule"], e["passes"],
                           *(ci(e["metrics"][k]) for k in ("top1", "fid", "mm_dist")), f"{e['seconds_per_clip']:.3f}"]
                          for e in result["schedule_sweep"]], ("schedules", "refinement schedules"))
    if result["timing"]:
        lines += section("Generation time", ["Model", "Frames", "Median s", "Fastest s", "Threads"],
                         [[t["name"], t["frames"], f"{t['median_s']:.3f}", f"{t['min_s']:.3f}", t["threads"]]
                          for t in result["timing"]], None)
    path = out / "results.md"
    # what precedes the comparison's own title (the user-visible benchmarks, written from benchmarks/prompts.py) stays
    kept = path.read_text().split(COMPARISON_TITLE)[0] if path.is_file() and COMPARISON_TITLE in path.read_text() else ""
    atomic.write_text(path, kept + "\n".join(lines))


def _table(columns: list[str], rows: list[list]) -> list[str]:
    """Markdown table lines: header, separator, one line per row."""
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
            *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)]


def _minutes(minutes: float | None) -> str:
    return "-" if minutes is None else f"{minutes:.1f}"


def _shown(path: str | Path) -> str:
    """A path as the report shows it: relative to the working directory when inside it (no machine-specific prefix)."""
    absolute = Path(os.path.abspath(path))  # normalised, symlinks kept (corpus/ is often a link)
    return str(absolute.relative_to(Path.cwd())) if absolute.is_relative_to(Path.cwd()) else str(absolute)


def plot_results(out: Path, result: dict) -> dict[str, str]:
    """PNG figures beside results.md; returns {section: file name}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = {}

    def two_panels(file_name: str, series: dict[str, list[tuple[float, float, float]]], xlabel: str, title: str):
        figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
        for name, points in series.items():
            points = sorted(points)
            xs = [p[0] for p in points]
            left.plot(xs, [p[1] for p in points], marker="o", label=name)
            right.plot(xs, [p[2] for p in points], marker="o", label=name)
        left.set_ylabel("R-precision top-1 ↑")
        right.set_ylabel("FID ↓")
        for axis in (left, right):
            axis.set_xlabel(xlabel)
            axis.grid(alpha=0.3)
        left.legend()
        figure.suptitle(title)
        figure.tight_layout()
        figure.savefig(out / file_name, dpi=100)
        plt.close(figure)
        figures[file_name.removeprefix("results_").removesuffix(".png")] = file_name

    curves = {c["name"]: [(p["minutes"] if p["minutes"] is not None else (p["step"] or 0), p["top1"], p["fid"])
                          for p in c["points"]] for c in result["training_curve"]}
    if curves:
        timed = all(p["minutes"] is not None for c in result["training_curve"] for p in c["points"])
        two_panels("results_training.png", curves, "training minutes" if timed else "training step",
                   "quality against training time")
    for key, setting, xlabel in (("guidance_sweep", "guidance", "guidance scale"),
                                 ("schedule_sweep", "passes", "passes (refinement schedule)")):
        series: dict[str, list] = {}
        for e in result[key]:
            series.setdefault(e["name"], []).append((float(e[setting]), e["metrics"]["top1"]["mean"],
                                                     e["metrics"]["fid"]["mean"]))
        if series:
            two_panels(f"results_{'guidance' if setting == 'guidance' else 'schedules'}.png", series, xlabel,
                       xlabel.split(" (")[0])
    return figures


# ---------------------------------------------------------------------------------------------------------------------
# command line


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="comparison config (JSON, see --help)")
    parser.add_argument("--out", type=Path, help="override the config's output folder")


def run(args: argparse.Namespace) -> int:
    try:
        config = read_config(args.config)
        if args.out:
            config["out"] = str(args.out)
        result = Comparison(config).run()
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(results_table(result["rows"]))
    print(f"wrote {Path(config['out']) / 'results.md'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="moscale eval compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    configure_parser(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
