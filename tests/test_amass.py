"""SMPL pose parameters and AMASS-style .npz files: forward kinematics of the pose parameters reproduces the motion,
.npz export -> import round trips (with and without our own keys), AMASS's Z-up convention, frame rates, the
`moscale convert` command, and clear errors for bad files."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from moscale.motion import amass
from moscale import cli
from moscale.motion import rotations as rot
from moscale.motion import Motion
from moscale.motion.skeleton import JOINT_INDEX

FIXTURES = Path(__file__).parent / "fixtures" / "humanml3d"
MM = 1e-3


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    """HumanML3D clip 012314 (170, 22, 3): real SMPL-derived joints, Y up, 20 fps."""
    return np.load(FIXTURES / "new_joints" / "012314.npy").astype(np.float64)


def random_pose(count: int, seed: int, scale: float = 0.5) -> amass.PoseParameters:
    rng = np.random.default_rng(seed)
    return amass.PoseParameters(rng.normal(scale=scale, size=(count, 3)), rng.normal(scale=scale, size=(count, 21, 3)),
                                rng.normal(size=(count, 3)), 30.0)


def test_pose_parameters_reproduce_the_clip_through_forward_kinematics(clip):
    params = amass.pose_parameters(clip, 20)
    assert params.global_orient.shape == (170, 3) and params.body_pose.shape == (170, 21, 3)
    assert params.trans.shape == (170, 3) and params.poses().shape == (170, 156)
    assert np.all(params.poses()[:, 66:] == 0)  # hands at rest
    rebuilt = amass.joints_from_pose_parameters(params, amass.canonical_rest(clip))  # the skeleton's own offsets
    error = np.linalg.norm(rebuilt - clip, axis=-1).max()
    assert error <= 1 * MM, f"{error / MM:.4f} mm"
    # the standard SMPL-22 skeleton (what AMASS files without joints go through) differs only in the
    # pelvis/chest geometry: still within a few millimetres on this clip
    assert np.linalg.norm(amass.joints_from_pose_parameters(params) - clip, axis=-1).max() <= 5 * MM


def test_forward_kinematics_then_pose_parameters_recover_rotations():
    params = random_pose(12, 0)
    joints = amass.joints_from_pose_parameters(params)
    again = amass.pose_parameters(joints, 30, rest_joints=amass.canonical_rest())
    assert np.abs(amass.joints_from_pose_parameters(again) - joints).max() <= 1e-6
    # positions fix every rotation except twists and leaves; the root orientation and translation come back exactly
    assert np.allclose(rot.to_matrix(rot.from_axis_angle(again.global_orient)),
                       rot.to_matrix(rot.from_axis_angle(params.global_orient)), atol=1e-6)
    assert np.allclose(again.trans, params.trans, atol=1e-9)


def test_amass_world_is_z_up_and_matches_humanml3d():
    # HumanML3D: AMASS joints (x, y, z) -> (-x, z, y), a proper rotation
    assert np.allclose(amass.amass_to_y_up([1.0, 2.0, 3.0]), [-1.0, 3.0, 2.0])
    assert np.allclose(amass.y_up_to_amass(amass.amass_to_y_up([1.0, 2.0, 3.0])), [1.0, 2.0, 3.0])
    assert np.isclose(np.linalg.det(amass.Y_UP_FROM_AMASS), 1.0)
    # AMASS stands SMPL up with root_orient = +90 degrees about X (model +Y -> world +Z): upright here, and the body
    # faces AMASS -Y, which HumanML3D's transform makes -Z
    standing = amass.PoseParameters(np.tile([np.pi / 2, 0, 0], (1, 1)), np.zeros((1, 21, 3)), np.zeros((1, 3)), 60.0)
    joints = amass.joints_from_pose_parameters(standing)[0]
    head, pelvis = joints[JOINT_INDEX["head"]], joints[JOINT_INDEX["pelvis"]]
    assert head[1] - pelvis[1] > 0.5 and np.hypot(*(head - pelvis)[[0, 2]]) < 0.05
    across = joints[JOINT_INDEX["left_hip"]] - joints[JOINT_INDEX["right_hip"]]
    forward = np.cross(across, [0.0, 1.0, 0.0])
    assert forward[2] < -0.9 * np.linalg.norm(forward)
    # and a motion standing upright facing +Z here has root_orient mapping model +Y to AMASS +Z
    rest = amass.canonical_rest()
    params = amass.pose_parameters((rest - rest[0] + [0.0, 0.9, 0.0])[None], 20)
    up = rot.rotate(rot.from_axis_angle(params.global_orient[0]), [0.0, 1.0, 0.0])
    assert np.allclose(up, [0.0, 0.0, 1.0], atol=1e-9)
    assert np.allclose(params.trans[0], amass.y_up_to_amass([0.0, 0.9, 0.0]) - rest[0])


def test_npz_is_amass_smplh_shaped_and_keeps_our_keys(tmp_path, clip):
    motion = Motion(clip, 20, prompt="a person walks", metadata={"seed": 3})
    motion.save(tmp_path / "walk.npz")
    with np.load(tmp_path / "walk.npz", allow_pickle=False) as data:
        assert {"poses", "trans", "betas", "mocap_framerate", "gender", "dmpls"} <= set(data.files)
        assert {"joints", "fps", "prompt", "metadata"} <= set(data.files)
        assert data["poses"].shape == (170, 156) and data["trans"].shape == (170, 3) and data["betas"].shape == (16,)
        assert float(data["mocap_framerate"]) == 20.0 and str(data["gender"]) == "neutral"
        assert data["dmpls"].shape == (170, 8) and not data["dmpls"].any()
    loaded = Motion.load(tmp_path / "walk.npz")
    assert np.array_equal(loaded.joints, motion.joints)
    assert (loaded.fps, loaded.prompt, loaded.metadata) == (20.0, "a person walks",
                                                            {"seed": 3, "source": str(tmp_path / "walk.npz")})


def strip_to_amass(source: Path, target: Path, **changes) -> Path:
    """Keep only AMASS's keys (what a real AMASS file has), optionally replaced."""
    with np.load(source, allow_pickle=False) as data:
        arrays = {key: data[key] for key in ("poses", "trans", "betas", "mocap_framerate", "gender", "dmpls")}
    arrays.update(changes)
    np.savez(target, **arrays)
    return target


