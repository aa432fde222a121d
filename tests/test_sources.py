"""Source rigs -> SMPL-22 joints (moscale.motion.sources), on the tiny fixtures of tests/fixtures/bvh/src_*.bvh.

Every fixture is the same body (tests/fixtures/bvh/src_make_fixtures.py: T-pose rest, legs 0.82 m, walking +Z at
1 m/s, arms lowered) written in another rig's names, units and axes.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from moscale.motion import bvh
from moscale.motion.skeleton import JOINT_INDEX, JOINT_NAMES
from moscale.motion.cleaning import leading_tpose_frames, resample, root_jitter
from moscale.motion.sources import (
    BUILTIN_RIGS, RIGS_DIR, RigError, RigMap, builtin_rig, detect_rig, infer_metres_per_unit, load_source_clip, _along,
)

J = JOINT_INDEX


@pytest.fixture(scope="module")
def bvh_dir(fixtures_dir):
    return fixtures_dir / "bvh"


def _leg(joints: np.ndarray) -> float:
    return float(np.linalg.norm(joints[:, J["left_hip"]] - joints[:, J["left_knee"]], axis=-1).mean()
                 + np.linalg.norm(joints[:, J["left_knee"]] - joints[:, J["left_ankle"]], axis=-1).mean())


def _check_body(joints: np.ndarray) -> None:
    """Metres, Y up, floor at 0, left on +X for a body facing +Z, walking +Z at 1 m/s."""
    assert joints.dtype == np.float32 and joints.shape[1:] == (22, 3)
    assert _leg(joints) == pytest.approx(0.82, abs=0.01)
    assert joints[..., 1].min() == pytest.approx(0.0, abs=0.01)
    assert np.all(joints[:, J["head"], 1] > joints[:, J["pelvis"], 1] + 0.4)
    assert np.all(joints[:, J["left_hip"], 0] > joints[:, J["right_hip"], 0])
    assert np.all(joints[:, J["left_foot"], 2] > joints[:, J["left_ankle"], 2] + 0.08)  # toes point forward (+Z)
    assert np.all(joints[:, J["left_wrist"], 1] < joints[:, J["left_shoulder"], 1] - 0.3)  # arms lowered
    step = np.diff(joints[:, J["pelvis"]], axis=0)
    np.testing.assert_allclose(step, np.tile([0.0, 0.0, 0.05], (len(step), 1)), atol=1e-4)  # 1 m/s at 20 fps


def test_builtin_rig_maps_are_valid():
    for name in BUILTIN_RIGS:
        rig = builtin_rig(name)
        assert rig.name == name and set(rig.joints) == set(JOINT_NAMES)
    assert builtin_rig("cmu").name == "cmu_cgspeed"


def test_bandai_like_rig(bvh_dir):
    joints, info = load_source_clip(bvh_dir / "src_bandai.bvh")
    assert info.rig == "bandai" and info.metres_per_unit == 0.01 and info.source_fps == pytest.approx(30.0)
    assert joints.shape == (5, 22, 3) and info.frames == 5  # 7 frames at 30 fps = 0.2 s -> 5 frames at 20 fps
    assert info.tpose_frames == 0
    _check_body(joints)
    # The Hips OFFSET is stale by (0, 94, -427) cm: position channels replace it, so the pelvis stays with the legs.
    hips_mid = joints[:, [J["left_hip"], J["right_hip"]]].mean(axis=1)
    assert np.linalg.norm(joints[:, J["pelvis"]] - hips_mid, axis=-1).max() < 0.15


def test_cmu_cgspeed_like_rig(bvh_dir):
    joints, info = load_source_clip(bvh_dir / "src_cmu_cgspeed.bvh")
    assert info.rig == "cmu_cgspeed" and info.source_fps == pytest.approx(120.0)
    assert info.tpose_frames >= 1  # frame 0 is a T-pose (arms horizontal) and is trimmed
    assert len(joints) == int(np.floor((30 - info.tpose_frames - 1) / 120 * 20 + 1e-6)) + 1
    _check_body(joints)
    # no toe joint: the foot is the toe End Site, 13 cm ahead of and 6 cm below the ankle
    toe = joints[:, J["left_foot"]] - joints[:, J["left_ankle"]]
    np.testing.assert_allclose(toe, np.tile([0.0, -0.06, 0.13], (len(toe), 1)), atol=1e-4)


def test_mixamo_with_and_without_prefix_zup_and_yup(bvh_dir):
    plain, plain_info = load_source_clip(bvh_dir / "src_mixamo_plain.bvh")  # Y up, metres
    prefixed, info = load_source_clip(bvh_dir / "src_mixamo_prefixed_zup.bvh")  # 'mixamorig:' names, Z up, cm
    assert plain_info.rig == info.rig == "mixamo"
    assert (plain_info.up_axis, plain_info.metres_per_unit) == ("y", 1.0)
    assert (info.up_axis, info.metres_per_unit) == ("z", 0.01)  # both inferred
    _check_body(plain)
    np.testing.assert_allclose(prefixed, plain, atol=1e-4)


def test_unknown_rig_lists_missing_joints_and_the_way_out(bvh_dir):
    with pytest.raises(RigError) as error:
        load_source_clip(bvh_dir / "src_unknown_rig.bvh")
    message = str(error.value)
    for joint in ("left_foot", "right_foot", "left_wrist"):
        assert joint in message
    assert "right_wrist" not in message.split("cannot map")[1].split("Write")[0]
    assert "--rig-map" in message and "LeftToeBase" in message


def test_custom_rig_map_with_rules(bvh_dir, tmp_path):
    rig = json.loads((RIGS_DIR / "mixamo.json").read_text())
    rig["name"] = "my_rig"
    rig["joints"]["left_foot"] = {"offset": [0, -6, 13], "from": "LeftFoot"}  # cm, in the foot's frame
    rig["joints"]["right_foot"] = {"offset": [0, -6, 13], "from": "RightFoot"}
    rig["joints"]["left_wrist"] = {"offset": [25, 0, 0], "from": "LeftForeArm"}  # rest: the forearm points +X
    path = tmp_path / "my_map.json"
    path.write_text(json.dumps(rig))
    joints, info = load_source_clip(bvh_dir / "src_unknown_rig.bvh", rig_map=path)
    assert info.rig == "my_rig"
    _check_body(joints)
    reference, _ = load_source_clip(bvh_dir / "src_mixamo_plain.bvh")
    np.testing.assert_allclose(joints, reference, atol=1e-4)


def test_rig_map_validation():
    good = builtin_rig("lafan")
    data = dict(name="x", joints={k: v for k, v in good.joints.items() if k != "head"})
    with pytest.raises(RigError, match="missing \\['head'\\]"):
        RigMap.from_dict(data)
    data["joints"]["head"] = {"lerp": ["Neck"], "t": 0.5}
    with pytest.raises(RigError, match="two"):
        RigMap.from_dict(data)


def test_detection_prefers_exact_rig(bvh_dir):
    clip = bvh.read_bvh(bvh_dir / "src_bandai.bvh")
    assert detect_rig(clip.skeleton.names).name == "bandai"


def test_along_is_by_arc_length():
    points = np.array([[[0, 0, 0], [0, 1, 0], [0, 4, 0]]], dtype=float)  # segments of 1 and 3
    np.testing.assert_allclose(_along(points, 0.5), [[0, 2, 0]])
    np.testing.assert_allclose(_along(points, 0.0), [[0, 0, 0]])
    np.testing.assert_allclose(_along(points, 1.0), [[0, 4, 0]])


def test_resample_linear_positions_exactly():
    t = np.arange(31) / 30.0  # 1 s at 30 fps
    joints = np.zeros((31, 22, 3))
    joints[..., 2] = t[:, None] * 2.0
    out = resample(joints, 30.0, 20.0)
    assert out.shape == (21, 22, 3)
    np.testing.assert_allclose(out[:, 0, 2], np.arange(21) / 20.0 * 2.0, atol=1e-12)
    assert resample(joints, 20.0, 20.0).shape == joints.shape


def test_leading_tpose_detection(bvh_dir):
    joints, _ = load_source_clip(bvh_dir / "src_cmu_cgspeed.bvh", trim_tpose=False, fps=120.0)
    assert leading_tpose_frames(joints, 120.0) >= 1
    assert leading_tpose_frames(joints[1:], 120.0) == 0


def test_unit_inference():
    assert infer_metres_per_unit(82.0) == 0.01
    assert infer_metres_per_unit(0.82) == 1.0
    assert infer_metres_per_unit(820.0) == 0.001
    assert infer_metres_per_unit(33.0) == 0.0254


def test_root_jitter_flags_teleporting_roots():
    t = np.arange(100) / 20.0
    joints = np.zeros((100, 22, 3))
    joints[:, 0, 2] = 1.4 * t + 0.02 * np.sin(2 * np.pi * 2 * t)  # a walk with a gait bob
    assert root_jitter(joints) < 5.0
    joints[::2, 0, 2] += 0.15  # back and forth every frame
    assert root_jitter(joints) > 20.0
