"""Feet that stay planted on a rig of other proportions (moscale.motion.rig_feet through retarget.joint_frames), in
numpy: where the motion holds a toe still the rig's toe stays within 1 cm, no sole point goes below the floor, the
rotations written produce the pinned positions, frames with nothing to pin are unchanged bit for bit, and SMPL's own
skeleton is left exactly as it was. The evaluated Blender rigs: tests/blender/test_feet_on_user_rigs.py."""
from __future__ import annotations

import numpy as np
import pytest

from moscale.motion import feet, rig_feet, rigs, smpl_rig
from moscale.motion import retarget as rt
from retarget_rigs import mixamo_like_bones


@pytest.fixture(scope="module")
def locked(fixtures_dir) -> np.ndarray:
    """HumanML3D clip 012314 foot-locked as the pipeline hands motions over (T, 22, 3, metres, Y up, 20 fps)."""
    raw = np.load(fixtures_dir / "humanml3d" / "new_joints" / "012314.npy").astype(np.float64)
    return feet.lock_feet(raw, feet.contacts_from_joints(raw)).astype(np.float64)


@pytest.fixture(scope="module")
def mixamo():
    rest = rt.rest_from_bones(*mixamo_like_bones("mixamorig:"))  # centimetres, longer legs, other feet
    return rest, rigs.detect_rig(rest.names)


def toe_travel(points_TJ3: np.ndarray, contacts_T4: np.ndarray, horizontal) -> np.ndarray:
    """Horizontal path length of each toe over each run of its contact channel, in the points' units."""
    return np.array([np.linalg.norm(np.diff(points_TJ3[start:stop, toe][:, horizontal], axis=0), axis=-1).sum()
                     for side, toe in ((0, 10), (1, 11))
                     for start, stop in feet.runs(contacts_T4[:, 2 * side + 1]) if stop - start >= 2])


def rig_joints(rest, match, joints, pin_feet=True) -> np.ndarray:
    heads = rt.posed_heads(rest, rt.retarget(joints, rest, match, pin_feet=pin_feet))
    return heads[:, [rest.index(name) for name in match.bone_of_joint]]


def test_where_the_motion_holds_a_toe_still_the_rigs_toe_stays_within_1_cm(locked, mixamo):
    rest, match = mixamo
    contacts = feet.contacts_from_joints(locked)
    still = toe_travel(100 * locked, contacts, [0, 2]) < 0.5  # the plants the motion itself holds (cm)
    before = toe_travel(rig_joints(rest, match, locked, pin_feet=False), contacts, [0, 1])  # cm rig
    after = toe_travel(rig_joints(rest, match, locked), contacts, [0, 1])
    print(f"{still.sum()} still plants: rig toe travel before {np.round(before[still], 2)} cm, "
          f"after {np.round(after[still], 2)} cm")
    assert still.sum() >= 5 and before[still].max() > 2.0  # the rig's proportions made them slide
    assert after[still].max() <= 1.0


def test_soles_stay_above_the_floor_and_the_rotations_reach_the_pinned_joints(locked, mixamo):
    rest, match = mixamo
    frames = rt.joint_frames(locked, rest, match)
    shape = rig_feet.foot_shape(frames.rest_joints, np.concatenate([rest.heads, rest.tails]), [0.0, 0.0, 1.0])
    soles = rig_feet.sole_heights(shape, frames.deltas, frames.heads, frames.rest_joints)
    assert min(float(s.min()) for s in soles) >= -1e-9  # centimetres: nothing below the floor
    assert min(float(s.min()) for s in soles) <= 1e-9  # and the take stands on it
    # the keyed rotations, played as Blender plays them, put every joint where joint_frames says
    played = rig_joints(rest, match, locked)
    assert np.abs(played[:, :10] - frames.heads[:, :10]).max() < 1e-6  # cm; toes (10, 11) are tips of no bone here
    # thigh and shin lengths are the rig's own
    for hip, knee, ankle, _ in feet.LEGS:
        for a, b in ((hip, knee), (knee, ankle)):
            length = np.linalg.norm(frames.heads[:, a] - frames.heads[:, b], axis=-1)
            assert np.allclose(length, np.linalg.norm(frames.rest_joints[a] - frames.rest_joints[b]), atol=1e-9)


