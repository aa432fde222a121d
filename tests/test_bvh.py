"""BVH reader/writer, Euler conversions, forward kinematics and SMPL-22 export."""
from __future__ import annotations

import numpy as np
import pytest

from moscale.motion import bvh, bvh_convert, kinematics, rotations, skeleton
from moscale.motion.bvh import BvhParseError

# Mixed Euler orders, position channels on a non-root joint (Head), tabs, scientific notation, blank line, braces
# on their own lines and on the name line.
SMALL_BVH = """HIERARCHY
ROOT Hips
{
\tOFFSET 0.0 0.0 0.0
\tCHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
\tJOINT Spine
\t{
\t\tOFFSET 0 10 0
\t\tCHANNELS 3 Xrotation Yrotation Zrotation
\t\tJOINT Head {
\t\t\tOFFSET 0 5.0e+00 0
\t\t\tCHANNELS 6 Xposition Yposition Zposition Yrotation Zrotation Xrotation
\t\t\tEnd Site
\t\t\t{
\t\t\t\tOFFSET 0 3 0
\t\t\t}
\t\t}
\t}
\tJOINT Leg
\t{
\t\tOFFSET 2 -1 0
\t\tCHANNELS 3 Yrotation Xrotation Zrotation
\t\tEnd Site
\t\t{
\t\t\tOFFSET 0 -8 0
\t\t}
\t}
}
MOTION
Frames: 3
Frame Time: 0.0333333
0 0 0 0 0 0\t0 0 0\t0 5 0 0 0 0\t0 0 0
1 2 3 90 0 0 0 0 0 0 5 0 0 0 0 0 0 0

0 0 0 0 0 0 9.0E1 0 0 1 6 0 0 0 0 3.0e1 -2.5e-1 1.5e+01
"""


def _line_of(text: str, needle: str) -> int:
    """1-based number of the first line containing ``needle``."""
    return next(number for number, line in enumerate(text.split("\n"), 1) if needle in line)


