"""A clip in an armature's own space baked into the world by the object's transform (``bvh_convert.bake_transform``),
and the writer's CHANNELS line on joints without channels (the placeholder root Blender writes above a many-rooted
armature, which Blender's importer needs)."""
from __future__ import annotations

import numpy as np
import pytest

from moscale.motion import bvh, bvh_convert, rotations

SIX = ["Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation"]
FRAMES = 5


def many_rooted_clip(seed: int = 0) -> bvh.BvhClip:
    """As Blender's exporter writes a rig with two parentless bones: a placeholder root `__0` (OFFSET 0, no
    channels) above them, each with six channels; a connected child with rotations only; centimetres."""
    skeleton = bvh.BvhSkeleton(["__0", "root", "spine", "chest", "prop"], [-1, 0, 1, 2, 0],
                               [[0, 0, 0], [0, 0, 0], [0, 10, 90], [0, 0, 30], [40, 0, 0]],
                               [[], SIX, SIX, ["Xrotation", "Yrotation", "Zrotation"], SIX],
                               [None, None, None, [0, 0, 20], [0, 5, 0]])
    rng = np.random.default_rng(seed)
    channels = rng.uniform(-170.0, 170.0, (FRAMES, skeleton.num_channels))
    for joint in (1, 2, 4):  # positions in centimetres near the offsets
        start = skeleton.channel_starts[joint]
        channels[:, start:start + 3] = skeleton.offsets[joint] + rng.normal(0.0, 5.0, (FRAMES, 3))
    return bvh.BvhClip(skeleton, 1 / 30, channels)


def transform(angle: float, axis: str, scale: float, shift) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3] = scale * rotations.axis_rotation(rotations.AXIS_INDEX[axis], np.array(angle))
    matrix[:3, 3] = shift
    return matrix


def test_a_joint_without_channels_still_has_its_channels_line():
    text = bvh.format_bvh(many_rooted_clip())
    lines = [line.split() for line in text.splitlines()]
    assert lines[1:5] == [["ROOT", "__0"], ["{"], ["OFFSET", "0.000000", "0.000000", "0.000000"], ["CHANNELS", "0"]]
    joints = [i for i, line in enumerate(lines) if line[0] in ("ROOT", "JOINT")]
    assert all(lines[i + 2][0] == "OFFSET" and lines[i + 3][0] == "CHANNELS" for i in joints)
    assert bvh.parse_bvh(text).skeleton.channels[0] == []


@pytest.mark.parametrize("moving", [False, True])
def test_baked_clip_is_the_world_seen_through_the_transform(moving):
    """Every joint's position p becomes s R p + t and its global rotation G becomes R G R0^T, frame by frame."""
    clip = many_rooted_clip()
    fbx_import = transform(np.pi / 2, "X", 0.01, [0.3, -2.0, 0.5])  # a Mixamo FBX's object
    if moving:  # then carried by a parent that turns about Z and travels
        world = np.stack([transform(0.4 * f, "Z", 1.0, [0.5 * f, 0.0, 0.1]) @ fbx_import for f in range(FRAMES)])
    else:
        world = np.broadcast_to(fbx_import, (FRAMES, 4, 4))
    baked = bvh_convert.bake_transform(clip, world if moving else fbx_import)
    positions, globals_ = bvh.forward_kinematics(clip)
    expected = np.einsum("fij,fkj->fki", world[:, :3, :3], positions) + world[:, None, :3, 3]
    got, got_globals = bvh.forward_kinematics(baked)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    # joint frames: the world's turn of the original's, on rest frames turned by the first frame's rotation
    turns = world[:, :3, :3] / 0.01
    np.testing.assert_allclose(got_globals, turns[:, None] @ globals_ @ turns[0].T, atol=1e-12)
    # the rest pose (all angles zero) stands in the world too: offsets turned and scaled
    np.testing.assert_allclose(baked.skeleton.offsets[2], 0.01 * np.array([0.0, -90.0, 10.0]), atol=1e-15)
    np.testing.assert_allclose(baked.skeleton.end_sites[3], [0.0, -0.2, 0.0], atol=1e-15)
    # the placeholder root stays as Blender writes it unless the transform moves it
    assert baked.skeleton.channels[0] == (SIX[:3] + ["Zrotation", "Xrotation", "Yrotation"] if moving else [])
    again = bvh.parse_bvh(bvh.format_bvh(baked, decimals=None))
    np.testing.assert_allclose(bvh.forward_kinematics(again)[0], expected, atol=1e-12)


def test_identity_changes_nothing():
    clip = many_rooted_clip()
    baked = bvh_convert.bake_transform(clip, np.eye(4))
    np.testing.assert_array_equal(baked.channels, clip.channels)
    np.testing.assert_array_equal(baked.skeleton.offsets, clip.skeleton.offsets)


@pytest.mark.parametrize("linear", [np.diag([0.01, 0.02, 0.01]), np.diag([1.0, 1.0, -1.0]), np.zeros((3, 3)),
                                    np.array([[1.0, 0.3, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])])
def test_shear_mirror_and_uneven_scale_are_refused(linear):
    matrix = np.eye(4)
    matrix[:3, :3] = linear
    with pytest.raises(ValueError, match="no shear, mirror or non-uniform scale"):
        bvh_convert.bake_transform(many_rooted_clip(), matrix)


def test_a_scale_that_changes_over_frames_is_refused():
    world = np.stack([transform(0.0, "Z", 1.0 + 0.1 * f, [0.0, 0.0, 0.0]) for f in range(FRAMES)])
    with pytest.raises(ValueError, match="stays the same on every frame"):
        bvh_convert.bake_transform(many_rooted_clip(), world)
    with pytest.raises(ValueError, match=r"must be \(4, 4\) or \(5, 4, 4\)"):
        bvh_convert.bake_transform(many_rooted_clip(), world[:3])
