"""`moscale eval generator`: text-to-motion metrics of a generator release folder on a test split.

    moscale eval generator --model runs/gen/release --evaluator runs/evaluator/evaluator --data corpus/ \
        [--repeats 20] [--schedule fast|best|1,2,3,4] [--guidance 5] [--max-items N] [--out DIR]

Protocol (Guo et al. 2022): every test sample (clip window or captioned sub-range) is one item with its
ground-truth length. Each repeat draws one of the item's captions at random, generates one motion for it, and scores
the set: R-precision top-1/2/3 (shuffled batches of 32), FID against the ground-truth test motions, MM-Dist, Diversity
(300 pairs) and MultiModality (10 generations for each of 100 random items, distances of 10 pairs). Results are the
mean and 95% confidence half-width over the repeats. Ground truth is scored the same way with the same captions
(the reference row; its FID against its own statistics is 0 by construction, so the FID between the test and train
ground truth is reported as the floor). Generation time per clip is measured around the generator call alone.
Foot contact (skating, penetration, floating, jerk; evaluation/contact.py) is scored on the first repeat's clips
against the real clips of each item's action.

Writes OUT/metrics.json and OUT/results.md (default OUT: MODEL/eval_SPLIT).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from moscale.data.dataset import TEXTS_DIR, MotionDataset, read_split
from moscale.utils import atomic
from moscale.evaluation import contact, metrics
from moscale.evaluation.evaluator import Embedder, TextMotionEvaluator
from moscale.evaluation.load import load_evaluator
from moscale.model.sampling import DEFAULT_GUIDANCE, PREFIX_MODES

GROUND_TRUTH = "ground truth"
# generate(caption, frames, seed, num_samples) -> (num_samples, frames, D) raw features
GenerateFn = Callable[[str, int, int, int], np.ndarray]
ProgressFn = Callable[[int, int], None]


# ---------------------------------------------------------------------------------------------------------------------
# the test items


@dataclass
class EvalSet:
    """One item per test sample: its raw features, ground-truth length and every caption of it."""

    names: list[str]
    captions: list[tuple[str, ...]]
    features: list[np.ndarray]  # raw (T_i, D) float32
    tokens: dict[str, str] = field(default_factory=dict)  # caption -> HumanML3D "word/POS ..." tokens

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(f) for f in self.features], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.names)

    def unique_captions(self) -> list[str]:
        return list(dict.fromkeys(c for caps in self.captions for c in caps))

    def choose_captions(self, rng: np.random.Generator) -> list[str]:
        return [caps[int(rng.integers(len(caps)))] for caps in self.captions]

    def subset(self, count: int, seed: int = 0) -> "EvalSet":
        """A fixed random subset of `count` items (in their original order)."""
        if count >= len(self):
            return self
        keep = np.sort(np.random.default_rng(seed).choice(len(self), count, replace=False))
        return EvalSet([self.names[i] for i in keep], [self.captions[i] for i in keep],
                       [self.features[i] for i in keep], self.tokens)


def load_eval_set(root: str | Path, split: str = "test", *, max_frames: int = 196, min_frames: int = 40,
                  unit_length: int = 4) -> EvalSet:
    """The split's samples with HumanML3D's evaluation lengths (capped at max_frames, a multiple of unit_length)."""
    dataset = MotionDataset(root, split, max_frames=max_frames, min_frames=min_frames, unit_length=unit_length,
                            per_caption=True, normalize=False, seed=0)
    order: dict[str, int] = {}
    captions: list[list[str]] = []
    features: list[np.ndarray] = []
    for index in range(len(dataset)):
        item = dataset[index]  # per_caption: each (sample, caption) pair is an item
        if item["name"] not in order:
            order[item["name"]] = len(features)
            features.append(item["features"].numpy())
            captions.append([])
        captions[order[item["name"]]].append(item["caption"])
    return EvalSet(list(order), [tuple(dict.fromkeys(c)) for c in captions], features, caption_tokens(root, split))


def caption_tokens(root: str | Path, split: str) -> dict[str, str]:
    """caption -> its 'word/POS' token string, from the split's texts/NAME.txt files (second '#' field)."""
    root = Path(root)
    tokens: dict[str, str] = {}
    for name in read_split(root, split):
        path = root / TEXTS_DIR / f"{name}.txt"
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            fields = line.strip().split("#")
            if len(fields) > 1 and fields[0].strip() and fields[1].strip():
                tokens.setdefault(" ".join(fields[0].split()), fields[1].strip())
    return tokens


