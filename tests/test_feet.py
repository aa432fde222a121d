"""Feet: skating/penetration/floating measures and the foot-lock cleanup (pins, keeps bone lengths, touches nothing
it should not)."""
from pathlib import Path

import numpy as np
import pytest

from moscale.motion import feet
from moscale.motion.features import features_to_joints

FIXTURES = Path(__file__).parent / "fixtures" / "humanml3d"
REAL = np.load(FIXTURES / "new_joints" / "012314.npy")  # (170, 22, 3) real HumanML3D motion
REAL_FEATURES = np.load(FIXTURES / "new_joint_vecs" / "012314.npy")


def still_body(frames):
    """(frames, 22, 3) float64: the first pose of the real clip held still, its lowest joint on the floor."""
    joints = np.repeat(REAL[:1].astype(np.float64), frames, axis=0)
    joints[..., 1] -= joints[0, :, 1].min()
    return joints


def standing_clip(frames=60, slide_cm_s=5.0):
    """A still body whose left foot slides forward while the contact channels say it stands."""
    joints = still_body(frames)
    drift = np.arange(frames) * slide_cm_s / 100 / 20
    for j in (7, 10):  # left ankle, left toe
        joints[:, j, 2] += drift
    contacts = np.ones((frames, 4), dtype=bool)
    return joints.astype(np.float32), contacts


def bone(joints, a, b):
    return np.linalg.norm(joints[:, a] - joints[:, b], axis=-1)


def test_stats_measure_a_sliding_foot():
    joints, contacts = standing_clip(slide_cm_s=20.0)
    stats = feet.foot_stats(joints, contacts)
    assert stats.skating_cm_s == pytest.approx(10.0, rel=1e-3)  # one toe at 20 cm/s, the other still
    assert stats.penetration_cm == 0
    sunk = joints.copy()
    sunk[..., 1] -= 0.05
    assert feet.foot_stats(sunk, contacts).penetration_cm == pytest.approx(5.0, abs=0.01)
    assert feet.foot_stats(sunk, contacts).floating_cm == 0


def test_lock_pins_a_sliding_foot_and_keeps_the_leg():
    joints, contacts = standing_clip()
    locked = feet.lock_feet(joints, contacts)
    assert feet.foot_stats(locked, contacts).skating_cm_s < 0.05
    # thigh, shin and foot keep their lengths; the knee is re-solved, nothing above the legs moves
    for a, b in ((1, 4), (4, 7), (7, 10)):
        np.testing.assert_allclose(bone(locked, a, b), bone(joints, a, b), atol=1e-5)
    untouched = [j for j in range(22) if j not in (4, 7, 10)]
    assert np.array_equal(locked[:, untouched], joints[:, untouched])


def test_lock_leaves_a_planted_or_airborne_foot_alone():
    joints, contacts = standing_clip(slide_cm_s=0.0)
    assert np.array_equal(feet.lock_feet(joints, contacts), joints)
    sliding, _ = standing_clip()
    assert np.array_equal(feet.lock_feet(sliding, np.zeros_like(contacts)), sliding)  # no contact: no change


def test_lock_lifts_feet_above_the_floor():
    joints, contacts = standing_clip(slide_cm_s=0.0)
    joints[:, [7, 10], 1] -= 0.03
    locked = feet.lock_feet(joints, np.zeros_like(contacts))
    assert locked[:, [7, 8, 10, 11], 1].min() >= -1e-6


def test_lock_respects_the_editable_range_bit_for_bit():
    joints, contacts = standing_clip(frames=80)
    editable = np.zeros(80, dtype=bool)
    editable[20:60] = True
    locked = feet.lock_feet(joints, contacts, editable_T=editable, border=6)
    assert np.array_equal(locked[:20], joints[:20]) and np.array_equal(locked[60:], joints[60:])
    assert np.array_equal(locked[20], joints[20])  # zero on the border frame, rising inside
    inside = feet.foot_stats(locked[30:50], contacts[30:50]).skating_cm_s
    assert inside < feet.foot_stats(joints[30:50], contacts[30:50]).skating_cm_s / 3


def gliding_clip(frames=120, speed_m_s=0.8):
    """A body moving backwards at walking speed whose feet glide over the floor the whole time while the contact
    channels say both stand (what the model does in some backward walks)."""
    joints = still_body(frames)
    joints[..., 2] -= (np.arange(frames) * speed_m_s / 20)[:, None]
    return joints.astype(np.float32), np.ones((frames, 4), dtype=bool)


