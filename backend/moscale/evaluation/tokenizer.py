"""`moscale eval tokenizer`: how well the tokenizer reconstructs motions, scale by scale.

    moscale eval tokenizer --tokenizer runs/tok/tokenizer --data corpus/ [--split test] [--out runs/tok/eval_test]

For every clip of the split (HumanML3D practice: up to 196 frames) the motion is encoded, then decoded from the first
scale only, the first two, ..., all scales. Reconstructed and original features are denormalised and turned into joint
positions the same way (`moscale.motion.features.features_to_joints`), and compared:

- MPJPE (mm): mean joint distance after aligning each frame's pelvis (the convention of MoMask's tokenizer tables);
- global MPJPE (mm): the same without alignment, so drift of the integrated root trajectory counts too;
- MPJPE with the true root yaw velocity put into the reconstruction (all scales): the pelvis-aligned joints still turn
  with the integrated yaw, so the gap to the MPJPE is the error the root's turn adds up to over a window;

plus codebook usage (fraction of codes used at least once over the split's tokens, all scales) and perplexity. A mean
over a mixed corpus hides where the error is, so the MPJPE is also given per data source (the clip-name prefix before
the first "_", e.g. bandai2, cmu) and as the median clip's. Writes `metrics.json` (with every clip's MPJPE) and a
Figure-6-style PNG: one clip (by default the median clip) decoded from 1, 2, ..., K scales above the original.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from moscale.data.dataset import MotionDataset, clip_source, collate_motions
from moscale.model.tokenizer import MotionTokenizer


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tokenizer", type=Path, required=True, help="release folder (config.json, tokenizer.safetensors)")
    parser.add_argument("--data", type=Path, required=True, help="HumanML3D-layout folder")
    parser.add_argument("--split", default="test", help="split to score (default test)")
    parser.add_argument("--out", type=Path, help="output folder (default: beside the tokenizer, eval_SPLIT)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-clips", type=int, help="score only the first N clips")
    parser.add_argument("--figure-clip", help="clip name for the figure (default: the median clip at all scales)")
    parser.add_argument("--figure-frames", type=int, default=8, help="poses per filmstrip row")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="CPU threads")


def joints_from_features(features_TD: np.ndarray) -> np.ndarray:
    """(T, 22, 3) metres from raw (denormalised) features."""
    from moscale.motion.features import features_to_joints

    return np.asarray(features_to_joints(features_TD), dtype=np.float64)


def joint_errors(pred_TJ3: np.ndarray, true_TJ3: np.ndarray) -> tuple[float, float]:
    """(sum of pelvis-aligned joint distances, sum of global joint distances) in metres over all frames and joints."""
    aligned = np.linalg.norm((pred_TJ3 - pred_TJ3[:, :1]) - (true_TJ3 - true_TJ3[:, :1]), axis=-1)
    global_ = np.linalg.norm(pred_TJ3 - true_TJ3, axis=-1)
    return float(aligned.sum()), float(global_.sum())


@torch.no_grad()
def evaluate(model: MotionTokenizer, dataset: MotionDataset, *, batch_size: int = 32, max_clips: int | None = None,
             device: str | torch.device = "cpu") -> dict:
    """MPJPE per cumulative scale count, codebook usage and perplexity over `dataset` (normalised like the model)."""
    model.eval()
    mean, std = model.feature_mean.cpu().numpy(), model.feature_std.cpu().numpy()
    count = len(dataset) if max_clips is None else min(max_clips, len(dataset))
    order = sorted(range(count), key=lambda i: int(dataset.lengths[i]))  # similar lengths together: less padding
    num_scales = model.config.num_scales
    aligned_m, global_m = np.zeros(num_scales), np.zeros(num_scales)
    true_yaw_m = 0.0
    points = 0
    per_clip = []
    all_indices: list[list[torch.Tensor]] = [[] for _ in range(num_scales)]
    all_counts = []
    for start in range(0, count, batch_size):
        batch = collate_motions([dataset[i] for i in order[start : start + batch_size]])
        features, lengths = batch["features"].to(device), batch["lengths"].to(device)
        indices = model.encode(features, lengths)
        counts = model.token_counts(lengths).cpu()
        all_counts.append(counts)
        for k in range(num_scales):
            width = int(counts[:, k].max())
            all_indices[k].append(indices[k].cpu()[:, :width])
        true_raw = [f[:t].numpy() * std + mean for f, t in zip(batch["features"], batch["lengths"].tolist())]
        true = [joints_from_features(raw) for raw in true_raw]
        points += sum(j.shape[0] * j.shape[1] for j in true)
        clip_aligned = np.zeros((len(true), num_scales))
        for k in range(num_scales):
            recon = model.decode(indices, lengths, num_scales=k + 1).cpu()
            for b, t in enumerate(batch["lengths"].tolist()):
                raw = recon[b, :t].numpy() * std + mean
                a, g = joint_errors(joints_from_features(raw), true[b])
                aligned_m[k] += a
                global_m[k] += g
                clip_aligned[b, k] = a
                if k == num_scales - 1:  # how much of the error is the integrated root turn
                    raw[:, 0] = true_raw[b][:, 0]
                    true_yaw_m += joint_errors(joints_from_features(raw), true[b])[0]
        for b, name in enumerate(batch["names"]):
            per_clip.append({"name": name, "points": true[b].shape[0] * true[b].shape[1],
                             "aligned_m": clip_aligned[b]})
    usage = _usage(all_indices, all_counts, model.config.codebook_size)
    return {
        "clips": count,
        "scales": list(range(1, num_scales + 1)),
        "mpjpe_mm": (aligned_m / points * 1000).tolist(),
        "global_mpjpe_mm": (global_m / points * 1000).tolist(),
        "mpjpe_true_yaw_mm": true_yaw_m / points * 1000,
        **_breakdown(per_clip),
        **usage,
    }


def _breakdown(per_clip: list[dict]) -> dict:
    """Per-source MPJPE (point-weighted, like the total), the median clip's, and every clip's (mm per scale)."""
    clip_mm = {c["name"]: c["aligned_m"] / c["points"] * 1000 for c in per_clip}
    sources: dict[str, list[dict]] = {}
    for c in per_clip:
        sources.setdefault(clip_source(c["name"]), []).append(c)
    by_source = {source: {"clips": len(clips),
                          "mpjpe_mm": (sum(c["aligned_m"] for c in clips) / sum(c["points"] for c in clips)
                                       * 1000).tolist()}
                 for source, clips in sorted(sources.items())}
    ranked = sorted(clip_mm, key=lambda name: clip_mm[name][-1])
    median = ranked[len(ranked) // 2] if ranked else None
    return {"mpjpe_mm_by_source": by_source, "median_clip": median,
            "median_clip_mpjpe_mm": np.median(np.stack(list(clip_mm.values())), axis=0).tolist() if clip_mm else [],
            "clip_mpjpe_mm": {name: [round(float(v), 2) for v in mm] for name, mm in clip_mm.items()}}


def codebook_statistics(indices: list[torch.Tensor], counts_BK: torch.Tensor, codebook_size: int) -> dict[str, float]:
    """Usage (fraction of codes used at least once) and perplexity over the valid tokens of a set of encodings."""
    histogram = torch.zeros(codebook_size, dtype=torch.float64)
    for k, idx_BL in enumerate(indices):
        valid_BL = torch.arange(idx_BL.shape[1])[None, :] < counts_BK[:, k : k + 1]
        histogram += torch.bincount(idx_BL.cpu()[valid_BL], minlength=codebook_size).double()
    probs = histogram / histogram.sum().clamp(min=1)
    entropy = -(probs * torch.log(probs.clamp(min=1e-12))).sum()
    return {"usage": float((histogram > 0).double().mean()), "perplexity": float(math.exp(entropy))}


def _usage(all_indices, all_counts, codebook_size: int) -> dict:
    counts = torch.cat(all_counts)
    per_scale = []
    merged = []
    for k, chunks in enumerate(all_indices):
        width = max(c.shape[1] for c in chunks)
        idx = torch.cat([torch.nn.functional.pad(c, (0, width - c.shape[1])) for c in chunks])
        merged.append(idx)
        per_scale.append(codebook_statistics([idx], counts[:, k : k + 1], codebook_size))
    overall = codebook_statistics(merged, counts, codebook_size)
    return {
        "codebook_usage": overall["usage"],
        "codebook_perplexity": overall["perplexity"],
        "codebook_usage_per_scale": [s["usage"] for s in per_scale],
        "codebook_perplexity_per_scale": [s["perplexity"] for s in per_scale],
    }


def format_table(results: dict) -> str:
    lines = [f"{'scales':<10} {'MPJPE mm':>10} {'global mm':>10} {'code usage':>11} {'perplexity':>11}"]
    for k, s in enumerate(results["scales"]):
        label = "1" if s == 1 else f"1-{s}"
        lines.append(f"{label:<10} {results['mpjpe_mm'][k]:>10.1f} {results['global_mpjpe_mm'][k]:>10.1f} "
                     f"{results['codebook_usage_per_scale'][k]:>11.1%} {results['codebook_perplexity_per_scale'][k]:>11.1f}")
    lines.append(f"codebook: {results['codebook_usage']:.1%} of codes used, perplexity "
                 f"{results['codebook_perplexity']:.1f} ({results['clips']} clips)")
    per_scale = (lambda values: " / ".join(f"{v:.1f}" for v in values))
    lines.append(f"all scales with the true root yaw velocity: {results['mpjpe_true_yaw_mm']:.1f} mm (the rest of the "
                 f"MPJPE is the integrated root turn)")
    lines.append(f"median clip MPJPE mm per scale: {per_scale(results['median_clip_mpjpe_mm'])}")
    for source, entry in results["mpjpe_mm_by_source"].items():
        lines.append(f"  {source}: {per_scale(entry['mpjpe_mm'])} ({entry['clips']} clips)")
    return "\n".join(lines)


@torch.no_grad()
def scale_figure(model: MotionTokenizer, features_TD: torch.Tensor, out_path: str | Path, *, title: str = "",
                 frames: int = 8) -> Path:
    """The same clip decoded from the first 1, 2, ..., K scales, then the original: one filmstrip row each."""
    from PIL import Image

    from moscale.motion.preview import render_preview

    mean, std = model.feature_mean.cpu().numpy(), model.feature_std.cpu().numpy()
    lengths = torch.tensor([features_TD.shape[0]])
    indices = model.encode(features_TD[None], lengths)
    true = joints_from_features(features_TD.numpy() * std + mean)
    rows = []
    for k in range(1, model.config.num_scales + 1):
        tokens = sum(int(c) for c in model.token_counts(lengths)[0, :k])
        pred = joints_from_features(model.decode(indices, lengths, num_scales=k)[0].numpy() * std + mean)
        mpjpe = joint_errors(pred, true)[0] / (true.shape[0] * true.shape[1]) * 1000
        label = "scale 1" if k == 1 else f"scales 1-{k}"
        rows.append((pred, f"{title}  {label} ({tokens} tokens): MPJPE {mpjpe:.1f} mm"))
    rows.append((true, f"{title}  original"))
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        images = []
        for i, (joints, caption) in enumerate(rows):
            path = render_preview(joints, Path(folder) / f"row{i}.png", title=caption, filmstrip_frames=frames,
                                  size_px=240)
            images.append(Image.open(path).convert("RGB"))
        sheet = Image.new("RGB", (max(im.width for im in images), sum(im.height for im in images)), "white")
        top = 0
        for image in images:
            sheet.paste(image, (0, top))
            top += image.height
        sheet.save(out_path)
    return out_path


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        model = MotionTokenizer.from_pretrained(args.tokenizer, map_location=args.device)
        dataset = MotionDataset(args.data, args.split, mean=model.feature_mean.cpu().numpy(),
                                std=model.feature_std.cpu().numpy(), seed=0)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out = args.out or Path(args.tokenizer).resolve().parent / f"eval_{args.split}"
    out.mkdir(parents=True, exist_ok=True)
    results = evaluate(model, dataset, batch_size=args.batch_size, max_clips=args.max_clips, device=args.device)
    results.update(tokenizer=str(args.tokenizer), data=str(args.data), split=args.split)

    names = dataset.names
    if args.figure_clip is not None:
        if args.figure_clip not in names:
            print(f"error: clip {args.figure_clip!r} is not in the {args.split} split", file=sys.stderr)
            return 2
        pick = names.index(args.figure_clip)
    else:
        pick = names.index(results["median_clip"])
    item = dataset[pick]
    figure = scale_figure(model.cpu(), item["features"], out / f"scales_{item['name'].replace('/', '_')}.png",
                          title=item["name"], frames=args.figure_frames)
    results["figure"] = str(figure)
    (out / "metrics.json").write_text(json.dumps(results, indent=2) + "\n")
    print(format_table(results))
    print(f"wrote {out / 'metrics.json'} and {figure}")
    return 0