def test_amass_only_file_round_trips_through_forward_kinematics(tmp_path, clip):
    Motion(clip, 20).save(tmp_path / "walk.npz")
    loaded = Motion.load(strip_to_amass(tmp_path / "walk.npz", tmp_path / "amass.npz"))
    assert loaded.fps == 20.0 and loaded.features is None and loaded.metadata["format"] == "amass"
    assert loaded.joints[..., 1].min() == pytest.approx(0.0, abs=1e-6)  # grounded like HumanML3D
    error = np.linalg.norm(loaded.joints - clip, axis=-1).max()
    assert error <= 5 * MM, f"{error / MM:.3f} mm"  # standard skeleton: pelvis/chest geometry differs by mm
    # a motion on the standard skeleton comes back exactly
    standard = amass.joints_from_pose_parameters(random_pose(20, 1, 0.3))
    standard[..., 1] -= standard[..., 1].min()
    Motion(standard, 30).save(tmp_path / "standard.npz")
    again = Motion.load(strip_to_amass(tmp_path / "standard.npz", tmp_path / "standard_amass.npz"))
    assert again.fps == 30.0 and np.abs(again.joints - standard).max() <= 1e-5


def test_smpl_smplx_and_split_layouts_read_the_body_joints(tmp_path):
    params = random_pose(8, 2, 0.3)
    expected = amass.joints_from_pose_parameters(params)
    expected[..., 1] -= expected[..., 1].min()
    body = np.concatenate([params.global_orient, params.body_pose.reshape(8, -1)], axis=1)
    layouts = {
        "smpl.npz": dict(poses=np.concatenate([body, np.ones((8, 6))], axis=1), mocap_framerate=120.0),
        "smplx.npz": dict(poses=np.concatenate([body, np.ones((8, 99))], axis=1), mocap_frame_rate=120.0,
                          gender=np.array(b"female")),
        "split.npz": dict(root_orient=params.global_orient, pose_body=body[:, 3:], mocap_frame_rate=120.0),
    }
    for name, arrays in layouts.items():
        np.savez(tmp_path / name, trans=params.trans, **arrays)
        motion = Motion.load(tmp_path / name)
        assert motion.fps == 120.0 and np.abs(motion.joints - expected).max() <= 1e-5, name
    assert Motion.load(tmp_path / "smplx.npz").metadata["gender"] == "female"


def test_an_amass_clip_resamples_to_the_model_rate(tmp_path):
    params = random_pose(121, 3, 0.2)  # one second at 120 fps
    np.savez(tmp_path / "clip.npz", poses=params.poses(), trans=params.trans, mocap_framerate=120.0)
    motion = Motion.load(tmp_path / "clip.npz")
    edit_source = motion.resample(20)
    assert edit_source.fps == 20 and edit_source.num_frames == 21
    assert np.allclose(edit_source.joints, motion.joints[::6], atol=1e-6)