def test_a_gliding_contact_is_replanted_in_steps():
    joints, contacts = gliding_clip()
    locked = feet.lock_feet(joints, contacts)
    seen = feet.contacts_from_joints(locked)  # what a viewer would call contact, from the joints alone
    raw_skating = feet.foot_stats(joints, feet.contacts_from_joints(joints)).skating_cm_s
    assert raw_skating == pytest.approx(80.0, rel=1e-3)
    assert feet.foot_stats(locked, seen).skating_cm_s < raw_skating / 10
    toe = locked[:, 10].astype(np.float64)
    speed = np.linalg.norm(np.diff(toe[:, [0, 2]], axis=0), axis=-1) * 20
    assert (speed < 0.01).mean() > 0.4  # the foot stands still much of the time ...
    assert toe[:, 1].max() > joints[:, 10, 1].max() + 0.02  # ... and lifts when it steps
    assert np.abs(np.diff(toe, axis=0)).max() < 0.2  # m per frame: quick steps, no teleport
    for a, b in ((1, 4), (4, 7), (7, 10)):  # bone lengths kept, nothing above the legs moved
        np.testing.assert_allclose(bone(locked, a, b), bone(joints, a, b), atol=1e-5)
    untouched = [j for j in range(22) if j not in (4, 5, 7, 8, 10, 11)]
    assert np.array_equal(locked[:, untouched], joints[:, untouched])
    # the body still travels: the plants sum up to where the raw foot went
    assert abs((toe[-1, 2] - toe[0, 2]) - (joints[-1, 10, 2] - joints[0, 10, 2])) < 0.3


def test_plants_close_together_pass_into_each_other_without_a_jump():
    """Two plants 6 frames apart with different pulls: the correction crosses over smoothly (an ease-out meeting an
    ease-in used to switch from one pull to the other: 0.15 m in one frame, a 0.09 m/frame kink)."""
    joints, contacts = standing_clip(frames=50, slide_cm_s=40.0)
    contacts[20:26, :2] = False
    delta = feet.foot_corrections(joints, contacts)[:, 0]
    assert np.abs(delta[:, 2]).max() > 0.05  # both plants pull
    # 0.43 m from one pull to the other over 7 frames, eased: no step bigger than the smoothstep's peak, no kink
    assert np.abs(np.diff(delta, axis=0)).max() < 0.1
    assert np.abs(np.diff(delta, n=2, axis=0)).max() < 0.05


def test_contacts_from_features_match_the_joints_rule_on_real_motion():
    decoded = features_to_joints(REAL_FEATURES)
    from_features = feet.contacts_from_features(REAL_FEATURES, decoded)
    from_joints = feet.contacts_from_joints(decoded)
    assert from_features.shape == (len(REAL_FEATURES), 4) and from_features.any()
    assert (from_features == from_joints).mean() > 0.9


def test_real_motion_barely_changes_under_the_lock():
    """Real mocap skates little: the cleanup moves its feet by millimetres and keeps the bones."""
    decoded = features_to_joints(REAL_FEATURES)
    contacts = feet.contacts_from_features(REAL_FEATURES, decoded)
    locked = feet.lock_feet(decoded, contacts)
    assert np.linalg.norm(locked - decoded, axis=-1).mean() < 0.01
    assert feet.foot_stats(locked, contacts).skating_cm_s <= feet.foot_stats(decoded, contacts).skating_cm_s
    np.testing.assert_allclose(bone(locked, 2, 5), bone(decoded, 2, 5), atol=1e-5)
    with pytest.raises(ValueError, match="263"):
        feet.contacts_from_features(np.zeros((5, 10)))


def test_clean_contacts_fills_flicker_and_drops_blips():
    mask = np.array([1, 1, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 1], dtype=bool)
    cleaned = feet.clean_contacts(mask, gap=1, shortest=3)
    assert cleaned.tolist() == [True] * 5 + [False] * 9 + [True] * 3


def test_generate_locks_only_the_legs_and_keeps_the_models_features(tmp_path):
    from test_editing import tiny_release

    from moscale.pipeline import MoScalePipeline
    from moscale.model.text import save_random_encoder

    encoder = save_random_encoder(tmp_path / "encoder", "bert", dim=16)
    pipe = MoScalePipeline.from_pretrained(tiny_release(tmp_path / "model", encoder), device="cpu")
    raw = pipe.generate("a person stands still", frames=48, seed=3, foot_lock=False)
    locked = pipe.generate("a person stands still", frames=48, seed=3)
    assert locked.metadata["foot_lock"] is True and raw.metadata["foot_lock"] is False
    assert np.array_equal(locked.features, raw.features)
    expected = feet.lock_feet(raw.joints, feet.motion_contacts(raw.joints, raw.features, raw.fps))
    assert np.array_equal(locked.joints, expected)
    # the joints are the decoded features with the decoder's jitter filtered out, before any foot lock
    from moscale.motion.kinematics import filter_jitter

    decoded = features_to_joints(raw.features.astype(np.float64))
    np.testing.assert_allclose(raw.joints, filter_jitter(decoded), atol=1e-5)
    legs = [4, 5, 7, 8, 10, 11]
    others = [j for j in range(22) if j not in legs]
    assert np.array_equal(locked.joints[:, others], raw.joints[:, others])