def _axis(axis: str, degrees: float) -> np.ndarray:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return {"X": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
            "Y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
            "Z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])}[axis]


ORDERS = ["XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"]


# ----------------------------------------------------------------------------------------------- parsing
def test_parse_small_file_structure():
    clip = bvh.parse_bvh(SMALL_BVH)
    sk = clip.skeleton
    assert sk.names == ["Hips", "Spine", "Head", "Leg"]
    assert sk.parents == [-1, 0, 1, 0]
    np.testing.assert_array_equal(sk.offsets, [[0, 0, 0], [0, 10, 0], [0, 5, 0], [2, -1, 0]])
    assert sk.channels[2] == ["Xposition", "Yposition", "Zposition", "Yrotation", "Zrotation", "Xrotation"]
    assert sk.end_sites[0] is None and sk.end_sites[1] is None
    np.testing.assert_array_equal(sk.end_sites[2], [0, 3, 0])
    np.testing.assert_array_equal(sk.end_sites[3], [0, -8, 0])
    assert sk.num_channels == 18 and clip.channels.shape == (3, 18) and clip.channels.dtype == np.float64
    assert clip.num_frames == 3 and clip.fps == pytest.approx(30.0, rel=1e-5)
    assert clip.joint_index("Leg") == 3
    assert clip.channels[2, 15:].tolist() == [30.0, -0.25, 15.0]
    with pytest.raises(KeyError):
        clip.joint_index("Tail")


def test_forward_kinematics_hand_computed():
    clip = bvh.parse_bvh(SMALL_BVH)
    positions, global_rotations = bvh.forward_kinematics(clip)
    # frame 0: rest pose; frame 1: root at (1, 2, 3) turned 90 degrees about Z
    np.testing.assert_allclose(positions[0], [[0, 0, 0], [0, 10, 0], [0, 15, 0], [2, -1, 0]], atol=1e-12)
    np.testing.assert_allclose(positions[1], [[1, 2, 3], [-9, 2, 3], [-14, 2, 3], [2, 4, 3]], atol=1e-12)
    # frame 2: Spine Xrotation 90; Head's position channels (1, 6, 0) replace its offset
    np.testing.assert_allclose(positions[2, 2], [1, 10, 6], atol=1e-12)
    np.testing.assert_allclose(global_rotations[1, 3], _axis("Z", 90), atol=1e-12)
    # mixed order on Leg: listed "Yrotation Xrotation Zrotation" -> R = Ry @ Rx @ Rz
    expected = _axis("Y", 30) @ _axis("X", -0.25) @ _axis("Z", 15)
    np.testing.assert_allclose(clip.local_rotations()[2, 3], expected, atol=1e-12)
    translations = clip.local_translations()
    np.testing.assert_array_equal(translations[2, 2], [1, 6, 0])
    np.testing.assert_array_equal(translations[2, 1], [0, 10, 0])
    np.testing.assert_allclose(bvh.bvh_to_positions(clip, 0.01, ["Leg", "Hips"])[1], [[0.02, 0.04, 0.03],
                                                                                    [0.01, 0.02, 0.03]])


def test_crlf_and_cr_line_endings_parse_identically():
    reference = bvh.parse_bvh(SMALL_BVH)
    for newline in ("\r\n", "\r"):
        clip = bvh.parse_bvh("\ufeff" + SMALL_BVH.replace("\n", newline))
        assert clip.skeleton.names == reference.skeleton.names
        assert clip.skeleton.channels == reference.skeleton.channels
        np.testing.assert_array_equal(clip.skeleton.offsets, reference.skeleton.offsets)
        np.testing.assert_array_equal(clip.channels, reference.channels)
        assert clip.frame_time == reference.frame_time


def test_read_file_and_zero_frames(tmp_path):
    path = tmp_path / "small.bvh"
    path.write_bytes(SMALL_BVH.replace("\n", "\r\n").encode())
    np.testing.assert_array_equal(bvh.read_bvh(path).channels, bvh.parse_bvh(SMALL_BVH).channels)
    head, _ = SMALL_BVH.split("Frames: 3")
    empty = bvh.parse_bvh(head + "Frames: 0\nFrame Time: 0.05\n")
    assert empty.channels.shape == (0, 18)
    assert bvh.forward_kinematics(empty)[0].shape == (0, 4, 3)


def test_non_strict_accepts_frame_count_mismatch():
    text = SMALL_BVH.replace("Frames: 3", "Frames: 5")
    assert bvh.parse_bvh(text, strict=False).num_frames == 3


# ----------------------------------------------------------------------------------------------- malformed files
def _malformed_cases():
    text = SMALL_BVH
    lines = text.split("\n")
    brace_after_spine = _line_of(text, "JOINT Spine") + 1  # the "{" line
    without_brace = "\n".join(lines[: brace_after_spine - 1] + lines[brace_after_spine:])
    closing = text.rindex("}\nMOTION")
    without_closing = text[:closing] + text[closing + 2:]
    short_row = text.replace("1 2 3 90 0 0 0 0 0 0 5 0 0 0 0 0 0 0", "1 2 3 90 0 0 0 0 0 0 5 0 0 0 0 0 0")
    return [
        # (text, needle for the expected line or a line number, words the message must contain)
        (without_brace, brace_after_spine, ["expected '{'", "JOINT name 'Spine'", "'OFFSET'"]),
        (without_closing, _line_of(without_closing, "MOTION"), ["'}' closing ROOT 'Hips'", "MOTION"]),
        (text.replace("OFFSET 2 -1 0", "OFFSET 2 -l 0"), "OFFSET 2 -l 0", ["number", "'-l'"]),
        (text.replace("0 5 0 0 0 0 3.0e1", "0 5 0 0 0 0 3.0.1"), None, None),  # replaced below
        (short_row, "1 2 3 90", ["expected 18 values", "frame 2", "got 17"]),
        (text.replace("Frames: 3", "Frames: 4"), "Frames: 4", ["declares 4 frames", "3 frame rows"]),
        (text.replace("Frames: 3", "Frames: 2"), "Frames: 2", ["declares 2 frames", "3 frame rows"]),
        (text.replace("Yrotation Xrotation Zrotation", "Yrotation Wrotation Zrotation"), "Wrotation",
         ["channel name 2 of 3", "'Leg'", "'Wrotation'"]),
        (text.replace("CHANNELS 3 Xrotation Yrotation Zrotation", "CHANNELS 4 Xrotation Yrotation Zrotation"),
         "JOINT Head", ["channel name 4 of 4", "'JOINT'"]),
        (text.replace("1 2 3 90 0", "1 2 3 nan 0"), "1 2 3 nan", ["number", "'nan'"]),
        (text.replace("1 2 3 90 0", "1 2 3 9O 0"), "1 2 3 9O", ["number", "'9O'"]),
        (text.replace("Frame Time: 0.0333333", "Frame Time: fast"), "Frame Time", ["Frame Time", "'fast'"]),
        (text.replace("Frames: 3", "Frame: 3"), "Frame: 3", ["'Frames: <count>'"]),
        (text.split("MOTION")[0], len(text.split("MOTION")[0].split("\n")), ["expected MOTION"]),
        (text.replace("HIERARCHY", "HIERARCHIE"), 1, ["expected 'HIERARCHY'"]),
        (text.replace("End Site\n\t\t\t{\n\t\t\t\tOFFSET 0 3 0", "End Site\n\t\t\t{\n\t\t\t\tOFFSET 0 3"),
         _line_of(text, "OFFSET 0 3 0") + 1, ["number for End Site OFFSET", "'}'"]),
    ]


@pytest.mark.parametrize("case", range(len(_malformed_cases())))
def test_malformed_files_name_the_line(case):
    text, where, words = _malformed_cases()[case]
    if where is None:  # a bad number in a frame row
        text = SMALL_BVH.replace("3.0e1", "3.0.1")
        where, words = "3.0.1", ["number in frame 3", "'3.0.1'"]
    line = where if isinstance(where, int) else _line_of(text, where)
    with pytest.raises(BvhParseError) as info:
        bvh.parse_bvh(text, source="broken.bvh")
    message = str(info.value)
    assert message.startswith(f"broken.bvh: line {line}:"), message
    for word in words:
        assert word in message, message


# ----------------------------------------------------------------------------------------------- writing
def _random_clip(rng: np.random.Generator, frames: int = 7) -> bvh.BvhClip:
    skeleton_ = bvh.parse_bvh(SMALL_BVH).skeleton
    values = rng.uniform(-180, 180, size=(frames, skeleton_.num_channels))
    for joint, names in enumerate(skeleton_.channels):
        for column, name in enumerate(names):
            if name in bvh.POSITION_CHANNELS:
                values[:, skeleton_.channel_starts[joint] + column] = rng.normal(scale=20, size=frames)
    return bvh.BvhClip(skeleton_, 1 / 30, values)


def test_write_read_round_trip(tmp_path):
    clip = _random_clip(np.random.default_rng(0))
    path = tmp_path / "out.bvh"
    bvh.write_bvh(path, clip)
    again = bvh.read_bvh(path)
    assert again.skeleton.names == clip.skeleton.names and again.skeleton.channels == clip.skeleton.channels
    np.testing.assert_allclose(again.channels, clip.channels, atol=5e-7)
    assert again.frame_time == clip.frame_time
    np.testing.assert_allclose(again.skeleton.end_sites[3], clip.skeleton.end_sites[3])
    np.testing.assert_allclose(bvh.forward_kinematics(again)[0], bvh.forward_kinematics(clip)[0], atol=1e-5)
    exact = bvh.parse_bvh(bvh.format_bvh(clip, decimals=None))
    np.testing.assert_array_equal(exact.channels, clip.channels)
    assert "-0.000000" not in bvh.format_bvh(bvh.BvhClip(clip.skeleton, 0.05, -1e-9 * np.ones((1, 18))))


def test_writer_emits_depth_first_and_permutes_columns():
    # joints stored breadth-first (like SMPL-22): the file lists them depth-first with matching columns
    sk = bvh.BvhSkeleton(names=["root", "a", "b", "a_child"], parents=[-1, 0, 0, 1],
                         offsets=[[0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0]],
                         channels=[["Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation"],
                                   ["Zrotation"], ["Xrotation"], ["Yrotation", "Xrotation"]],
                         end_sites=[None, None, [0, 0, 1], [0, 2, 0]])
    clip = bvh.BvhClip(sk, 0.05, np.arange(10.0)[None] * 7.0)
    again = bvh.parse_bvh(bvh.format_bvh(clip))
    assert again.skeleton.names == ["root", "a", "a_child", "b"]
    assert again.skeleton.parents == [-1, 0, 1, 0]
    names = sk.names
    np.testing.assert_allclose(bvh.bvh_to_positions(again, joint_names=names), bvh.bvh_to_positions(clip), atol=1e-9)


# ----------------------------------------------------------------------------------------------- Euler angles
@pytest.mark.parametrize("order", ORDERS)
def test_euler_matches_axis_products_and_round_trips(order):
    rng = np.random.default_rng(1)
    angles = rng.uniform(-180, 180, size=(200, 3))
    angles[:, 1] = rng.uniform(-89.9, 89.9, size=200)
    matrices = rotations.euler_to_matrix(angles, order)
    expected = _axis(order[0], angles[5, 0]) @ _axis(order[1], angles[5, 1]) @ _axis(order[2], angles[5, 2])
    np.testing.assert_allclose(matrices[5], expected, atol=1e-12)
    np.testing.assert_allclose(rotations.matrix_to_euler(matrices, order), angles, atol=1e-8)
    # any rotation (from random quaternions) survives matrix -> Euler -> matrix
    quats = rotations.normalize(rng.normal(size=(500, 4)))
    random_matrices = rotations.to_matrix(quats)
    back = rotations.euler_to_matrix(rotations.matrix_to_euler(random_matrices, order), order)
    np.testing.assert_allclose(back, random_matrices, atol=1e-10)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("middle", [90.0, -90.0, 90 - 1e-7, -90 + 1e-5, 90 - 1e-3])
def test_euler_stable_near_gimbal_lock(order, middle):
    rng = np.random.default_rng(2)
    angles = np.column_stack([rng.uniform(-180, 180, 50), np.full(50, middle), rng.uniform(-180, 180, 50)])
    matrices = rotations.euler_to_matrix(angles, order)
    recovered = rotations.matrix_to_euler(matrices, order)
    assert np.all(np.isfinite(recovered))
    np.testing.assert_allclose(rotations.euler_to_matrix(recovered, order), matrices, atol=1e-9)
    np.testing.assert_allclose(recovered[:, 1], middle, atol=1e-6)


def test_euler_conventions():
    np.testing.assert_allclose(rotations.euler_to_matrix([0, 0, 90], "XYZ") @ [1, 0, 0], [0, 1, 0], atol=1e-15)
    assert rotations.euler_to_matrix(np.zeros((4, 2, 3)), "zxy").shape == (4, 2, 3, 3)
    with pytest.raises(ValueError):
        rotations.euler_to_matrix([0, 0, 0], "XXY")


# ----------------------------------------------------------------------------------------------- SMPL-22 export
def _random_smpl_joints(frames: int = 12, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    quats = rotations.normalize(rng.normal(size=(frames, skeleton.NUM_JOINTS, 4)))
    root = rng.normal(size=(frames, 3)) + [0, 0.9, 0]
    return kinematics.forward_kinematics(quats, root, skeleton.rest_offsets_m())


@pytest.mark.parametrize("scale", [1.0, 100.0])
def test_smpl_export_reproduces_joints_through_a_file(scale):
    joints = _random_smpl_joints()
    clip = bvh_convert.smpl_joints_to_bvh(joints, fps=20, scale=scale)
    sk = clip.skeleton
    assert sk.names == list(skeleton.JOINT_NAMES) and sk.parents == list(skeleton.PARENTS)
    assert sk.channels[0] == ["Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation"]
    assert all(names == ["Zrotation", "Xrotation", "Yrotation"] for names in sk.channels[1:])
    assert [j for j, end in enumerate(sk.end_sites) if end is not None] == [10, 11, 15, 20, 21]
    assert clip.fps == pytest.approx(20.0) and clip.num_frames == len(joints)
    lengths = np.linalg.norm(sk.offsets, axis=1)[1:] / scale
    np.testing.assert_allclose(lengths, skeleton.BONE_LENGTHS_M[1:], atol=1e-9)
    np.testing.assert_allclose(bvh.bvh_to_positions(clip, 1 / scale), joints, atol=1e-9)
    again = bvh.parse_bvh(bvh.format_bvh(clip))
    positions = bvh.bvh_to_positions(again, 1 / scale, joint_names=list(skeleton.JOINT_NAMES))
    np.testing.assert_allclose(positions, joints, atol=1e-5)


def test_smpl_export_rejects_wrong_shape():
    with pytest.raises(ValueError):
        bvh_convert.smpl_joints_to_bvh(np.zeros((5, 21, 3)))