# ---------------------------------------------------------------------------------------------------------------------
# evaluation


class EvalContext:
    """What every evaluated row shares: the evaluator, the items, caption embeddings, ground-truth statistics."""

    def __init__(self, embedder: Embedder, eval_set: EvalSet, text_cache=None, reference_set: EvalSet | None = None,
                 groups: Sequence[str] | None = None):
        self.embedder = embedder
        self.eval_set = eval_set
        # foot contact against the real clips of each item's action (evaluation/contact.py); None: not measured
        self.groups = list(groups) if groups is not None else None
        self.real_contact = ([contact.clip_stats(f) for f in eval_set.features] if groups is not None else None)
        if hasattr(embedder, "set_caption_tokens"):
            embedder.set_caption_tokens(eval_set.tokens)
        captions = eval_set.unique_captions()
        self.caption_row = {c: i for i, c in enumerate(captions)}
        if text_cache is not None and isinstance(embedder, TextMotionEvaluator):
            table = embedder.embed_texts(captions, cache=text_cache)
        else:
            table = embedder.embed_texts(captions)
        self.text_table = np.asarray(table, dtype=np.float64)
        self.gt_motion = np.asarray(embedder.embed_motions(eval_set.features), dtype=np.float64)
        self.reference = metrics.gaussian_statistics(self.gt_motion)
        self.fid_test_vs_train = None
        if reference_set is not None:
            train_motion = np.asarray(embedder.embed_motions(reference_set.features), dtype=np.float64)
            self.fid_test_vs_train = metrics.fid(self.gt_motion, train_motion)

    def texts(self, captions: Sequence[str]) -> np.ndarray:
        return self.text_table[[self.caption_row[c] for c in captions]]

    @staticmethod
    def rngs(seed: int, repeat: int) -> tuple[np.random.Generator, np.random.Generator]:
        """(caption choice, metric sampling) streams of one repeat, the same for every row."""
        return np.random.default_rng((seed, repeat, 0)), np.random.default_rng((seed, repeat, 1))


def evaluate_ground_truth(context: EvalContext, *, repeats: int = 20, seed: int = 0) -> dict:
    rows = []
    for repeat in range(repeats):
        caption_rng, metric_rng = context.rngs(seed, repeat)
        texts = context.texts(context.eval_set.choose_captions(caption_rng))
        rows.append(metrics.repeat_metrics(texts, context.gt_motion, context.reference, metric_rng))
    result = {"name": GROUND_TRUTH, "metrics": metrics.summarize(rows), "seconds_per_clip": None,
              "fid_test_vs_train": context.fid_test_vs_train}
    if context.groups is not None:
        result["contact"] = contact.contact_report(context.real_contact, context.real_contact, context.groups)
    return result


def item_seed(seed: int, repeat: int, item: int) -> int:
    return int(np.random.default_rng((seed, repeat, item, 7)).integers(2**31))