def test_bad_npz_files_say_what_is_wrong(tmp_path, clip):
    (tmp_path / "garbage.npz").write_bytes(b"not a zip at all, just text")
    with pytest.raises(ValueError, match="not a readable .npz"):
        Motion.load(tmp_path / "garbage.npz")
    Motion(clip[:10]).save(tmp_path / "good.npz")
    data = (tmp_path / "good.npz").read_bytes()
    (tmp_path / "truncated.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="npz"):
        Motion.load(tmp_path / "truncated.npz")
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    with pytest.raises(ValueError, match="needs 'joints' .* or 'poses' and 'trans'"):
        Motion.load(tmp_path / "other.npz")
    np.savez(tmp_path / "short.npz", poses=np.zeros((5, 30)), trans=np.zeros((5, 3)))
    with pytest.raises(ValueError, match="'poses' must have shape"):
        Motion.load(tmp_path / "short.npz")
    np.savez(tmp_path / "mismatch.npz", poses=np.zeros((5, 156)), trans=np.zeros((4, 3)))
    with pytest.raises(ValueError, match="'trans' must have shape"):
        Motion.load(tmp_path / "mismatch.npz")
    nan = np.zeros((5, 156))
    nan[2, 7] = np.nan
    np.savez(tmp_path / "nan.npz", poses=nan, trans=np.zeros((5, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        Motion.load(tmp_path / "nan.npz")
    np.savez(tmp_path / "pickled.npz", poses=np.zeros((5, 156)), trans=np.array([None] * 5, dtype=object))
    with pytest.raises(ValueError, match="Python objects"):
        Motion.load(tmp_path / "pickled.npz")
    with zipfile.ZipFile(tmp_path / "damaged.npz", "w") as archive:
        archive.writestr("poses.npy", b"\x93NUMPY broken header")
        archive.writestr("trans.npy", b"")
    with pytest.raises(ValueError, match="damaged|not a readable"):
        Motion.load(tmp_path / "damaged.npz")
    with pytest.raises(FileNotFoundError):
        Motion.load(tmp_path / "missing.npz")


def test_pose_parameters_refuse_bad_input(clip):
    with pytest.raises(ValueError, match="shape"):
        amass.pose_parameters(clip[:, :21])
    bad = clip[:3].copy()
    bad[1, 4, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        amass.pose_parameters(bad)
    with pytest.raises(ValueError, match="rest joints"):
        amass.pose_parameters(clip[:3], rest_joints=np.zeros((24, 3)))
    with pytest.raises(ValueError, match="gender"):
        amass.pose_parameters(clip[:3], gender="other")


def test_convert_command_round_trips_bvh_and_amass(tmp_path, clip, capsys):
    source = Motion(clip[:40], 20)
    source.save(tmp_path / "clip.bvh")
    assert cli.main(["convert", str(tmp_path / "clip.bvh"), "-o", str(tmp_path / "clip.npz")]) == 0
    converted = Motion.load(tmp_path / "clip.npz")
    assert np.abs(converted.joints - source.joints).max() <= 1e-4  # BVH keeps 6 decimals
    with np.load(tmp_path / "clip.npz") as data:
        assert data["poses"].shape == (40, 156)
    strip_to_amass(tmp_path / "clip.npz", tmp_path / "amass.npz", mocap_framerate=np.float64(60.0))
    assert cli.main(["convert", str(tmp_path / "amass.npz"), "--fps", "20", "-o", str(tmp_path / "back.bvh"),
                     "-o", str(tmp_path / "back.npy")]) == 0
    back = Motion.load(tmp_path / "back.bvh")
    assert back.fps == pytest.approx(20.0) and back.num_frames == 14  # 40 frames at 60 fps = 0.65 s
    assert np.load(tmp_path / "back.npy").shape == (14, 22, 3)
    capsys.readouterr()
    assert cli.main(["convert", str(tmp_path / "nothing.bvh"), "-o", str(tmp_path / "x.npz")]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "bad.npz").write_bytes(b"junk")
    assert cli.main(["convert", str(tmp_path / "bad.npz"), "-o", str(tmp_path / "x.bvh")]) == 2
    assert "not a readable .npz" in capsys.readouterr().err and not (tmp_path / "x.bvh").exists()
    assert cli.main(["convert", str(tmp_path / "clip.npz"), "-o", str(tmp_path / "x.txt")]) == 2