def test_heel_to_toe_handover_does_not_jump():
    """Heel down first, toe a few frames later, the foot sliding all along: the pin passes from the ankle to the toe
    without a step in the correction."""
    joints, contacts = standing_clip(frames=40, slide_cm_s=20.0)
    joints[:, 10, 0] += np.linspace(0, 0.06, 40)  # the toe drifts differently from the ankle (the foot rolls)
    contacts[:, 1] = np.arange(40) >= 10  # left toe touches from frame 10
    delta = feet.foot_corrections(joints, contacts)[:, 0]
    assert np.abs(np.diff(delta, axis=0)).max() < 0.015  # m per frame, against 0.05+ for a hard switch
    locked = feet.lock_feet(joints, contacts)
    assert feet.foot_stats(locked[15:], contacts[15:]).skating_cm_s < 0.5


def _leg(bend_m: float, toward_z: float = 1.0):
    """(hip, knee, ankle, toe) (1, 3) each: a 0.4 + 0.4 m leg hanging from a hip at 0.9 m, the knee ``bend_m`` off
    the hip-ankle line along +z (negative: bent backwards), the toes pointing along ``toward_z`` * z."""
    hip = np.array([[0.0, 0.9, 0.0]])
    half = np.sqrt(0.4 ** 2 - bend_m ** 2)
    knee = hip + [[0.0, -half, bend_m]]
    ankle = hip + [[0.0, -2 * half, 0.0]]
    toe = ankle + [[0.0, -0.05, 0.12 * toward_z]]
    return hip, knee, ankle, toe


def test_a_straight_or_hyperextended_knee_the_lock_bends_goes_toward_the_toes():
    # a leg bent 1 cm backwards whose ankle the lock raises by 5 cm: without the toes the knee keeps bending
    # backwards (what flipped from frame to frame), with them it bends forward over the toes
    hip, knee, ankle, toe = _leg(-0.01)
    target = ankle + [[0.0, 0.05, 0.0]]
    back, _ = feet.two_bone_knee(hip, knee, ankle, target)
    front, placed = feet.two_bone_knee(hip, knee, ankle, target, toe)
    assert back[0, 2] < -0.1 and front[0, 2] > 0.1
    np.testing.assert_allclose(placed, target, atol=1e-9)
    for solved in (back, front):  # the bones keep their lengths
        assert np.linalg.norm(solved - hip) == pytest.approx(0.4)
        assert np.linalg.norm(placed - solved) == pytest.approx(0.4)
    # an ankle left where it is keeps its knee; a knee already bent forward enough is not touched
    same, _ = feet.two_bone_knee(hip, knee, ankle, ankle.copy(), toe)
    np.testing.assert_allclose(same, knee, atol=1e-9)
    hip, knee, ankle, toe = _leg(0.15)
    np.testing.assert_allclose(feet.two_bone_knee(hip, knee, ankle, target, toe)[0],
                               feet.two_bone_knee(hip, knee, ankle, target)[0], atol=1e-12)


def test_soft_reach_eases_the_leg_into_full_extension():
    hip, knee, ankle, toe = _leg(0.1)  # the ankle 0.775 m from the hip, the leg 0.8 m long
    down = np.array([[0.0, -1.0, 0.0]])
    reach = np.linspace(0.7, 0.9, 201)
    targets = hip + reach[:, None] * down
    n = len(reach)
    legs = [np.repeat(x, n, axis=0) for x in (hip, knee, ankle)]
    hard = feet.two_bone_knee(*legs, targets)
    soft = feet.two_bone_knee(*legs, targets, soft=0.02)
    reached = np.linalg.norm(soft[1] - hip, axis=-1)
    # up to the softening start (0.784 m) the ankle goes exactly where asked, beyond it short of it, never straight
    inside = reach <= 0.8 * 0.98
    np.testing.assert_allclose(soft[1][inside], targets[inside], atol=1e-9)
    np.testing.assert_allclose(soft[0][inside], hard[0][inside], atol=1e-9)
    assert np.all(np.diff(reached) > 0) and reached.max() < 0.8 and np.all(reached[~inside] < reach[~inside])
    # the knee moves smoothly: its largest step between neighbouring targets (1 mm apart) is 2.5 mm, where the hard
    # solve swings it by 1.9 cm as the leg snaps straight
    step = lambda knees: np.linalg.norm(np.diff(knees, axis=0), axis=-1).max()
    assert step(soft[0]) < 0.006 < 0.015 < step(hard[0])