def evaluate_generator(generate: GenerateFn, context: EvalContext, *, repeats: int = 20, seed: int = 0,
                       mm_texts: int = 100, mm_samples: int = 10, mm_repeats: int | None = None,
                       progress: ProgressFn | None = None, name: str = "model") -> dict:
    """Per-repeat metrics of `generate` on the context's items, summarised over repeats."""
    items = context.eval_set
    lengths = items.lengths
    mm_repeats = repeats if mm_repeats is None else min(mm_repeats, repeats)
    mm_count = min(mm_texts, len(items)) if mm_samples >= 2 else 0
    total = repeats * len(items) + mm_repeats * mm_count
    done, seconds, clips = 0, 0.0, 0
    prepare = getattr(generate, "prepare", None)
    rows, first_motions = [], None
    for repeat in range(repeats):
        caption_rng, metric_rng = context.rngs(seed, repeat)
        captions = items.choose_captions(caption_rng)
        motions = []
        for i, caption in enumerate(captions):
            if prepare is not None:
                prepare(caption)  # text encoding is not generation time
            started = time.perf_counter()
            motion = generate(caption, int(lengths[i]), item_seed(seed, repeat, i), 1)[0]
            seconds += time.perf_counter() - started
            clips += 1
            motions.append(_checked(motion, int(lengths[i]), caption))
            done += 1
            if progress is not None:
                progress(done, total)
        first_motions = motions if first_motions is None else first_motions
        motion_emb = np.asarray(context.embedder.embed_motions(motions), dtype=np.float64)
        row = metrics.repeat_metrics(context.texts(captions), motion_emb, context.reference, metric_rng)
        if repeat < mm_repeats and mm_count:
            chosen = metric_rng.choice(len(items), mm_count, replace=False)
            groups = []
            for i in chosen:
                if prepare is not None:
                    prepare(captions[i])
                batch = generate(captions[i], int(lengths[i]), item_seed(seed, repeat, 100_000 + int(i)), mm_samples)
                groups.append(np.asarray(context.embedder.embed_motions(list(batch)), dtype=np.float64))
                done += 1
                if progress is not None:
                    progress(done, total)
            row["multimodality"] = metrics.multimodality(np.stack(groups), metrics.MULTIMODALITY_PAIRS, metric_rng)
        rows.append(row)
    result = {"name": name, "metrics": metrics.summarize(rows), "seconds_per_clip": seconds / max(clips, 1),
              "clips": clips}
    if context.groups is not None and first_motions is not None:  # the first repeat's clips, one per item
        generated = [contact.clip_stats(m) for m in first_motions]
        result["contact"] = contact.contact_report(context.real_contact, generated, context.groups)
        result["contact_by_action"] = contact.per_group(context.real_contact, generated, context.groups)
    return result


def _checked(motion: np.ndarray, frames: int, caption: str) -> np.ndarray:
    motion = np.asarray(motion, dtype=np.float32)
    if motion.ndim != 2 or motion.shape[0] != frames:
        raise ValueError(f"the generator returned shape {motion.shape} for {frames} frames ({caption!r})")
    if not np.isfinite(motion).all():
        raise ValueError(f"the generator returned non-finite features for {caption!r}")
    return motion


class PipelineGenerator:
    """A GenerateFn over a MoScalePipeline release folder with fixed sampling settings."""

    def __init__(self, folder: str | Path, *, guidance: float = DEFAULT_GUIDANCE, schedule: str = "fast",
                 temperature: float = 1.0, top_p: float | None = 0.9, device: str = "cpu", precision: str = "fp32",
                 foot_lock: bool = True, prefix: str | None = None):
        from moscale.pipeline import MoScalePipeline

        self.pipe = MoScalePipeline.from_pretrained(folder, device=device, precision=precision)
        if prefix is not None:  # the KV-cache state (sampling.PREFIX_MODES); default: what the release was trained for
            self.pipe.prefix = prefix
        self.settings = dict(guidance=guidance, schedule=schedule, temperature=temperature, top_p=top_p,
                             foot_lock=foot_lock)
        from moscale.pipeline.editing import feature_facing

        self.facing = feature_facing(self.pipe)  # how the foot-locked joints are encoded back into features

    def prepare(self, caption: str) -> None:
        self.pipe.encode_text(caption)

    def __call__(self, caption: str, frames: int, seed: int, num_samples: int) -> np.ndarray:
        result = self.pipe.generate(caption, frames=frames, seed=seed, num_samples=num_samples, **self.settings)
        motions = result if isinstance(result, list) else [result]
        if self.settings["foot_lock"]:  # score what the user gets: the features of the foot-locked joints
            return np.stack([locked_features(m, self.facing) for m in motions])
        return np.stack([m.features for m in motions])