def test_frames_with_nothing_to_pin_are_bit_identical(locked, mixamo):
    rest, match = mixamo
    free = rt.joint_frames(locked, rest, match, pin_feet=False)
    no_contact = rt.joint_frames(locked, rest, match, contacts_T4=np.zeros((len(locked), 4), bool))
    pinned = rt.joint_frames(locked, rest, match)
    # without contacts nothing is pinned (the take stands above the floor, so nothing is lifted either)
    assert np.array_equal(no_contact.deltas, free.deltas) and np.array_equal(no_contact.heads, free.heads)
    for leg in ([1, 4, 7, 10], [2, 5, 8, 11]):  # (hip, knee, ankle, toe)
        same = np.all(pinned.heads[:, leg] == free.heads[:, leg], axis=(1, 2))
        assert 0 < same.sum() < len(locked)
        assert np.array_equal(pinned.deltas[same][:, leg], free.deltas[same][:, leg])
    untouched = [j for j in range(22) if j not in (1, 2, 4, 5, 7, 8, 10, 11)]  # only the legs are re-solved
    assert np.array_equal(pinned.deltas[:, untouched], free.deltas[:, untouched])
    assert np.array_equal(pinned.heads[:, untouched], free.heads[:, untouched])


def test_smpl_skeleton_is_left_as_it_was(locked):
    character = smpl_rig.smpl_character(locked)
    rest = rt.rest_from_bones(character.names, character.parents, character.heads, character.tails)
    match = rigs.detect_rig(rest.names)
    assert match.map_name == "smpl"
    pinned, free = rt.joint_frames(locked, rest, match), rt.joint_frames(locked, rest, match, pin_feet=False)
    assert np.array_equal(pinned.deltas, free.deltas) and np.array_equal(pinned.heads, free.heads)


def test_foot_shape_reads_heel_bones_and_ignores_rest_poses_that_do_not_stand():
    names, parents, heads, tails, rolls = mixamo_like_bones("")
    rest = rt.rest_from_bones(names, parents, heads, tails, rolls)
    joints = rt.rest_joints_of(rest, rigs.detect_rig(rest.names))
    left_ankle, left_toe = joints[7], joints[10]
    heel_bone = np.array([[left_ankle[0] - 4.0, left_ankle[1] + 3.0, 0.0], [left_ankle[0] + 4.0, left_ankle[1] + 3.0,
                                                                              0.0]])
    elsewhere = np.array([[0.0, 0.0, 0.0], [left_ankle[0], left_ankle[1], 40.0]])  # a root bone, a knee-high bone
    shape = rig_feet.foot_shape(joints, np.concatenate([rest.heads, rest.tails, heel_bone, elsewhere]), [0, 0, 1])
    left = shape.points[0]
    assert np.allclose(left[0], [left_ankle[0], left_ankle[1], 0.0])  # the heel under the ankle, on the ground
    assert np.allclose(left[1], left_toe)
    assert any(np.allclose(point, heel_bone[0]) for point in left) and any(np.allclose(p, heel_bone[1]) for p in left)
    assert not any(np.allclose(point, e) for point in left for e in elsewhere)
    assert not any(np.allclose(point, heel_bone[0]) for point in shape.points[1])  # not the right foot's
    toe_end = rest.tails[rest.index("LeftToe_End")]
    assert shape.carriers[0][[np.allclose(p, toe_end) for p in left].index(True)] == 10  # carried by the toe
    # a BVH whose root sits at the origin: its rest pose says nothing of the ground; the soles are the joints
    hanging = rig_feet.foot_shape(joints - [0.0, 0.0, 100.0], rest.heads - [0.0, 0.0, 100.0], [0, 0, 1])
    assert [c.tolist() for c in hanging.carriers] == [[7, 10], [8, 11]]


