"""Captions from the motion itself (moscale.data.motion_captions) on the synthetic clips of test_measures."""
from __future__ import annotations

import re

import numpy as np
import pytest

from moscale.data import caption_words, motion_phrases
from moscale.data.motion_captions import captions_from_motion, describe, mirror_caption
from moscale.motion.skeleton import JOINT_NAMES
from test_measures import (
    FPS, POSE, blend, hopping, jumping, lowered, lying, place, right_hand_up, still, straight, turning,
)

WALK = ("walks forward", "walks ahead")
STILL_WORDS = ("stands still", "stands in place", "stays in place", "stands without moving")
SLOW_WORDS = ("slowly", "slow pace", "leisurely")
FAST_WORDS = ("quickly", "briskly", "brisk pace", "fast")


def swaying(frames: int = 100) -> np.ndarray:
    """Standing, the pelvis drifting 6 cm side to side (weight from foot to foot), feet planted."""
    joints = still(frames)
    shift = 0.06 * np.sin(2 * np.pi * np.arange(frames) / frames)
    upper = [j for j in range(22) if j not in (7, 8, 10, 11)]
    joints[:, upper, 0] += shift[:, None]
    return joints


def marching(frames: int = 100) -> np.ndarray:
    """Stepping in place: the feet take turns to rise 0.12 m, 1.6 steps a second."""
    joints = still(frames)
    phase = np.arange(frames) / FPS * 0.8  # strides per second
    for offset, (ankle, toe) in ((0.0, (7, 10)), (0.5, (8, 11))):
        lift = 0.12 * np.clip(np.sin(2 * np.pi * (phase + offset)), 0.0, None)
        joints[:, [ankle, toe], 1] += lift[:, None]
    return joints


def mirrored(joints: np.ndarray) -> np.ndarray:
    """The clip mirrored left <-> right: x negated, left and right joints swapped."""
    swap = [JOINT_NAMES.index(name.replace("left", "X").replace("right", "left").replace("X", "right"))
            for name in JOINT_NAMES]
    return joints[:, swap] * np.array([-1.0, 1.0, 1.0])


def words_of(captions: list[str]) -> set[str]:
    return {word for caption in captions for word in re.findall(r"[a-z]+", caption.lower())}


def test_a_standing_clip_stands_still_and_never_walks():
    captions = captions_from_motion(still(), FPS, (), 4, "still")
    assert len(captions) == 4 and len(set(captions)) == 4
    assert all(any(w in c for w in STILL_WORDS) for c in captions)
    assert not {"walk", "walks", "walking", "runs", "jogs"} & words_of(captions)
    assert describe(still(), FPS, None, ()).gait == "still"


def test_weight_shift_is_named():
    captions = captions_from_motion(swaying(), FPS, (), 3, "sway")
    assert all("shift" in c for c in captions) and "walk" not in " ".join(captions)


def test_a_walk_label_on_a_standing_clip_is_a_conflict():
    facts = describe(still(), FPS, "walk", WALK)
    assert facts.conflicts
    captions = captions_from_motion(still(), FPS, WALK, 3, "still-walk", label="walk")
    assert {c.split(" ", 2)[-1] if not c.startswith("someone") else c.split(" ", 1)[1] for c in captions} <= \
        {"walks forward.", "walks ahead."}  # the label, unchanged: nothing measured is added to it


def test_a_walk_label_stepping_in_place_walks_in_place():
    captions = captions_from_motion(marching(), FPS, ("walks",), 3, "march", label="walk")
    assert any("walks in place" in c or "walks on the spot" in c for c in captions)
    assert describe(marching(), FPS, "walk", ("walks forward",)).conflicts  # in place is not forward


def test_slow_and_fast_walks():
    slow = captions_from_motion(straight(0.7), FPS, WALK, 4, "slow", label="walk")
    fast = captions_from_motion(straight(1.8), FPS, WALK, 4, "fast", label="walk")
    assert any(any(w in c for w in SLOW_WORDS) for c in slow) and not any(any(w in c for w in FAST_WORDS) for c in slow)
    assert any(any(w in c for w in FAST_WORDS) for c in fast) and not any(any(w in c for w in SLOW_WORDS) for c in fast)
    assert all("walks" in c for c in slow + fast)  # the label's verb stays


def test_the_label_verb_family_is_kept():
    runs = ("runs forward", "runs ahead")
    jog = captions_from_motion(straight(2.0), FPS, runs, 6, "jog", label="run")
    assert any("jogs" in c or "runs slowly" in c for c in jog) and "walks" not in " ".join(jog)
    walk = captions_from_motion(straight(2.4), FPS, WALK, 4, "fast walk", label="walk")
    assert "jogs" not in " ".join(walk) and "runs" not in " ".join(walk)
    unlabelled = captions_from_motion(straight(3.0), FPS, (), 3, "run")
    assert all(c.split()[-3] in ("runs",) or "runs" in c for c in unlabelled)


def test_directions_without_a_label():
    for direction_deg, words in ((180, ("backward", "reverse")), (90, ("left",)), (-90, ("right",))):
        captions = captions_from_motion(straight(1.0, direction_deg=direction_deg), FPS, (), 3, str(direction_deg))
        assert all(any(w in c for w in words) for c in captions), captions
    left = " ".join(captions_from_motion(straight(1.0, direction_deg=90), FPS, (), 4, "left"))
    assert "right" not in left