def locked_features(motion, facing: str = "corrected") -> np.ndarray:
    """(T, 263) features of a motion whose joints were changed after decoding (foot lock), contact channels kept
    from the model (they are what the lock acted on)."""
    from moscale.motion.features import joints_to_features
    from moscale.motion.skeleton import CONTACT_SLICE

    joints = np.concatenate([motion.joints, 2 * motion.joints[-1:] - motion.joints[-2:-1]])  # one frame more
    features = joints_to_features(joints.astype(np.float64), facing=facing).astype(np.float32)
    features[:, CONTACT_SLICE] = motion.features[:, CONTACT_SLICE]
    return features


# ---------------------------------------------------------------------------------------------------------------------
# reports

COLUMNS = (("top1", "Top-1 ↑"), ("top2", "Top-2 ↑"), ("top3", "Top-3 ↑"), ("fid", "FID ↓"),
           ("mm_dist", "MM-Dist ↓"), ("diversity", "Diversity →"), ("multimodality", "MModality ↑"))


def results_table(rows: Sequence[dict], digits: int = 3) -> str:
    """A markdown table, one line per evaluated row (mean ± 95% half-width)."""
    header = "| Method | " + " | ".join(title for _, title in COLUMNS) + " | s/clip |"
    lines = [header, "|" + "---|" * (len(COLUMNS) + 2)]
    for row in rows:
        cells = [metrics.format_mean_ci(row["metrics"].get(key), digits) for key, _ in COLUMNS]
        timing = "-" if row.get("seconds_per_clip") is None else f"{row['seconds_per_clip']:.3f}"
        lines.append(f"| {row['name']} | " + " | ".join(cells) + f" | {timing} |")
    return "\n".join(lines)


def write_report(out: Path, result: dict, title: str = "Text-to-motion evaluation") -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out / "metrics.json", json.dumps(result, indent=2) + "\n")
    settings = ", ".join(f"{k} {v}" for k, v in result.get("settings", {}).items())
    floor = result.get("fid_test_vs_train")
    lines = [f"# {title}", "", f"{result.get('items', '?')} items of split `{result.get('split')}`; {settings}.", "",
             results_table(result["rows"]), ""]
    if floor is not None:
        lines += [f"FID between the ground-truth test and train motions: {floor:.4f}.", ""]
    if any(row.get("contact") for row in result["rows"]):
        lines += ["Feet (one clip per item, the first repeat; contacts from each clip's joints, as for the real clips' channels):", "",
                  contact.contact_table(result["rows"]), ""]
    atomic.write_text(out / "results.md", "\n".join(lines))


# ---------------------------------------------------------------------------------------------------------------------
# command line


def add_evaluator_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--evaluator", type=Path, required=True,
                        help="evaluator folder (moscale train evaluator) or Guo et al.'s text_mot_match checkpoint")
    parser.add_argument("--glove", type=Path, help="Guo et al.'s GloVe folder (for their evaluator)")
    parser.add_argument("--evaluator-mean", type=Path, help="Mean.npy of Guo et al.'s evaluator (default: DATA's)")
    parser.add_argument("--evaluator-std", type=Path, help="Std.npy of Guo et al.'s evaluator (default: DATA's)")


