"""Wordings for what ``moscale.motion.measures`` finds in a clip: third-person verb phrases (no subject) and
adverbials, each as a tuple of alternatives to paraphrase with. Every word here is known to the caption tagger
(``caption_words.known_word``); ``all_words`` lists them for the test that keeps it so."""
from __future__ import annotations

import re

DIRECTIONS: dict[str, tuple[str, ...]] = {
    "forward": ("forward", "straight ahead", "ahead"),
    "backward": ("backwards", "backward", "in reverse"),
    "left": ("sideways to the left", "to the left", "to their left"),
    "right": ("sideways to the right", "to the right", "to their right"),
    "forward-left": ("diagonally forward to the left", "forward and to the left", "diagonally to the left"),
    "forward-right": ("diagonally forward to the right", "forward and to the right", "diagonally to the right"),
    "backward-left": ("diagonally backwards to the left", "backwards and to the left"),
    "backward-right": ("diagonally backwards to the right", "backwards and to the right"),
}
WALK_PACES: dict[str, tuple[str, ...]] = {
    "slow": ("slowly", "at a slow pace", "leisurely"),
    "normal": ("at a normal pace", "at a steady pace", "at an ordinary pace"),
    "fast": ("quickly", "briskly", "at a brisk pace", "fast"),
}
RUN_PACES: dict[str, tuple[str, ...]] = {"jog": ("slowly", "at a jogging pace"), "sprint": ("fast", "very fast")}
GAIT_VERBS: dict[str, tuple[str, ...]] = {
    "walk": ("walks",), "jog": ("jogs", "runs slowly"), "run": ("runs",), "sprint": ("sprints", "runs fast"),
}
STILL = ("stands still", "stands in place", "stays in place", "stands without moving")
SHIFTING = ("stands still, shifting their weight", "stands in place, shifting their weight from foot to foot",
            "shifts their weight while standing in place")
IN_PLACE = ("in place", "on the spot")
WHILE_STILL = ("while standing in place", "while standing still", "without moving from the spot")
STOPS = ("and then stops", "and comes to a stop")
STARTS = ("stands still, then", "stands in place for a moment, then")

_HOLD = {"sitting": ("sits", "sits still", "is sitting"), "crouching": ("crouches", "squats", "crouches low"),
         "kneeling": ("kneels", "kneels on the floor", "is kneeling"),
         "lying": ("lies on the floor", "lies on the ground", "lies down")}
_DOWN = {"sitting": ("sits down", "takes a seat"), "crouching": ("crouches down", "squats down"),
         "kneeling": ("kneels down", "goes down on their knees"),
         "lying": ("lies down", "lies down on the floor", "gets down and lies on the floor")}
_UP = {"sitting": ("stands up", "gets up", "rises from the seat"),
       "crouching": ("stands up", "rises from a crouch", "stands back up"),
       "kneeling": ("gets up", "stands up from kneeling"),
       "lying": ("gets up from the floor", "gets up off the ground", "stands up from lying on the floor")}
_REPEATS = {2: ("twice", "two times"), 3: ("several times", "again and again")}


def direction_phrases(direction: str | None) -> tuple[str, ...]:
    return DIRECTIONS.get(direction or "", ())


def turn_phrases(net_deg: float, *, spin: bool = False) -> tuple[str, ...]:
    """How a net heading change reads (+ = left), rounded to 45, 90, 135, 180, 270 degrees or full turns."""
    side = "left" if net_deg > 0 else "right"
    angle = abs(net_deg)
    if spin:
        if angle >= 630.0:
            return ("spins around twice", "turns around in place twice", f"spins twice to the {side}")
        return ("spins around", "spins in place", "turns a full circle in place", f"spins around to the {side}")
    if angle < 30.0:
        return ()
    if angle < 67.5:
        return (f"turns slightly to the {side}", f"veers {side}", f"turns {side} by about 45 degrees")
    if angle < 112.5:
        return (f"turns {side} by about 90 degrees", f"turns {side}", f"makes a {side} turn",
                f"turns 90 degrees to the {side}")
    if angle < 157.5:
        return (f"turns {side} by about 135 degrees", f"turns sharply to the {side}")
    if angle < 225.0:
        return ("turns around", f"turns around to the {side}", f"turns 180 degrees to the {side}")
    if angle < 300.0:
        return (f"turns {side} by about 270 degrees", f"turns most of the way around to the {side}")
    return (f"turns a full circle to the {side}", "turns all the way around")


def circle_adverbs(net_deg: float) -> tuple[str, ...]:
    """'in a circle to the left': a left circle is counterclockwise seen from above."""
    side, spin = ("left", "counterclockwise") if net_deg > 0 else ("right", "clockwise")
    return (f"in a circle to the {side}", f"in a {spin} circle", f"around in a circle to the {side}")