def test_toe_counts_as_down_longer_only_while_its_heel_is_down():
    contacts = np.zeros((12, 4), bool)
    contacts[2:11, 0] = True  # left heel down from frame 2 to 10
    contacts[6:8, 1] = True  # left toe at 6 and 7
    contacts[7:9, 3] = True  # right toe with no heel
    longer = rig_feet.toe_down_longer(contacts)
    half = feet.TOE_HANDOVER // 2
    assert np.flatnonzero(longer[:, 1]).tolist() == list(range(6 - half, 8 + half))
    assert np.array_equal(longer[:, [0, 2, 3]], contacts[:, [0, 2, 3]])


def test_at_another_frame_rate_the_feet_stay_pinned_on_every_played_frame(locked, mixamo):
    rest, match = mixamo
    result = rt.retarget_at(locked, rest, match, 20.0, 24.0)
    assert result.num_frames == rt.resample(rt.retarget(locked, rest, match), 24.0).num_frames and result.fps == 24.0
    played = rt.posed_heads(rest, result)[:, [rest.index(name) for name in match.bone_of_joint]]
    contacts = feet.contacts_from_joints(locked)
    motion_frame = np.arange(result.num_frames) * 20.0 / 24.0
    for side, toe in ((0, 10), (1, 11)):
        for start, stop in feet.runs(contacts[:, 2 * side + 1]):
            planted = (motion_frame >= start) & (motion_frame <= stop - 1)
            if toe_travel(100 * locked[start:stop], np.ones((stop - start, 4), bool), [0, 2]).max() < 0.5:
                travel = np.linalg.norm(np.diff(played[planted, toe, :2], axis=0), axis=-1).sum()
                assert travel <= 1.0, (side, start, stop, travel)  # cm


def test_smpl_character_keeps_its_slerped_rotations(locked):
    character = smpl_rig.smpl_character(locked)
    rest = rt.rest_from_bones(character.names, character.parents, character.heads, character.tails)
    match = rigs.detect_rig(rest.names)
    at_24 = rt.retarget_at(locked, rest, match, 20.0, 24.0)
    slerped = rt.resample(rt.retarget(locked, rest, match), 24.0)
    assert np.array_equal(at_24.rotations, slerped.rotations)
    assert np.array_equal(at_24.root_location, slerped.root_location)


def test_an_edited_range_meets_the_kept_frames(locked, mixamo):
    """Edit Range: the new frames are made with the source take's root scale, floor and (at the range's ends) foot
    pins, so they meet the frames kept outside; an edit that changes nothing changes no frame."""
    rest, match = mixamo
    kept = rt.joint_frames(locked, rest, match)
    same = rt.joint_frames(locked, rest, match, edit=rt.EditRange(locked, 60, 100))
    assert np.array_equal(same.deltas, kept.deltas) and np.array_equal(same.heads, kept.heads)
    start, stop = 60, 100  # the body crouches 20% toward its pelvis inside, smoothly, as an edit's seams are
    squeeze = np.ones(len(locked))
    squeeze[start:stop] -= 0.2 * np.sin(np.pi * (np.arange(start, stop) - start + 1) / (stop - start + 1))
    edited = locked.copy()
    edited[:, 1:] = locked[:, :1] + squeeze[:, None, None] * (locked[:, 1:] - locked[:, :1])

    def jumps(frames) -> np.ndarray:  # cm: each foot joint's step into and out of the range, less the source's
        steps = [np.linalg.norm(frames.heads[b, [7, 8, 10, 11]] - kept.heads[a, [7, 8, 10, 11]], axis=-1)
                 - np.linalg.norm(kept.heads[b, [7, 8, 10, 11]] - kept.heads[a, [7, 8, 10, 11]], axis=-1)
                 for a, b in ((start - 1, start), (stop, stop - 1))]
        return np.abs(np.array(steps))

    alone = jumps(rt.joint_frames(edited, rest, match))  # as if the edit were a take of its own
    met = jumps(rt.joint_frames(edited, rest, match, edit=rt.EditRange(locked, start, stop)))
    print(f"feet at the range's ends, beyond the source's own step: alone {alone.max():.2f} cm, met {met.max():.2f} cm")
    assert alone.max() > 2.0 and met.max() < 0.5


