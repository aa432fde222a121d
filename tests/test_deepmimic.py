"""DeepMimic humanoid3d motion files -> SMPL-22 joints: rest pose, root and joint rotations, bad files, actions.

Every clip here is written by the test itself; nothing reads /work/data."""
from __future__ import annotations

import json

import numpy as np
import pytest

from moscale.evaluation.behaviour import forward_axis
from moscale.motion import rotations as rot
from moscale.motion.deepmimic import (DEEPMIMIC_ACTIONS, DeepMimicError, clip_to_smpl_joints, deepmimic_action,
                                      parse_deepmimic, read_deepmimic)
from moscale.motion.skeleton import JOINT_INDEX, JOINT_NAMES

# the file's joint groups after the root, in file order (wrists are fixed joints and take no columns)
FILE_JOINTS = ("chest", "neck", "right_hip", "right_knee", "right_ankle", "right_shoulder", "right_elbow",
               "left_hip", "left_knee", "left_ankle", "left_shoulder", "left_elbow")
REVOLUTE = {"right_knee", "left_knee", "right_elbow", "left_elbow"}
IDENTITY = [1.0, 0.0, 0.0, 0.0]
ROOT_Y = 0.9


def row(duration: float = 1 / 30, root_pos=(0.0, ROOT_Y, 0.0), root_rot=IDENTITY, **joints) -> list[float]:
    """One 44-value frame; joints default to identity quaternions / zero angles."""
    values = [duration, *root_pos, *root_rot]
    for name in FILE_JOINTS:
        default = 0.0 if name in REVOLUTE else IDENTITY
        value = joints.get(name, default)
        values.extend([value] if name in REVOLUTE else value)
    assert len(values) == 44
    return values


def motion_text(*rows: list[float], **extra) -> str:
    return json.dumps({"Loop": "wrap", **extra, "Frames": list(rows)})


def joints_of(*rows: list[float]) -> np.ndarray:
    return clip_to_smpl_joints(parse_deepmimic(motion_text(*rows)))


def file_to_smpl(x: float, y: float, z: float) -> np.ndarray:
    """The humanoid faces +X with its right at +Z; SMPL faces +Z with its right at -X."""
    return np.array([-z, y, x])


# rest pose in the humanoid's frame, from humanoid3d.txt's attach points (metres) and the documented extra points
CHEST = np.array([0.0, ROOT_Y + 0.236151, 0.0])
NECK = CHEST + [0.0, 0.223894, 0.0]
SHOULDER_R = CHEST + [-0.02405, 0.24350, 0.18311]
ANKLE_R = np.array([0.0, ROOT_Y - 0.421546 - 0.409870, 0.084887])
REST_FILE = {
    "pelvis": [0.0, ROOT_Y, 0.0],
    "right_hip": [0.0, ROOT_Y, 0.084887],
    "right_knee": [0.0, ROOT_Y - 0.421546, 0.084887],
    "right_ankle": ANKLE_R,
    "right_foot": ANKLE_R + [0.12, -0.04, 0.0],
    "spine1": [0.0, ROOT_Y + 0.5 * 0.236151, 0.0],
    "spine2": CHEST,
    "spine3": CHEST + [0.0, 0.25 * 0.223894, 0.0],
    "neck": NECK,
    "head": NECK + [0.0, 0.11, 0.0],
    "right_collar": CHEST + [-0.012, 0.19, 0.08],
    "right_shoulder": SHOULDER_R,
    "right_elbow": SHOULDER_R + [0.0, -0.274788, 0.0],
    "right_wrist": SHOULDER_R + [0.0, -0.274788 - 0.258947, 0.0],
}


def expected_rest() -> np.ndarray:
    """(22, 3): the right side from REST_FILE, the left side its mirror (z -> -z in the humanoid's frame)."""
    out = np.full((22, 3), np.nan)
    for name, point in REST_FILE.items():
        out[JOINT_INDEX[name]] = file_to_smpl(*point)
        if name.startswith("right_"):
            x, y, z = point
            out[JOINT_INDEX["left_" + name[len("right_"):]]] = file_to_smpl(x, y, -z)
    return out


def test_rest_pose_shape_order_and_positions():
    joints = joints_of(row(), row(), row(duration=0.0))
    assert joints.shape == (3, len(JOINT_NAMES), 3) and joints.dtype == np.float64
    expected = expected_rest()
    assert not np.isnan(expected).any()
    np.testing.assert_allclose(joints, np.broadcast_to(expected, joints.shape), atol=1e-12)
    # SMPL conventions: left hip at +X, facing +Z (the project's forward axis), head above pelvis
    assert joints[0, JOINT_INDEX["left_hip"], 0] > 0 > joints[0, JOINT_INDEX["right_hip"], 0]
    np.testing.assert_allclose(forward_axis(joints[0]), [0.0, 0.0, 1.0], atol=1e-12)


def test_root_position_is_turned_with_the_clip():
    joints = joints_of(row(root_pos=(1.0, ROOT_Y, 2.0)))
    np.testing.assert_allclose(joints[0, 0], [-2.0, ROOT_Y, 1.0], atol=1e-12)  # walking along +X -> along +Z
    np.testing.assert_allclose(joints[0] - joints[0, 0], expected_rest() - expected_rest()[0], atol=1e-12)