def open_evaluator(args: argparse.Namespace):
    mean = args.evaluator_mean or Path(args.data) / "Mean.npy"
    std = args.evaluator_std or Path(args.data) / "Std.npy"
    return load_evaluator(args.evaluator, device=args.device, glove=args.glove, mean=mean, std=std)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, help="generator release folder (without it: ground truth only)")
    parser.add_argument("--data", type=Path, required=True, help="HumanML3D-layout folder")
    add_evaluator_arguments(parser)
    parser.add_argument("--split", default="test")
    parser.add_argument("--name", help="row name for the model (default: its folder name)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--schedule", default="fast", help="'fast', 'best' or e.g. '1,2,3,4'")
    parser.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-p", type=float, default=0.9)
    parser.add_argument("--mm-texts", type=int, default=100, help="items scored for MultiModality (default 100)")
    parser.add_argument("--mm-samples", type=int, default=10, help="generations per MultiModality item (default 10)")
    parser.add_argument("--mm-repeats", type=int, help="repeats that include MultiModality (default: all)")
    parser.add_argument("--max-items", type=int, help="score a fixed random subset of the split's items")
    parser.add_argument("--out", type=Path, help="output folder (default: MODEL/eval_SPLIT, or ./eval_SPLIT)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="CPU threads")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32", help="generator arithmetic")
    parser.add_argument("--no-foot-lock", action="store_true", help="score the clips without the foot lock")
    parser.add_argument("--prefix", choices=PREFIX_MODES,
                        help="KV-cache state of finished scales (default: what the release was trained for)")
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        embedder = open_evaluator(args)
        eval_set = load_eval_set(args.data, args.split)
        if args.max_items:
            eval_set = eval_set.subset(args.max_items, args.seed)
        context = EvalContext(embedder, eval_set, reference_set=_train_set(args.data, args.split),
                              groups=contact.action_groups(args.data, eval_set.names))
        rows = [evaluate_ground_truth(context, repeats=args.repeats, seed=args.seed)]
        if args.model is not None:
            generate = PipelineGenerator(args.model, guidance=args.guidance, schedule=args.schedule,
                                         temperature=args.temperature, top_p=args.top_p, device=args.device,
                                         precision=args.precision, foot_lock=not args.no_foot_lock,
                                         prefix=args.prefix)
            bar = None if args.no_progress else _bar("generate")
            rows.append(evaluate_generator(generate, context, repeats=args.repeats, seed=args.seed,
                                           mm_texts=args.mm_texts, mm_samples=args.mm_samples,
                                           mm_repeats=args.mm_repeats, name=args.name or args.model.name,
                                           progress=bar))
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    settings = {"repeats": args.repeats, "schedule": args.schedule, "guidance": args.guidance,
                "temperature": args.temperature, "top_p": args.top_p, "seed": args.seed, "precision": args.precision,
                "foot_lock": not args.no_foot_lock, "prefix": args.prefix or "release"}
    result = {"data": str(args.data), "split": args.split, "items": len(eval_set), "evaluator": str(args.evaluator),
              "model": str(args.model) if args.model else None, "settings": settings,
              "fid_test_vs_train": context.fid_test_vs_train, "rows": rows}
    out = args.out or ((args.model if args.model else Path(".")) / f"eval_{args.split}")
    write_report(out, result)
    print(results_table(rows))
    print(contact.contact_table(rows))
    print(f"wrote {out / 'metrics.json'} and {out / 'results.md'}")
    return 0


def _train_set(root: Path, split: str) -> EvalSet | None:
    if split == "train" or not (Path(root) / "train.txt").is_file():
        return None
    return load_eval_set(root, "train")


def _bar(description: str) -> ProgressFn:
    """A ProgressFn drawing a tqdm bar (created at the first call, when the total is known)."""
    from tqdm import tqdm

    bars: list = []

    def update(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, desc=description, dynamic_ncols=True, mininterval=2.0))
        bars[0].update(done - bars[0].n)
        if done >= total:
            bars[0].close()

    return update


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="moscale eval generator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    configure_parser(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