def test_turns_left_and_right():
    left = captions_from_motion(turning(90.0), FPS, (), 4, "turn")
    right = captions_from_motion(turning(-90.0), FPS, (), 4, "turn")
    assert all("left" in c and "right" not in c for c in left)
    assert all("right" in c and "left" not in c for c in right)
    assert any("90 degrees" in c for c in left)


def test_circle_and_spin():
    circle = captions_from_motion(turning(-360.0, frames=240, speed=1.2), FPS, (), 4, "circle")
    assert all("circle" in c for c in circle) and any("circle to the right" in c for c in circle)
    assert any("clockwise" in c for c in circle) and not any("counterclockwise" in c for c in circle)
    spin = captions_from_motion(place(POSE, np.linspace(0.0, 400.0, 60), np.zeros((60, 2))), FPS, (), 3, "spin")
    assert all("spin" in c or "full circle in place" in c for c in spin)


def test_label_turn_the_other_way_is_a_conflict():
    assert describe(turning(-90.0), FPS, "walk-turn-left", ("walks forward and turns left",)).conflicts
    assert not describe(turning(90.0), FPS, "walk-turn-left", ("walks forward and turns left",)).conflicts


def test_posture_captions():
    sits = captions_from_motion(blend((POSE, 30), (lowered(0.45, 0.45), 40), (POSE, 30)), FPS, (), 3, "sit")
    assert all(("sits down" in c or "takes a seat" in c) and ("stands up" in c or "gets up" in c) for c in sits)
    gets_up = captions_from_motion(blend((lying(), 30), (POSE, 30)), FPS, (), 3, "up")
    assert all("gets up" in c or "stands up" in c for c in gets_up)
    lies = captions_from_motion(blend((POSE, 30), (lying(), 40)), FPS, (), 3, "down")
    assert all("lies down" in c or "lies on" in c for c in lies)
    crouch = captions_from_motion(still(40, lowered(0.55, 0.08)), FPS, (), 3, "crouch")
    assert all("crouch" in c or "squat" in c for c in crouch)


def test_raised_hand_and_jump_and_hop():
    hand = captions_from_motion(right_hand_up(), FPS, (), 4, "hand")
    assert any("right hand" in c or "right arm" in c for c in hand) and "left" not in " ".join(hand)
    waves = captions_from_motion(right_hand_up(), FPS, ("waves the right hand",), 3, "wave", label="wave-right-hand")
    assert all(c.count("right hand") == 1 for c in waves)  # the label speaks for the hand
    assert describe(right_hand_up(), FPS, "raise-up-left-hand", ("raises the left hand",)).conflicts
    jump = captions_from_motion(jumping(), FPS, (), 3, "jump")
    assert all("jump" in c for c in jump)
    hop = captions_from_motion(hopping("left"), FPS, (), 3, "hop")
    assert all("hops on" in c for c in hop) and any("left" in c for c in hop)


def test_a_non_locomotion_label_gets_where_it_happens():
    waves = captions_from_motion(right_hand_up(), FPS, ("waves the right hand",), 3, "w", label="wave")
    assert any("standing still" in c or "standing in place" in c or "spot" in c for c in waves)
    moving = captions_from_motion(straight(1.0), FPS, ("dances",), 3, "d", label="dance")
    assert any("while moving forward" in c for c in moving)


def test_captions_are_deterministic_and_keyed():
    clip = turning(90.0)
    assert captions_from_motion(clip, FPS, WALK, 4, "k") == captions_from_motion(clip, FPS, WALK, 4, "k")
    keys = {tuple(captions_from_motion(clip, FPS, WALK, 4, f"k{i}")) for i in range(6)}
    assert len(keys) > 1


def test_every_generated_word_is_known_to_the_tagger():
    unknown = sorted(word for word in motion_phrases.all_words() if not caption_words.known_word(word))
    assert unknown == []
    clips = [still(), swaying(), straight(0.7), straight(2.4), straight(1.0, direction_deg=135), turning(150.0),
             turning(360.0, frames=240), right_hand_up(), jumping(), hopping(), blend((POSE, 30), (lying(), 40))]
    for index, clip in enumerate(clips):
        captions = captions_from_motion(clip, FPS, (), 4, str(index))
        assert [w for w in words_of(captions) if not caption_words.known_word(w)] == [], captions
        assert all(c.endswith(".") and "  " not in c for c in captions)


def test_mirror_caption():
    assert mirror_caption("A person walks to the left, then turns Right.") == \
        "A person walks to the right, then turns Left."
    assert mirror_caption("walks in a clockwise circle") == "walks in a counterclockwise circle"
    assert mirror_caption("spins counter-clockwise") == "spins clockwise"
    assert mirror_caption("raises the right hand, stepping leftward") == "raises the left hand, stepping leftward"


@pytest.mark.parametrize("clip", [straight(1.0, direction_deg=60), turning(100.0), turning(-360.0, frames=240),
                                  right_hand_up(), hopping("left")])
def test_a_mirrored_clip_gets_the_mirrored_captions(clip):
    original = captions_from_motion(clip, FPS, (), 4, "m")
    assert captions_from_motion(mirrored(clip), FPS, (), 4, "m") == [mirror_caption(c) for c in original]