def test_quarter_turn_of_the_root_turns_every_joint():
    quarter = rot.y_rotation(np.pi / 2)
    rest, turned = joints_of(row())[0], joints_of(row(root_rot=list(quarter)))[0]
    # a turn about +Y commutes with the file -> SMPL turn (also about +Y): the same quaternion acts on the output
    np.testing.assert_allclose(turned - turned[0], rot.rotate(quarter, rest - rest[0]), atol=1e-12)
    np.testing.assert_allclose(forward_axis(turned), [1.0, 0.0, 0.0], atol=1e-12)
    off_axis = np.linalg.norm((rest - rest[0])[:, [0, 2]], axis=-1) > 0.01  # the spine lies on the turn's axis
    assert off_axis.sum() == 16 and np.linalg.norm(turned - rest, axis=-1)[off_axis].min() > 0.01


def test_knee_angle_bends_the_shin_backwards_and_elbow_forwards():
    rest = joints_of(row())[0]
    bent = joints_of(row(right_knee=-np.pi / 2, right_elbow=np.pi / 2))[0]
    knee, ankle = JOINT_INDEX["right_knee"], JOINT_INDEX["right_ankle"]
    np.testing.assert_allclose(bent[ankle] - bent[knee], [0.0, 0.0, -0.409870], atol=1e-12)  # shin points back
    elbow, wrist = JOINT_INDEX["right_elbow"], JOINT_INDEX["right_wrist"]
    np.testing.assert_allclose(bent[wrist] - bent[elbow], [0.0, 0.0, 0.258947], atol=1e-12)  # forearm forwards
    foot = JOINT_INDEX["right_foot"]
    assert np.isclose(np.linalg.norm(bent[foot] - bent[ankle]), np.linalg.norm(rest[foot] - rest[ankle]))
    untouched = [JOINT_INDEX[name] for name in JOINT_NAMES if name.startswith("left_") or name in ("head", "neck")]
    np.testing.assert_allclose(bent[untouched], rest[untouched], atol=1e-12)


def test_spherical_joint_quaternion_is_applied_and_normalised():
    # 90 degrees about +Z at the right hip (humanoid frame) swings the leg forwards; quaternion given unnormalised
    hip_quat = [2.0 * value for value in rot.from_axis_angle([0.0, 0.0, np.pi / 2])]
    joints = joints_of(row(right_hip=hip_quat))[0]
    hip, ankle = JOINT_INDEX["right_hip"], JOINT_INDEX["right_ankle"]
    np.testing.assert_allclose(joints[ankle] - joints[hip], [0.0, 0.0, 0.421546 + 0.409870], atol=1e-12)


def test_read_deepmimic_reads_a_file_and_its_fps(tmp_path):
    path = tmp_path / "humanoid3d_tiny.txt"
    path.write_text(motion_text(row(1 / 60), row(1 / 60), row(0.0), RightJoints=[3, 4], LeftJoints=[9, 10]))
    joints, fps = read_deepmimic(path)
    assert joints.shape == (3, 22, 3)
    assert fps == pytest.approx(60.0)


BAD_FILES = [
    ("{ not json", "not JSON"),
    ('{"Loop": "wrap"}', "no 'Frames'"),
    ("[1, 2, 3]", "no 'Frames'"),
    ('{"Frames": []}', "'Frames' is empty"),
    (json.dumps({"Frames": [row(), row()[:43]]}), "frame 1 has 43 values, expected 44"),
    (json.dumps({"Frames": [row()[:-1] + ["x"]]}), "frame 0 holds a value that is not a number"),
    (json.dumps({"Frames": [row(), row(root_pos=(float("nan"), 0.9, 0.0))]}), "frame 1 has a non-finite value"),
    (json.dumps({"Frames": [row(duration=-0.1)]}), "durations"),
    (json.dumps({"Frames": [row(chest=[0.0, 0.0, 0.0, 0.0])]}), "zero quaternion for joint 'chest'"),
]


@pytest.mark.parametrize("text, reason", BAD_FILES)
def test_bad_files_raise_value_error_naming_the_problem(text, reason):
    with pytest.raises(ValueError, match=reason) as caught:
        parse_deepmimic(text, source="clip.txt")
    assert isinstance(caught.value, DeepMimicError)
    message = str(caught.value)
    assert message.startswith("clip.txt: ") and "\n" not in message


def test_bad_file_on_disk_names_the_path(tmp_path):
    path = tmp_path / "broken.txt"
    path.write_text('{"Frames": [[0.1, 0.0]]}')
    with pytest.raises(ValueError, match=r"broken\.txt: frame 0 has 2 values"):
        read_deepmimic(path)


def test_actions_cover_the_collections():
    assert deepmimic_action("humanoid3d_cartwheel") == ("cartwheel", ("does a cartwheel", "turns a cartwheel"))
    assert deepmimic_action("humanoid3d_walk.txt")[0] == "walk"
    assert deepmimic_action("/somewhere/long/humanoid3d_long_walk2_mirror.txt")[0] == "walk"
    assert "left" in " ".join(deepmimic_action("sie_humanoid3d_run_left07")[1])
    assert deepmimic_action("sie_humanoid3d_run_right99") == deepmimic_action("sie_humanoid3d_run_right00")
    assert deepmimic_action("humanoid3d_unknown") is None
    stems = {"backflip", "cartwheel", "crawl", "dance_a", "dance_b", "dance_spin", "getup_facedown", "getup_faceup",
             "jog", "jump", "kick", "punch", "roll", "run", "sideflip", "spin", "spinkick", "stealthy_walk", "walk",
             "zombie_walk"}
    assert {f"humanoid3d_{stem}" for stem in stems} <= set(DEEPMIMIC_ACTIONS)
    assert len(DEEPMIMIC_ACTIONS) == 20 + 9 + 50
    for label, phrases in DEEPMIMIC_ACTIONS.values():
        assert label and 2 <= len(phrases) <= 3 and all(phrase.strip() for phrase in phrases)
