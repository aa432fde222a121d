"""Stick-figure previews: GIF frames, filmstrip PNG, and the `moscale preview` command."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from moscale import cli
from moscale.motion.preview import load_clip_joints, looks_normalized, render_preview
from moscale.motion.skeleton import JOINT_NAMES, KINEMATIC_CHAINS


@pytest.fixture(scope="module")
def joints(fixtures_dir):
    return np.load(fixtures_dir / "humanml3d" / "new_joints" / "012314.npy")[40:50]  # (10, 22, 3)


def test_gif_has_one_frame_per_pose(joints, tmp_path):
    path = render_preview(joints, tmp_path / "clip.gif", fps=20, title="012314", size_px=160)
    with Image.open(path) as image:
        assert image.format == "GIF"
        assert image.n_frames == len(joints) == 10
        assert image.size == (160, 160)
        assert image.info["duration"] == 50  # ms at 20 fps


def test_png_filmstrip(joints, tmp_path):
    path = render_preview(joints, tmp_path / "strip.png", title="012314", size_px=160, filmstrip_frames=5)
    with Image.open(path) as image:
        assert image.format == "PNG"
        width, height = image.size
        assert height == 160 and 5 * 100 <= width <= 5 * 160
        pixels = np.asarray(image.convert("L"))
        assert (pixels < 128).mean() > 0.005  # something was drawn on the white background


def test_bad_suffix_and_shape(joints, tmp_path):
    with pytest.raises(ValueError, match=".gif"):
        render_preview(joints, tmp_path / "clip.mp4")
    with pytest.raises(ValueError, match="frames, joints, 3"):
        render_preview(joints[:, :, :2], tmp_path / "clip.gif")


def test_preview_command_on_joints(joints, tmp_path, capsys):
    clip = tmp_path / "clip.npy"
    np.save(clip, joints)
    out = tmp_path / "clip.png"
    assert cli.main(["preview", str(clip), "-o", str(out), "--frames", "3", "--size", "120"]) == 0
    assert out.is_file() and "10 frames" in capsys.readouterr().out
    assert cli.main(["preview", str(tmp_path / "missing.npy")]) == 2


def test_normalisation_guess(fixtures_dir):
    root = fixtures_dir / "humanml3d"
    features = np.load(root / "new_joint_vecs" / "012314.npy")
    mean, std = np.load(root / "Mean.npy"), np.load(root / "Std.npy")
    assert not looks_normalized(features, mean, std)
    assert looks_normalized((features - mean) / std, mean, std)


def test_features_are_decoded(fixtures_dir, tmp_path):
    pytest.importorskip("moscale.motion.features")
    root = fixtures_dir / "humanml3d"
    expected = np.load(root / "new_joints" / "012314.npy")
    decoded, fps = load_clip_joints(root / "new_joint_vecs" / "012314.npy")  # raw, Mean.npy one folder up
    assert fps == 20 and decoded.shape == expected.shape
    np.testing.assert_allclose(decoded, expected, atol=1e-3)
    normalised = tmp_path / "normalised.npy"
    mean, std = np.load(root / "Mean.npy"), np.load(root / "Std.npy")
    np.save(normalised, (np.load(root / "new_joint_vecs" / "012314.npy") - mean) / std)
    again, _ = load_clip_joints(normalised, mean=root / "Mean.npy", std=root / "Std.npy")
    np.testing.assert_allclose(again, expected, atol=1e-3)


def test_bvh_preview_smpl_and_other_rigs(joints, tmp_path, capsys):
    from moscale.motion.bvh import BvhClip, BvhSkeleton, read_bvh, write_bvh
    from moscale.motion.bvh_convert import smpl_joints_to_bvh
    from moscale.motion.preview import load_bvh_joints

    path = tmp_path / "smpl.bvh"
    write_bvh(path, smpl_joints_to_bvh(joints, fps=20))
    preview = load_bvh_joints(path)
    assert preview.smpl and preview.fps == pytest.approx(20)
    np.testing.assert_allclose(preview.positions, joints, atol=1e-3)

    # The same motion under other joint names, with an extra floor-level top joint (like Bandai-Namco's joint_Root).
    clip = read_bvh(path)
    skeleton = clip.skeleton
    renamed = BvhSkeleton(
        ["floor"] + [f"bone{j}" for j in range(skeleton.num_joints)],
        [-1] + [p + 1 for p in skeleton.parents],
        np.concatenate([np.zeros((1, 3)), skeleton.offsets * 100]),  # centimetres
        [["Xposition", "Yposition", "Zposition"]] + skeleton.channels,
        [None] + skeleton.end_sites,
    )
    channels = clip.channels.copy()
    channels[:, :3] *= 100
    other = tmp_path / "other.bvh"
    write_bvh(other, BvhClip(renamed, clip.frame_time, np.concatenate([np.zeros((len(channels), 3)), channels], 1)))
    preview = load_bvh_joints(other)  # no rig map fits: drawn as its own skeleton
    assert not preview.smpl and preview.root_joint == 1
    assert all(0 not in chain for chain in preview.chains)
    assert 1.0 < np.ptp(preview.positions[0, 1:, 1]) < 2.5  # centimetres guessed and scaled to metres
    out = tmp_path / "other.gif"
    assert cli.main(["preview", str(other), "-o", str(out), "--size", "120"]) == 0
    with Image.open(out) as image:
        assert image.n_frames == len(joints)

    # With a rig map (moscale.motion.sources) the same file gives SMPL-22 joints again.
    rig_map = tmp_path / "rig.json"
    mapping = {name: f"bone{skeleton.names.index(name)}" for name in JOINT_NAMES}
    rig_map.write_text(json.dumps({"name": "test", "metres_per_unit": 0.01, "up_axis": "y", "joints": mapping}))
    preview = load_bvh_joints(other, rig_map=rig_map)
    assert preview.smpl and preview.fps == 20 and preview.chains == KINEMATIC_CHAINS
    floor = joints[..., 1].min() - preview.positions[..., 1].min()
    np.testing.assert_allclose(preview.positions + [0, floor, 0], joints, atol=1e-3)