def test_a_keyed_frame_keeps_its_pose_and_its_plant_is_pinned_there(fixtures_dir, mixamo):
    """Keyed poses (``held_frames``): the keyed frame is the unpinned pose bit for bit, and the plant through it is
    pinned where the rig's foot stands at that frame, not where it stands on average (the raw clip: its left foot
    slides over its last plant, frames 106-169)."""
    rest, match = mixamo
    raw = np.load(fixtures_dir / "humanml3d" / "new_joints" / "012314.npy").astype(np.float64)
    free = rt.joint_frames(raw, rest, match, pin_feet=False)
    pinned = rt.joint_frames(raw, rest, match)
    held = rt.joint_frames(raw, rest, match, held_frames=[140])
    assert np.array_equal(held.heads[140], free.heads[140]) and np.array_equal(held.deltas[140], free.deltas[140])
    toe = feet.contacts_from_joints(raw)[106:170, 1]  # the frames its toe touches
    off = np.linalg.norm(held.heads[106:170, 10, :2][toe] - free.heads[140, 10, :2], axis=-1)  # cm
    moved = np.linalg.norm(pinned.heads[140, 10] - free.heads[140, 10])
    print(f"the keyed frame's toe: pinned at the plant's average {moved:.2f} cm off; held, the plant's toe "
          f"{off.max():.3f} cm from it")
    assert moved > 3.0 and off.max() <= 0.1
    for side, leg in enumerate(([1, 4, 7, 10], [2, 5, 8, 11])):  # a foot in the air at the key: held too
        assert np.array_equal(held.heads[140, leg], free.heads[140, leg]), side


def test_a_cycle_is_pinned_across_its_seam(locked, mixamo):
    """A loop keyed through its repetition's first frame (``cycle``): the feet are pinned as the cycle repeats, so
    the last frame is the first moved by the cycle's travel (the Cycles modifiers then repeat it seamlessly); pinned
    as a take of its own, the seam's feet are 1-2 cm apart. Between, the cycle is pinned as before."""
    rest, match = mixamo
    start, period, blend = 20, 80, 10
    travel = np.array([1.0, 0.0, 1.0]) * (locked[start + period, 0] - locked[start, 0])
    cycle = np.concatenate([locked[start:start + period], locked[start:start + 1] + travel])
    weight = ((np.arange(blend) + 1) / (blend + 1))[:, None, None]  # the end eased into what leads into the start
    cycle[period - blend:period] = ((1 - weight) * cycle[period - blend:period]
                                    + weight * (locked[start - blend:start] + travel))
    free = rt.joint_frames(cycle, rest, match, pin_feet=False)
    shift = free.heads[period, 0] - free.heads[0, 0]
    seam_step = np.linalg.norm(free.heads[period, [7, 8, 10, 11]] - free.heads[period - 1, [7, 8, 10, 11]], axis=-1)
    seams = {}
    for wraps in (False, True):
        frames = rt.joint_frames(cycle, rest, match, cycle=wraps)
        seams[wraps] = np.linalg.norm(frames.heads[period] - frames.heads[0] - shift, axis=-1).max()  # cm
        steps = np.linalg.norm(np.diff(frames.heads[:, [7, 8, 10, 11]], axis=0), axis=-1).max(axis=-1)
        print(f"cycle={wraps}: the seam's joints {seams[wraps]:.4f} cm apart; step into the repetition "
              f"{steps[-1]:.2f} cm (unpinned {seam_step.max():.2f}), median step {np.median(steps):.2f} cm")
        assert steps[-1] <= seam_step.max() + 1.0  # the pins add no jump there
    assert seams[False] > 1.0 and seams[True] <= 1e-6
    pinned = rt.joint_frames(cycle, rest, match, cycle=True)
    assert np.abs(np.abs((pinned.deltas[period] * pinned.deltas[0]).sum(axis=-1)) - 1).max() <= 1e-9
