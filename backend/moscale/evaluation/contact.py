"""Foot-contact quality of generated clips against the real clips of the same action (what a viewer sees and the
text-motion evaluator does not): skating, floor penetration, floating and jerk (moscale.motion.feet.foot_stats), each as
the generated median / 95th percentile beside the real ones, and the fraction of generated clips above the real
95th percentile of their own action.

Contact frames come from what each clip's joints do, by the rule that made the real clips' contact channels (the
feature codec's: a foot joint nearly still and near the floor, moscale.motion.feet.contacts_from_joints), so real and
generated clips are judged alike whatever the model claims. Skating is also reported over the frames the model's
own contact channels claim ("claimed"): how much the foot lock leaves where the model says a foot stands.

An item's action comes from the corpus manifest (`manifest.json`, window name -> source/action); compound clips are
their own group, held-out paraphrase items take the action of the window they paraphrase. Actions with fewer than
MIN_REAL real clips in the split are pooled into "other".
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from moscale.motion import feet
from moscale.motion.features import features_to_joints

MIN_REAL = 3
OTHER = "other"
PARAPHRASE_PREFIX = "paraphrase_"


def action_groups(root: str | Path, names: Sequence[str]) -> list[str]:
    """source/action per item name (see the module docstring); "other" where the manifest does not say."""
    path = Path(root) / "manifest.json"
    by_window: dict[str, str] = {}
    if path.is_file():
        for entry in json.loads(path.read_text()):
            if isinstance(entry, dict) and entry.get("action"):
                for window in entry.get("windows", []):
                    by_window[window] = f"{entry.get('source', '?')}/{entry['action']}"
    groups = []
    for name in names:
        if name.startswith("compound_"):
            groups.append("compound")
            continue
        base = name[len(PARAPHRASE_PREFIX):] if name.startswith(PARAPHRASE_PREFIX) else name
        groups.append(by_window.get(base, OTHER))
    return groups


CLAIMED = "claimed_skating_cm_s"
MEASURES = (*feet.STAT_NAMES, CLAIMED)


def clip_stats(features_TD: np.ndarray) -> dict[str, float]:
    """foot_stats of one clip of raw features (contacts from its joints, see the module docstring), and the skating
    over the frames its contact channels claim."""
    joints = features_to_joints(np.asarray(features_TD, dtype=np.float64))
    stats = feet.foot_stats(joints, feet.contacts_from_joints(joints)).as_dict()
    stats[CLAIMED] = feet.foot_stats(joints, feet.contacts_from_features(features_TD, joints)).skating_cm_s
    return stats


def pooled(groups: Sequence[str]) -> list[str]:
    counts: dict[str, int] = {}
    for group in groups:
        counts[group] = counts.get(group, 0) + 1
    return [group if counts[group] >= MIN_REAL else OTHER for group in groups]


def contact_report(real: Sequence[dict], generated: Sequence[dict], groups: Sequence[str]) -> dict:
    """Per measure: generated and real median / p95 over all items, and the fraction of generated clips above the
    real p95 of their action (items whose value is undefined, e.g. no contact frame, are left out)."""
    groups = pooled(groups)
    report = {}
    for name in [m for m in MEASURES if all(m in r for r in (*real, *generated))]:
        real_values = np.array([r[name] for r in real], dtype=np.float64)
        gen_values = np.array([g[name] for g in generated], dtype=np.float64)
        limits = {}
        for group in set(groups):
            values = real_values[[g == group for g in groups]]
            values = values[np.isfinite(values)]
            if len(values):
                limits[group] = float(np.percentile(values, 95))
        above = [value > limits[group] for value, group in zip(gen_values, groups)
                 if np.isfinite(value) and group in limits]
        report[name] = {
            "median": _percentile(gen_values, 50), "p95": _percentile(gen_values, 95),
            "real_median": _percentile(real_values, 50), "real_p95": _percentile(real_values, 95),
            "above_real_p95": float(np.mean(above)) if above else None, "clips": len(above)}
    return report


def per_group(real: Sequence[dict], generated: Sequence[dict], groups: Sequence[str], name: str = "skating_cm_s"
              ) -> dict[str, dict]:
    """One measure per action: real and generated medians, the real p95, the fraction above it."""
    groups = pooled(groups)
    table = {}
    for group in sorted(set(groups)):
        rows = [i for i, g in enumerate(groups) if g == group]
        r = np.array([real[i][name] for i in rows], dtype=np.float64)
        g = np.array([generated[i][name] for i in rows], dtype=np.float64)
        limit = _percentile(r, 95)
        finite = g[np.isfinite(g)]
        table[group] = {"clips": len(rows), "real_median": _percentile(r, 50), "real_p95": limit,
                        "median": _percentile(g, 50),
                        "above_real_p95": float(np.mean(finite > limit)) if limit is not None and len(finite) else None}
    return table


def _percentile(values: np.ndarray, q: float) -> float | None:
    values = values[np.isfinite(values)]
    return float(np.percentile(values, q)) if len(values) else None


TITLES = {"skating_cm_s": "Foot skating (cm/s)", "penetration_cm": "Floor penetration (cm)",
          "floating_cm": "Floating (cm)", "jerk": "Jerk (m/s³)",
          CLAIMED: "Foot skating where the model claims contact (cm/s)"}


def contact_table(rows: Sequence[dict], digits: int = 2) -> str:
    """Markdown: one line per measure and row that has a contact report."""
    lines = ["| Method | Measure | median | p95 | real median | real p95 | above real p95 of its action |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        report = row.get("contact")
        if not report:
            continue
        for name in MEASURES:
            if name not in report:  # a report written before the measure existed
                continue
            entry = report[name]
            cells = [_fmt(entry[key], digits) for key in ("median", "p95", "real_median", "real_p95")]
            share = "-" if entry["above_real_p95"] is None else f"{100 * entry['above_real_p95']:.0f} %"
            lines.append(f"| {row['name']} | {TITLES[name]} | " + " | ".join(cells) + f" | {share} |")
    return "\n".join(lines)


def _fmt(value, digits):
    return "-" if value is None else f"{value:.{digits}f}"
