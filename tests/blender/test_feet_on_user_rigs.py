"""Feet stay planted after retargeting (issue 25): a walk of the bundled model, keyed through the add-on on a Rigify
rig (Rigify's own Generate), a Mixamo-style rig and a LAFAN-style BVH rig, and judged on the depsgraph-evaluated pose:
where the motion's contact says a toe is planted, the rig's toe bone travels at most 1 cm, and no heel goes below
-1 cm. Before moscale.motion.rig_feet the toes slid 4-13 cm per step and Rigify's heels sank to -2 cm or lower."""
from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
import pytest

from blender_helpers import apply_motion
from feet_check import evaluate_feet, generated_motion, lafan_style_rig, mixamo_style_rig
from moscale_blender import rig

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def walk():
    """6 s of "a person walks forward" from the bundled model, foot-locked, 20 fps."""
    from moscale.pipeline import MoScalePipeline

    return generated_motion(MoScalePipeline.from_pretrained(str(REPO / "assets" / "model"), device="cpu"), "walk")


@pytest.fixture(params=["rigify", "mixamo", "lafan"])
def user_rig(request, tmp_path, clip_joints):
    """(the rig, active and selected, in a 20 fps scene; metres per Blender unit of its world)."""
    if request.param == "rigify":
        return request.getfixturevalue("rigify_rig"), 1.0
    request.getfixturevalue("scene")
    if request.param == "mixamo":
        return mixamo_style_rig(), 1.0
    return lafan_style_rig(tmp_path, clip_joints), 0.01  # Blender's BVH importer: one unit per centimetre


def test_toes_stay_planted_and_heels_above_the_floor(user_rig, walk):
    obj, metres_per_unit = user_rig
    match = rig.match_bones(obj)
    (take,) = apply_motion(obj, walk, prompt="a person walks forward")
    report = evaluate_feet(obj, match, take.frame_start, take.frame_count, walk.joints, walk.fps,
                           metres_per_unit)
    print(f"{obj.name} ({match.map_name}): {len(report.drift_cm)} plants, toe drift mean "
          f"{report.drift_cm.mean():.2f} cm, worst {report.drift_cm.max():.2f} cm; lowest heel "
          f"{report.heels_cm.min():.2f} cm, lowest foot bone {report.feet_cm.min():.2f} cm")
    assert len(report.drift_cm) >= 6  # a walk: steps with both feet
    assert report.drift_cm.max() <= 1.0
    assert report.heels_cm.min() >= -1.0
    # and it stands on the floor: its heels, or the tips of its toes where the walk's planted feet pitch toe-down
    assert np.all(np.isfinite(report.soles_cm)) and report.soles_cm.min() <= 1.0
    assert bpy.context.scene.moscale.takes[-1].action == obj.animation_data.action
