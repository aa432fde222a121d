"""Captions from what a clip does, not only from its source label: speed, direction, turns, staying in place,
sitting / crouching / kneeling / lying down and getting up, raised hands, jumps and hops, read off the joints by
``moscale.motion.measures`` and combined with the label's own verb phrases ("walks forward", "waves the right
hand") into several captions, e.g. "a person walks slowly to the left", "someone stands still, shifting their
weight", "a person jogs in a circle to the right".

    facts = describe(joints_TJ3, 20, "walk", ("walks forward", "walks ahead"))
    captions = captions_from_motion(joints_TJ3, 20, ("walks forward", "walks ahead"), 4, key="bandai_walk_001")

The label is never contradicted. A modifier is only added for what the label does not already say (a label with
"slowly", "forward", "turns", "sits", "hand", "jumps" keeps its own word on that), and the measured locomotion verb
stays in the label's family (a "run" label may become "jogs" or "sprints" by speed, never "walks"; a "walk" label
at 2 m/s "walks quickly"). Where the motion and the label disagree - a locomotion label on a clip whose pelvis stays
put and whose feet do not step, a label direction or turn the other way round, a raised hand on the other side, a
label "in place" on a clip that travels - ``MotionFacts.conflicts`` says so and ``captions_from_motion`` returns
the label's phrases unchanged (the corpus should rather drop such a window). A locomotion label in place whose feet
do step becomes "walks in place" unless the label names a direction (then it is a conflict).

On the real clips (3,317: Bandai-Namco 1+2, CMU 01-14, ReActIdle, DeepMimic) the labels conflict with the motion
only in Bandai set 2 walk-turn-right normal_004, _032, _033 (they turn left, like the relabelled 006/007), DeepMimic
spin ("turns around in place" while drifting 1.4 m) and the two long stealthy walks' top-level phrases.

Every word this module writes is known to the caption tagger (``caption_words.known_word``; a test enumerates
them). ``mirror_caption`` swaps left and right for the corpus's mirrored clips.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field, replace

import numpy as np

from moscale.data import motion_phrases as wording
from moscale.data.captions import SUBJECTS, _rng, _sentence
from moscale.motion import measures

IN_PLACE_CADENCE = 0.8  # steps/s: a locomotion label in place with at least this cadence "walks in place"
MIN_TRAVEL_WHILE_M = 1.0  # a non-locomotion label travelling this far gets "while moving forward"
PART_MOVING = (0.15, 0.6)  # a locomotion clip moving for a share of frames in this range starts or stops
MAX_EXTRAS = 2  # modifiers per caption at most (captions stay short for the text encoder)
MIN_HELD_S = 1.0  # a posture held this long mid-clip is worth a word (the crouch before a jump is shorter)


def _set(spec: str) -> set[str]:
    return set(spec.split())


_WALK = _set("walk walks walking stroll strolls amble ambles march marches stride strides saunter saunters wander "
             "wanders trudge trudges shuffle shuffles sneak sneaks creep creeps tiptoe tiptoes shamble shambles paces "
             "steps navigate")
_RUN = _set("run runs running jog jogs jogging sprint sprints dash dashes race races bolt bolts trot trots hurry "
            "hurries")
# words of a label that speak for a kind of modifier (the measured one is then left out)
_COVERS: dict[str, set[str]] = {
    "pace": _set("slow slowly fast quickly quick brisk briskly leisurely hurry hurries race races dash dashes sprint "
                 "sprints jog jogs stroll strolls amble ambles trudge trudges saunter saunters shuffle shuffles tiptoe "
                 "tiptoes stealthily sneak sneaks creep creeps wearily sluggishly tired exhausted elderly old "
                 "energetically vigorously speed pace"),
    "direction": _set("forward forwards backward backwards sideways diagonally ahead reverse straight around navigate "
                      "retreat retreats back left right"),
    "turn": _set("turn turns turning around round circle circles spin spins pirouette pirouettes curve veer veers "
                 "tourant cartwheel flip flips roll rolls"),
    "posture": _set("sit sits sitting seat stool stepstool squat squats crouch crouches kneel kneels lie lies lying "
                    "rise rises lower lowers floor ground crawl crawls roll rolls flip flips backflip cartwheel up "
                    "bend bends climb climbs ladder"),
    "arms": _set("hand hands arm arms wave waves raise raises lift lifts point points punch punches box boxes throw "
                 "throws slash slashes sword clap claps drink drinks wash washes reach reaches grab grabs climb climbs "
                 "jacks swordplay zombie dribble dribbles shoot shoots cartwheel flip backflip"),
    "jump": _set("jump jumps jumping hop hops leap leaps jete jetes skip skips bounce bounces flip flips backflip "
                 "cartwheel jacks"),
    "place": _set("place still stays spot stands idle"),
}
_LIMB_SIDE = re.compile(r"\b(left|right) (hand|arm|leg|foot|fist|knee|side|shoulder)s?\b")

@dataclass(frozen=True)
class Extra:
    """One measured modifier: alternative wordings, and how it joins a verb phrase: 'adverb' is appended ("walks
    forward" + "slowly"), 'clause' with "and" ("... and turns left"), 'prefix' goes before ("stands still, then
    ...")."""

    name: str  # pace, direction, turn, circle, place, start, stop, posture, arms, jump, travel
    kind: str
    wordings: tuple[str, ...]


@dataclass(frozen=True)
class MotionFacts:
    """What the measurements say about a clip (standard-body metres, see moscale.motion.measures) and what the
    label already covers."""

    travel: measures.Travel
    turn: measures.Turn
    cadence_steps_per_s: float
    gait: str  # measured: still, walk, jog, run, sprint
    direction: str | None  # measures.direction_name
    in_place: bool
    shifting_weight: bool
    start_stop: str | None  # "starts" (stands, then moves) or "stops" (moves, then stands) or None
    circle: bool
    spin: bool
    postures: tuple[str, ...]  # held postures in order (measures.posture_segments)
    hands: dict[str, str | None]  # side -> "overhead", "raised", "shoulder" or None
    jumps: int
    hop: str | None
    label_family: str | None  # "walk" / "run" when the label is locomotion
    covered: frozenset[str]  # what the label itself speaks for (pace, direction, turn, posture, arms, jump, place);
    # each phrase leaves out what it says itself too
    conflicts: tuple[str, ...] = ()
    verb: tuple[str, ...] = ()  # the measured locomotion verb, in the label's family ("jogs", "runs slowly")
    extras: tuple[Extra, ...] = field(default=())  # what the captions may add to the label's phrases


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def _covered(text: str) -> set[str]:
    """The kinds of modifier a label or phrase speaks for itself ("left" of a hand or of a turn is no direction)."""
    text = text.lower().replace("-", " ").replace("_", " ")
    words = set(_words(_LIMB_SIDE.sub(" ", text)))
    covered = {category for category, cues in _COVERS.items() if words & cues}
    if "direction" in covered and not words & (_COVERS["direction"] - {"left", "right"}) and words & _TURNING:
        covered.discard("direction")
    return covered


_TURNING = {"turn", "turns", "curve", "circle", "veer", "veers"}


def _label_facts(label: str | None, phrases: tuple[str, ...]) -> tuple[str | None, set[str], dict[str, set[str]]]:
    """(locomotion family, what the label itself covers, sides label and phrases name: {"turn", "direction",
    "limb"} -> sides). The family comes from the label, else from the phrases."""
    texts = [text.lower().replace("-", " ").replace("_", " ") for text in ((label or ""),) + tuple(phrases)]
    family = None
    for words in ({word for word in _words(texts[0])}, {word for text in texts[1:] for word in _words(text)}):
        families = {name for name, verbs in (("walk", _WALK), ("run", _RUN)) if words & verbs}
        if families:
            family = families.pop() if len(families) == 1 else None
            break
    sides: dict[str, set[str]] = {"turn": set(), "direction": set(), "limb": set()}
    wanders = False
    for text in texts:
        sides["limb"] |= {match.group(1) for match in _LIMB_SIDE.finditer(text)}
        rest = set(_words(_LIMB_SIDE.sub(" ", text)))
        sides["turn" if rest & _TURNING else "direction"] |= rest & {"left", "right"}
        if rest & {"backward", "backwards", "reverse", "retreat", "retreats"}:
            sides["direction"].add("backward")
        if rest & {"forward", "forwards", "ahead"}:
            sides["direction"].add("forward")
        if rest & {"sideways", "around"} and not rest & {"turn", "turns", "spin", "spins"}:
            wanders = True  # "sneaks around", "steps forwards, sideways and back": every way is the label's
    if wanders:
        sides["direction"] = set()
    return family, _covered(label or ""), sides


def _conflicts(facts: MotionFacts, sides: dict[str, set[str]], words: set[str]) -> list[str]:
    """Where the measurements say the label is wrong (see the module docstring)."""
    found = []
    moved = facts.travel
    if facts.label_family and facts.in_place:
        if facts.cadence_steps_per_s < IN_PLACE_CADENCE:
            found.append("a locomotion label, but the pelvis stays in place and the feet do not step")
        elif sides["direction"]:
            found.append("a locomotion label with a direction, but the pelvis stays in place")
    if "backward" in sides["direction"] and moved.forward_m > measures.MIN_TRAVEL_M:
        found.append("the label says backwards, the body travels forward")
    if "forward" in sides["direction"] and moved.forward_m < -measures.MIN_TRAVEL_M:
        found.append("the label says forward, the body travels backwards")
    for side, other in (("left", "right"), ("right", "left")):
        if side in sides["direction"] and other not in sides["direction"] and facts.direction and \
                facts.direction.endswith(other):
            found.append(f"the label says {side}, the body travels to the {other}")
        if side in sides["turn"] and other not in sides["turn"] and measures.turn_side(facts.turn) == other:
            found.append(f"the label turns {side}, the body turns {other}")
        raises = words & {"raise", "raises", "wave", "waves", "lift", "lifts"}
        if raises and side in sides["limb"] and other not in sides["limb"] and \
                facts.hands[side] in (None, "shoulder") and facts.hands[other] in ("raised", "overhead"):
            found.append(f"the label raises the {side} hand, the {other} one goes up")
    if {"place", "still"} & words and not facts.in_place and moved.path_m >= MIN_TRAVEL_WHILE_M:
        found.append("the label says in place, the body travels")
    return found


def describe(joints_TJ3: np.ndarray, fps: float, label: str | None, phrases: tuple[str, ...]) -> MotionFacts:
    """Measure a clip (any body size: it is scaled to the standard body first) and set the measurements against
    its label (a source action name such as "walk-turn-left", a description, or None) and the label's verb
    phrases ("walks forward", ...)."""
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    joints = joints * measures.standard_scale(joints)
    moved, turn = measures.travel(joints, fps), measures.turning(joints, fps)
    cadence = measures.steps(joints, fps) / max(moved.duration_s, 1e-9)
    moving = measures.moving_frames(joints, fps)
    start_stop = None
    if PART_MOVING[0] <= moving.mean() <= PART_MOVING[1] and moved.path_m >= measures.MIN_TRAVEL_M:
        start_stop = "stops" if np.nonzero(moving)[0].mean() < 0.5 * len(moving) else "starts"
    segments = measures.posture_segments(joints, fps)
    held = [name for i, (name, start, stop) in enumerate(segments)  # a clip may start or end in a short one
            if (stop - start) / fps >= (measures.MIN_POSTURE_S if i in (0, len(segments) - 1) else MIN_HELD_S)]
    family, covered, sides = _label_facts(label, phrases)
    facts = MotionFacts(
        travel=moved, turn=turn, cadence_steps_per_s=cadence, gait=measures.gait(moved, cadence),
        direction=measures.direction_name(moved), in_place=measures.stays_in_place(moved),
        shifting_weight=measures.shifts_weight(moved), start_stop=start_stop,
        circle=measures.is_circle(turn, moved), spin=measures.is_spin(turn, moved),
        postures=tuple(name for i, name in enumerate(held) if i == 0 or held[i - 1] != name),
        hands=measures.raised_hands(joints, fps), jumps=len(measures.jumps(joints, fps)),
        hop=measures.hop_side(joints, fps), label_family=family, covered=frozenset(covered))
    words = {word for text in ((label or ""),) + tuple(phrases) for word in _words(text.replace("-", " "))}
    verb = _verb(facts, set(_words((label or "").replace("-", " "))), labelled=bool(label or phrases))
    return replace(facts, conflicts=tuple(_conflicts(facts, sides, words)), verb=verb, extras=_extras(facts, verb))


def _verb(facts: MotionFacts, words: set[str], labelled: bool) -> tuple[str, ...]:
    """The locomotion verb the measurements allow within the label's family (any gait without a label); a "jog" or
    "dash" label keeps its own."""
    family = facts.label_family
    if family == "walk":
        return ("walks",)
    if family == "run":
        if words & {"jog", "jogs", "jogging"}:
            return ("jogs",)
        if words & {"sprint", "sprints", "dash", "dashes"}:
            return wording.GAIT_VERBS["sprint"]
        return wording.GAIT_VERBS["jog" if facts.gait in ("walk", "jog", "still") else facts.gait]
    if facts.gait == "still" or labelled:
        return ()
    return wording.GAIT_VERBS[facts.gait]


def _extras(facts: MotionFacts, verb: tuple[str, ...]) -> tuple[Extra, ...]:
    """The measured modifiers that the label does not speak for, worded for its kind of phrase."""
    extras: list[Extra] = []
    covered, moved = facts.covered, facts.travel
    locomotion = bool(facts.label_family) or bool(verb)
    standing = facts.postures in ((), ("standing",))
    if locomotion:
        if "pace" not in covered and facts.gait != "still":
            run_gait = "jog" if facts.gait in ("walk", "jog") else facts.gait
            paces = wording.WALK_PACES[measures.walk_pace(moved)] if verb == ("walks",) else \
                wording.RUN_PACES.get(run_gait, ()) if facts.label_family == "run" else ()  # "jogs" says it
            if paces:
                extras.append(Extra("pace", "adverb", paces))
        if facts.in_place and "place" not in covered:
            extras.append(Extra("place", "adverb", wording.IN_PLACE))
        elif facts.circle and "turn" not in covered:
            extras.append(Extra("circle", "adverb", wording.circle_adverbs(facts.turn.net_deg)))
        elif facts.direction and "direction" not in covered and not (
                facts.direction == "forward" and "turn" in covered):  # "runs in a curve to the left" is forward
            extras.append(Extra("direction", "adverb", wording.direction_phrases(facts.direction)))
        if facts.start_stop == "stops":
            extras.append(Extra("stop", "clause", wording.STOPS))
        elif facts.start_stop == "starts":
            extras.append(Extra("start", "prefix", wording.STARTS))
    elif not facts.in_place and moved.path_m >= MIN_TRAVEL_WHILE_M and "direction" not in covered and \
            facts.direction and standing:  # getting up or rolling moves the pelvis too
        extras.append(Extra("travel", "adverb", tuple(f"while moving {d}" for d in
                                                      wording.direction_phrases(facts.direction))))
    elif facts.in_place and standing and not covered & {"place", "posture"}:
        extras.append(Extra("place", "adverb", wording.WHILE_STILL))
    if "turn" not in covered and not facts.circle:
        turns = wording.turn_phrases(facts.turn.net_deg, spin=facts.spin)
        if turns:
            extras.append(Extra("turn", "clause", turns))
    if "posture" not in covered and wording.posture_phrases(facts.postures):
        extras.append(Extra("posture", "clause", wording.posture_phrases(facts.postures)))
    if "arms" not in covered and wording.hands_phrases(facts.hands):  # one of the two goes, by the base
        extras.append(Extra("arms", "clause", wording.hands_phrases(facts.hands)))
        extras.append(Extra("arms_with", "adverb", wording.hands_phrases(facts.hands, adverbial=True)))
    if "jump" not in covered:
        jumps = wording.jump_phrases(facts.jumps, facts.hop, forward=facts.direction == "forward",
                                     in_place=facts.in_place)
        if jumps:
            extras.append(Extra("jump", "clause", jumps))
    return tuple(extra for extra in extras if extra.wordings)


def _main_phrases(facts: MotionFacts) -> tuple[str, ...]:
    """Verb phrases from the measurements alone, for a clip without a label."""
    if facts.hop or facts.jumps:
        return wording.jump_phrases(facts.jumps, facts.hop, forward=facts.direction == "forward",
                                    in_place=facts.in_place)
    postures = wording.posture_phrases(facts.postures)
    if postures:
        return postures
    if facts.spin:
        return wording.turn_phrases(facts.turn.net_deg, spin=True)
    if facts.gait == "still" and facts.postures in ((), ("standing",)):
        return wording.SHIFTING if facts.shifting_weight and facts.cadence_steps_per_s < IN_PLACE_CADENCE else \
            wording.STILL
    return facts.verb


def _strip_subject(phrase: str) -> str:
    for subject in SUBJECTS + ("a man", "a woman", "the man", "the woman"):
        if phrase.lower().startswith(subject + " "):
            return phrase[len(subject) + 1:]
    return phrase


_KIND_OF = {"pace": {"pace"}, "direction": {"direction"}, "circle": {"turn", "direction"}, "travel": {"direction"},
            "turn": {"turn"}, "place": {"place"}, "posture": {"posture"}, "arms": {"arms"}, "arms_with": {"arms"},
            "jump": {"jump"}, "start": set(), "stop": set()}
_ADVERB_ORDER = ("place", "circle", "direction", "travel", "pace", "arms_with")
_WHERE = {"place", "circle", "direction"}  # right after a locomotion verb
_CLAUSE_BREAK = re.compile(r",| and (?=(?:then )?[a-z]+s\b)| then | while ")  # "and to the left" goes on


def _compose(base: str, chosen: tuple[Extra, ...], variant: int) -> str:
    """The adverbs (where, how fast, with what) go right after the first verb phrase of the base ("walks forward
    slowly and turns left"), the clauses at the end with "and", a prefix before it all."""
    def pick(extra: Extra) -> str:
        usable = [w for w in extra.wordings if not (w.startswith("while ") and " while " in f" {base} ")]
        return (usable or list(extra.wordings))[variant % len(usable or extra.wordings)]

    adverbs = sorted((e for e in chosen if e.kind == "adverb"), key=lambda e: _ADVERB_ORDER.index(e.name))
    verb, _, rest = base.partition(" ")
    where = [e for e in adverbs if e.name in _WHERE]
    if where and verb in _WALK | _RUN and rest.startswith(("at ", "in ", "with ", "like ", "while ", "and ", "then ")):
        # "walks at a steady pace" -> "walks forward at a steady pace"
        base = " ".join([verb] + [pick(e) for e in where] + [rest])
        adverbs = [e for e in adverbs if e.name not in _WHERE]
    match = _CLAUSE_BREAK.search(base)
    cut = match.start() if match else len(base)
    text = " ".join([base[:cut]] + [pick(e) for e in adverbs]) + base[cut:]
    for extra in chosen:
        if extra.kind == "clause":
            wording_ = pick(extra)
            text = f"{text} {wording_}" if wording_.startswith("and ") else f"{text} and {wording_}"
    for extra in chosen:
        if extra.kind == "prefix":
            text = f"{pick(extra)} {text}"
    return text


def _bases(facts: MotionFacts, phrases: tuple[str, ...]) -> tuple[list[str], set[str]]:
    """The verb phrases captions start from, and the extras they already carry (a label phrase whose verb the
    speed changed, "runs forward" -> "jogs forward", carries the extra "verb")."""
    bases = [_strip_subject(p.strip().rstrip(".")) for p in phrases if p.strip()]
    if bases:
        verbs = [verb for verb in facts.verb if " " not in verb]
        if facts.label_family == "run" and verbs:  # "runs forward" -> "jogs forward" by speed
            swapped = [f"{verbs[0]} {rest}".strip() for first, _, rest in (b.partition(" ") for b in bases)
                       if first in _RUN and first != verbs[0] and "pace" not in _covered(rest)]
            bases += [b for b in swapped if b not in bases]
        return bases, set()
    main = _main_phrases(facts)
    if main and main == facts.verb:  # no label: the verb carries where it goes
        where = [e for e in facts.extras if e.name in ("place", "circle", "direction")]
        if where:
            return [_compose(verb, (where[0],), i) for i in range(len(where[0].wordings)) for verb in main], \
                {where[0].name}
        return list(main), set()
    used = {"pace", "direction", "circle", "place", "start", "stop", "travel"}  # locomotion words fit no other verb
    if facts.jumps or facts.hop:
        used.add("jump")
    if main in (wording.STILL, wording.SHIFTING):
        used |= {"place", "pace"}
    if main == wording.posture_phrases(facts.postures):
        used.add("posture")
    if facts.spin and main == wording.turn_phrases(facts.turn.net_deg, spin=True):
        used.add("turn")
    return list(main), used


def _options(facts: MotionFacts, phrases: tuple[str, ...]) -> list[tuple[str, frozenset[str]]]:
    """(verb phrase, names of the extras it carries) for every base phrase and every small set of extras."""
    if facts.conflicts:
        return [(_strip_subject(p.strip().rstrip(".")), frozenset()) for p in phrases if p.strip()]
    bases, used = _bases(facts, phrases)
    labelled = {_strip_subject(p.strip().rstrip(".")) for p in phrases}
    locomotion = bool(facts.label_family) or (not phrases and "pace" not in used and bool(facts.verb))
    used.add("arms" if locomotion else "arms_with")
    extras = [extra for extra in facts.extras if extra.name not in used]
    carried = frozenset(used - {"arms", "arms_with"})
    carries = {base: carried | ({"verb"} if phrases and base not in labelled else set()) for base in bases}
    base_covers = {base: _covered(base) for base in bases}
    options = [(base, carries[base]) for base in bases]
    for size in range(1, MAX_EXTRAS + 1):
        for chosen in itertools.combinations(extras, size):
            if sum(extra.kind == "prefix" for extra in chosen) > 1:
                continue
            clauses = sum(extra.kind == "clause" for extra in chosen)
            for variant in range(max(len(extra.wordings) for extra in chosen)):
                for base in bases:
                    if clauses > 1 and " and " in base:  # one "and" too many
                        continue
                    if any(_KIND_OF[e.name] & base_covers[base] for e in chosen):  # "jogs forward" has its pace
                        continue
                    if facts.direction == "forward" and "turn" in base_covers[base] and \
                            any(e.name == "direction" for e in chosen):  # "turns left while walking" goes forward
                        continue
                    options.append((_compose(base, chosen, variant), carries[base] | {e.name for e in chosen}))
    return options


def captions_from_motion(joints_TJ3: np.ndarray, fps: float, action_phrases: tuple[str, ...], count: int, key: str,
                         *, label: str | None = None) -> list[str]:
    """``count`` distinct captions (fewer only if the wordings run out), deterministic in ``key``: the label's
    phrases with what the measurements add, spread so that every measured modifier appears in some caption;
    without phrases, the measurements alone ("a person walks slowly to the left"). On a conflict (see the module
    docstring) the label's phrases come back unchanged."""
    facts = describe(joints_TJ3, fps, label, tuple(action_phrases))
    options = list(dict.fromkeys(_options(facts, tuple(action_phrases))))
    rng = _rng(key)
    order = {option: rng.random() for option in options}
    wanted = {extra.name for extra in facts.extras} | {"verb"}
    chosen: list[tuple[str, str]] = []
    seen_names: set[str] = set()
    while len(chosen) < count:
        texts = {text for _, text in chosen}
        subjects = [s for s in SUBJECTS if s not in {subject for subject, _ in chosen}] or list(SUBJECTS)
        left = [option for option in options if option[0] not in texts]
        if not left:  # the wordings ran out: the same words with another subject
            left = [option for option in options if any((s, option[0]) not in chosen for s in SUBJECTS)]
            if not left:
                break
        # extras not yet shown first, then captions that carry more extras, then the label alone
        best = max(left, key=lambda o: (len((o[1] & wanted) - seen_names), len(o[1] & wanted), order[o]))
        free = [s for s in subjects if (s, best[0]) not in chosen] or \
            [s for s in SUBJECTS if (s, best[0]) not in chosen]
        chosen.append((free[int(order[best] * 1e6) % len(free)], best[0]))
        seen_names |= best[1]
    return [_sentence(f"{subject} {text}") for subject, text in chosen]


_MIRROR = {"left": "right", "right": "left", "clockwise": "counterclockwise", "counterclockwise": "clockwise"}


def mirror_caption(text: str) -> str:
    """The caption of the left-right mirrored clip: left <-> right, clockwise <-> counterclockwise (also
    "counter-clockwise"), keeping capitals. ("left" as the past of "leave" would be swapped too; motion captions
    do not use it.)"""
    def swap(match: re.Match) -> str:
        word = match.group(0)
        mirrored = _MIRROR[word.lower().replace("-", "")]
        return mirrored.capitalize() if word[0].isupper() else mirrored

    return re.sub(r"\b(?:counter-?clockwise|clockwise|left|right)\b", swap, text, flags=re.IGNORECASE)
