"""Edits written into their source's file: a BVH keeps its hierarchy and every frame line outside the edited range
byte for byte, an .npz its SMPL poses outside the range; only the range is new, and it holds the edit's motion.
Before, the writers re-fitted the skeleton (other OFFSETs) and re-solved every frame (1.7 degrees, 5 mm, 0.0012 rad
off outside the range)."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from moscale.motion import bvh, bvh_convert
from moscale import cli
from moscale.motion import Motion

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO / "tests" / "fixtures" / "humanml3d" / "new_joints" / "012314.npy"
START, END = 40, 70


@pytest.fixture(scope="module")
def pipe():
    from moscale.pipeline import MoScalePipeline

    return MoScalePipeline.from_pretrained(REPO / "assets" / "model", device="cpu")


def frame_lines(text: str) -> tuple[list[str], list[str]]:
    lines = text.splitlines(keepends=True)
    header = next(i for i, line in enumerate(lines) if line.startswith("Frame Time"))
    return lines[:header + 1], lines[header + 1:]


def in_range(count: int, fps: float) -> np.ndarray:
    times = np.arange(count) / fps
    return (times >= START / 20 - 1e-9) & (times < END / 20 - 1e-9)


@pytest.mark.parametrize("fps", [20, 30])
def test_bvh_edit_keeps_the_source_outside_the_range(pipe, tmp_path, fps):
    joints = Motion(np.load(CLIP)).resample(fps).joints
    source_path = tmp_path / "src.bvh"
    bvh.write_bvh(source_path, bvh_convert.smpl_joints_to_bvh(joints, fps), decimals=4)  # not our 6 decimals: kept as is
    source = Motion.load(source_path).resample(20)  # what `moscale edit` works on
    edited = pipe.edit(source, START, END, "a person jumps", seed=3)
    out = tmp_path / "ed.bvh"
    edited.save(out, source=source_path)

    head_src, rows_src = frame_lines(source_path.read_text())
    head_out, rows_out = frame_lines(out.read_text())
    assert head_out == head_src  # hierarchy, OFFSETs, Frames, Frame Time: verbatim
    assert len(rows_out) == len(rows_src)
    inside = in_range(len(rows_src), fps)
    assert [a for a, i in zip(rows_out, inside) if not i] == [b for b, i in zip(rows_src, inside) if not i]
    assert all(a != b for a, b, i in zip(rows_out, rows_src, inside) if i)
    first = int(np.flatnonzero(inside)[0])
    assert len(rows_out[first].split()) == len(rows_src[first].split())  # one value per channel, as before

    # Inside the range the file holds the edit, as well as a rig fitted afresh to the edit holds it: a rigid
    # skeleton cannot follow the generated joints' changing bone lengths, only their directions.
    frames = np.flatnonzero(inside)
    expected = Motion(edited.joints, 20).resample(fps).joints if fps != 20 else edited.joints
    frames = frames[frames < len(expected)]
    written = Motion.load(out).joints[frames]
    Motion(expected).save(tmp_path / "fresh.bvh")
    fresh = Motion.load(tmp_path / "fresh.bvh").joints[frames]
    error, fresh_error = (np.linalg.norm(j - expected[frames], axis=-1) for j in (written, fresh))
    assert error.max() < 1.25 * fresh_error.max() + 0.005 and np.median(error) < 1.25 * np.median(fresh_error) + 0.005
    limbs = [4, 5, 7, 8, 10, 11, 16, 17, 18, 19, 20, 21]  # one child each: the bone points exactly along the edit
    assert bone_angles(written, expected[frames])[:, [j - 1 for j in limbs]].max() < 0.1  # degrees
    assert np.linalg.norm(written - joints[frames], axis=-1).max() > 0.1  # and it is not the source


def bone_angles(a_TJ3: np.ndarray, b_TJ3: np.ndarray) -> np.ndarray:
    """(T, 21) angles in degrees between the bones (joint minus parent) of two SMPL-22 motions."""
    from moscale.motion.skeleton import PARENTS

    def directions(x):
        bones = x[:, 1:] - x[:, list(PARENTS[1:])]
        return bones / np.linalg.norm(bones, axis=-1, keepdims=True)

    return np.degrees(np.arccos(np.clip((directions(a_TJ3) * directions(b_TJ3)).sum(-1), -1, 1)))


def test_npz_edit_keeps_the_source_poses_outside_the_range(pipe, tmp_path):
    from moscale.motion import amass

    source_path = tmp_path / "src.npz"
    Motion(np.load(CLIP)).save(source_path)
    source = Motion.load(source_path)
    edited = pipe.edit(source, START, END, "a person waves", seed=2)
    out = tmp_path / "ed.npz"
    edited.save(out, source=source_path)
    with np.load(source_path) as before, np.load(out) as after:
        outside = np.ones(len(before["poses"]), dtype=bool)
        outside[START:END] = False
        assert np.array_equal(after["poses"][outside], before["poses"][outside])
        assert np.array_equal(after["trans"][outside], before["trans"][outside])
        assert not np.allclose(after["poses"][START:END], before["poses"][START:END])
        assert np.array_equal(after["joints"], edited.joints)

        posed = amass.joints_from_pose_parameters(params_of(after), amass.canonical_rest(source.joints))
    # the poses inside the range put the source's skeleton where the edit is, as well as poses solved afresh for
    # the edit's own skeleton do (a rigid skeleton follows the generated joints' directions, not their lengths)
    Motion(edited.joints).save(tmp_path / "fresh.npz")
    with np.load(tmp_path / "fresh.npz") as fresh:
        refit = amass.joints_from_pose_parameters(params_of(fresh), amass.canonical_rest(edited.joints))
    error, fresh_error = (np.linalg.norm(j[START:END] - edited.joints[START:END], axis=-1) for j in (posed, refit))
    assert error.max() < 1.25 * fresh_error.max() + 0.005 and np.median(error) < 1.25 * np.median(fresh_error) + 0.005


@pytest.mark.parametrize("source_suffix", [".npz", ".npy"])
def test_an_edit_of_an_npz_written_as_bvh_matches_the_source_converted_outside_the_range(pipe, tmp_path,
                                                                                          source_suffix):
    """The edit's .bvh has a new SMPL-22 rig, its bones measured on the source: outside the range it reads back as the
    source converted to .bvh alone (bones measured on the edit moved those frames by up to 8.9 mm)."""
    source_path = tmp_path / f"src{source_suffix}"
    Motion(np.load(CLIP)).save(source_path)
    source = Motion.load(source_path)
    edited = pipe.edit(source, START, END, "a person jumps", seed=4)
    source.save(tmp_path / "src.bvh")
    edited.save(tmp_path / "ed.bvh")
    before, after = Motion.load(tmp_path / "src.bvh").joints, Motion.load(tmp_path / "ed.bvh").joints
    outside = np.ones(len(before), dtype=bool)
    outside[START:END] = False
    assert np.abs(after[outside] - before[outside]).max() < 1e-5  # the files' 6 decimals
    # inside, the rigid rig follows the edit (whose generated bones differ from the source's) as well as a rig
    # measured on the edit itself does
    Motion(edited.joints).save(tmp_path / "fresh.bvh")
    fresh = Motion.load(tmp_path / "fresh.bvh").joints
    error, fresh_error = (np.linalg.norm(j[START:END] - edited.joints[START:END], axis=-1) for j in (after, fresh))
    assert error.max() < 1.25 * fresh_error.max() + 0.005 and np.median(error) < 1.25 * np.median(fresh_error) + 0.005


def params_of(data):
    from moscale.motion import amass

    return amass.PoseParameters(data["poses"][:, :3], data["poses"][:, 3:66].reshape(-1, 21, 3), data["trans"], 20.0)


def test_a_motion_that_is_not_an_edit_of_the_file_is_written_afresh(tmp_path):
    source_path = tmp_path / "src.bvh"
    joints = np.load(CLIP)
    Motion(joints).save(source_path)
    other = Motion(joints + 0.5, metadata={"kind": "edit", "edit_start": START, "edit_end": END})
    out = tmp_path / "ed.bvh"
    with pytest.warns(UserWarning, match="written afresh, not into its source"):
        other.save(out, source=source_path)
    assert np.abs(Motion.load(out).joints - other.joints).max() < 1e-3


def test_moscale_edit_bvh_keeps_the_frames_outside(tmp_path):
    source_path = tmp_path / "src.bvh"
    Motion(np.load(CLIP)).save(source_path)
    out = tmp_path / "ed.bvh"
    assert cli.main(["edit", str(source_path), "a person jumps", "--frames", f"{START}:{END}", "--seed", "1",
                     "-o", str(out)]) == 0
    head_src, rows_src = frame_lines(source_path.read_text())
    head_out, rows_out = frame_lines(out.read_text())
    assert head_out == head_src and rows_out[:START] == rows_src[:START] and rows_out[END:] == rows_src[END:]


def test_untouched_warnings_for_a_plain_save(tmp_path):
    # a motion that is not an edit never looks for a source
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Motion(np.load(CLIP), metadata={"source": str(tmp_path / "gone.bvh")}).save(tmp_path / "x.bvh")


@pytest.mark.parametrize("floor_root", [False, True])
def test_other_names_extra_joints_and_an_exact_fit(tmp_path, floor_root):
    """A file with its own joint names (through a joint map) and a joint the model does not drive: inside the range
    the mapped joints land where the edit has them (to the file's precision: same skeleton, so the fit is exact),
    the extra joint keeps the source's channels on every frame, and nothing outside the range moves."""
    joints = np.load(CLIP).astype(np.float64)
    clip = bvh_convert.smpl_joints_to_bvh(joints, 20)
    skeleton = clip.skeleton
    wrist = skeleton.names.index("left_wrist")
    names = [f"rig:{name}" for name in skeleton.names] + ["rig:left_finger"]
    finger_channels = np.tile([5.0, -3.0, 12.5], (clip.num_frames, 1))
    extended = bvh.BvhSkeleton(names, skeleton.parents + [wrist], np.vstack([skeleton.offsets, [0.0, -0.08, 0.0]]),
                               skeleton.channels + [["Zrotation", "Xrotation", "Yrotation"]],
                               skeleton.end_sites[:wrist] + [None] + skeleton.end_sites[wrist + 1:]
                               + [np.array([0.0, -0.02, 0.0])])
    channels = np.hstack([clip.channels, finger_channels])
    if floor_root:  # a Bandai-style file: a keyed floor joint above the pelvis, turned and moved a little
        floor = np.tile([0.3, 0.0, -0.2, 20.0, 0.0, 0.0], (clip.num_frames, 1))  # 20 degrees about Y
        extended = bvh.BvhSkeleton(["rig:floor"] + extended.names, [-1] + [p + 1 for p in extended.parents],
                                   np.vstack([[0.0, 0.0, 0.0], extended.offsets]),
                                   [["Xposition", "Yposition", "Zposition", "Yrotation", "Xrotation", "Zrotation"]]
                                   + extended.channels, [None] + extended.end_sites)
        channels = np.hstack([floor, channels])
    source_path = tmp_path / "rig.bvh"
    bvh.write_bvh(source_path, bvh.BvhClip(extended, clip.frame_time, channels))
    joint_map = {name: f"rig:{name}" for name in skeleton.names}
    source = Motion.load(source_path, joint_map=joint_map)

    # the "edit": frames 100-130 of the same clip played in the range, moved to start where frame 40 stands
    edited_joints = source.joints.astype(np.float64).copy()
    shift = source.joints[START, 0] - source.joints[100, 0]
    shift[1] = 0.0
    edited_joints[START:END] = source.joints[100:100 + END - START] + shift
    edited = Motion(edited_joints, metadata={"kind": "edit", "edit_start": START, "edit_end": END,
                                             "joint_map": joint_map})
    out = tmp_path / "ed.bvh"
    edited.save(out, source=source_path)

    head_src, rows_src = frame_lines(source_path.read_text())
    head_out, rows_out = frame_lines(out.read_text())
    assert head_out == head_src and rows_out[:START] == rows_src[:START] and rows_out[END:] == rows_src[END:]
    written = bvh.read_bvh(out)
    first = written.skeleton.channel_starts[written.joint_index("rig:left_finger")]
    assert np.array_equal(written.channels[:, first:first + 3], finger_channels)  # the joint nobody edits
    positions = Motion.load(out, joint_map=joint_map).joints
    assert np.abs(positions[START:END] - edited_joints[START:END]).max() < 1e-4