def posture_phrases(postures: tuple[str, ...]) -> tuple[str, ...]:
    """Verb phrases for the sequence of held postures: holds, going down, getting up, down and up again."""
    postures = tuple(name for i, name in enumerate(postures) if i == 0 or postures[i - 1] != name)
    if not postures or postures == ("standing",):
        return ()
    if "standing" not in postures:  # low all along
        low = postures
        if len(low) == 1:
            return _HOLD[low[0]]
        if low[0] == "lying" and low[-1] == "sitting":
            return ("sits up", "sits up from lying on the floor")
        return (f"goes from {low[0]} to {low[-1]}",)  # the posture names are gerunds
    events: list[tuple[str, ...]] = []
    for index, name in enumerate(postures):
        if index == 0:
            continue
        before = postures[index - 1]
        if before == "standing":
            events.append(_DOWN[name])
        elif name == "standing":
            start = index - 1
            while start > 0 and postures[start - 1] != "standing":
                start -= 1
            events.append(_UP[postures[start]])
    events = [event for event in events if event]
    if not events:
        return ()
    if len(events) == 1:
        return events[0]
    if len(events) > 2 and all(events[i] == events[i % 2] for i in range(len(events))):
        repeat = _REPEATS[min((len(events) + 1) // 2, 3)]
        if len(events) % 2:  # down, up, down: ends low
            return tuple(f"{down} {times}, standing up in between" for down, times in zip(events[0], repeat * 3))
        return tuple(f"{down} and {up} {times}" for down, up, times in zip(events[0], events[1], repeat * 3))
    return tuple(f"{first} and then {second}" for first, second in zip(events[0], events[1] * 3))


def hands_phrases(hands: dict[str, str | None], *, adverbial: bool = False) -> tuple[str, ...]:
    """'raises the right hand (above the head)' or, adverbial, 'with the right hand raised'; 'shoulder' level and
    below say nothing (a hand at the chin or on the chest reaches it too)."""
    up = [side for side in ("left", "right") if hands.get(side) in ("raised", "overhead")]
    if not up:
        return ()
    overhead = all(hands[side] == "overhead" for side in up)
    if len(up) == 2:
        if adverbial:
            return ("with both hands raised", "with both arms up")
        phrases = ("raises both hands", "raises both arms", "puts both hands up")
        return phrases + (("raises both hands above the head", "lifts both arms over the head") if overhead else ())
    side = up[0]
    if adverbial:
        return (f"with the {side} hand raised", f"with the {side} arm up")
    phrases = (f"raises the {side} hand", f"lifts the {side} arm", f"puts the {side} hand up")
    return phrases + ((f"raises the {side} hand above the head", f"lifts the {side} arm overhead") if overhead else ())


def jump_phrases(jumps: int, hop: str | None, *, forward: bool, in_place: bool) -> tuple[str, ...]:
    if hop:
        return (f"hops on the {hop} leg", f"hops on the {hop} foot", "hops on one leg")
    if jumps <= 0:
        return ()
    if jumps == 1:
        if forward:
            return ("jumps forward", "leaps forward", "does a jump forward")
        return ("jumps in place", "jumps up", "does a jump") if in_place else ("jumps", "does a jump")
    repeat = _REPEATS[min(jumps, 3)]
    where = " in place" if in_place else " forward" if forward else ""
    return tuple(f"jumps{where} {times}" for times in repeat) + (("keeps jumping",) if jumps >= 3 else ())


def all_words() -> set[str]:
    """Every word these tables and functions can produce (for the vocabulary test)."""
    texts: list[str] = []
    for table in (DIRECTIONS, WALK_PACES, RUN_PACES, GAIT_VERBS, _HOLD, _DOWN, _UP, _REPEATS):
        texts += [text for alternatives in table.values() for text in alternatives]
    texts += list(STILL + SHIFTING + IN_PLACE + WHILE_STILL + STOPS + STARTS)
    for angle in (-700, -400, -250, -180, -120, -90, -45, 45, 90, 120, 180, 250, 400, 700):
        texts += turn_phrases(angle) + turn_phrases(angle, spin=True) + circle_adverbs(angle)
    names = ("standing", "sitting", "crouching", "kneeling", "lying")
    for first in names:
        for second in names:
            texts += posture_phrases((first, second)) + posture_phrases((first, second, first, second, first))
    for left in (None, "raised", "overhead"):
        for right in (None, "raised", "overhead"):
            for adverbial in (False, True):
                texts += hands_phrases({"left": left, "right": right}, adverbial=adverbial)
    for count in range(4):
        for hop in (None, "left", "right"):
            for forward, in_place in ((True, False), (False, True), (False, False)):
                texts += jump_phrases(count, hop, forward=forward, in_place=in_place)
    texts += ["moving", "while", "and", "then", "with", "starts", "walking", "jogging", "running", "sprinting"]
    return {word for text in texts for word in re.findall(r"[a-z]+", text.lower())}
