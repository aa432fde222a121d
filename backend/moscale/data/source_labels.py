"""What the newer small sources hold, in words: CMU dance and martial-arts takes, ReActIdle's standing idle, the
Mesh2Motion CC0 animations (hand-keyed; .blend actions and glTF clips read by `moscale data extract`) and the
DeepMimic clips (labels in moscale.motion.deepmimic). Each label gives verb phrases (third person, no subject);
captions are made from them by ``label_captions``, and the motion-derived words (speed, direction, turns, heights)
are added per window by moscale.data.motion_captions.
"""
from __future__ import annotations

import re

from moscale.data.captions import SUBJECTS, _pick

# cmu-dances-acrnn: folder -> (true frame rate, label, phrases). Every header says 120 fps; salsa is 60 fps: at
# 120 its pelvis moved 0.7-0.9 m/s (median) and its feet 4-5 m/s (95th percentile), twice the Indian-dance and
# martial-arts takes of the same capture (0.2-0.5 m/s, 2.6-5 m/s), and its publisher's readme says 60.
DANCE_FOLDERS: dict[str, tuple[float, str, tuple[str, ...]]] = {
    "salsa": (60.0, "salsa", ("dances salsa", "dances the salsa", "does salsa steps", "dances salsa with quick steps")),
    "indian": (120.0, "indian-dance", ("performs an indian dance", "does a classical indian dance",
                                       "dances in an indian style", "dances with graceful hand gestures")),
    "martial": (120.0, "martial-arts", ("practices martial arts", "does martial arts moves",
                                        "performs a martial arts routine", "kicks and strikes in martial arts")),
}

# ReActIdle: folder -> phrases (people standing idle; acted and genuine idling look alike in the motion).
IDLE_PHRASES: tuple[str, ...] = (
    "stands idle", "stands still, shifting their weight", "stands in place and looks around", "waits, standing still",
    "stands and fidgets", "stands in place", "stands around idly", "stays in place, shifting weight from foot to foot",
)

# Mesh2Motion: normalised action name (``action_key``) -> (label, phrases); None: left out of the corpus (props,
# magic, flying, T-pose: motions no prompt describes well, or that are not a person's own motion). The walk, jog,
# sprint and run cycles have no root motion: they are labelled as in place (the motion's own words say so too).
MESH2MOTION_ACTIONS: dict[str, tuple[str, tuple[str, ...]] | None] = {
    "victory": ("cheer", ("cheers with both arms raised", "celebrates a victory", "raises both fists in triumph")),
    "dance-reach-hip": ("dance", ("dances, reaching out and touching the hip", "dances")),
    "jumping-jacks": ("jumping-jacks", ("does jumping jacks", "does star jumps", "jumps, spreading the arms and legs")),
    "head-nod": ("nod", ("nods the head", "nods yes", "stands and nods")),
    "crawl": ("crawl", ("crawls forward on hands and knees", "crawls on all fours", "crawls forward")),
    "crawl-rm": ("crawl", ("crawls forward on hands and knees", "crawls on all fours", "crawls forward")),
    "fighting-left-jab": ("punch", ("throws a jab with the left fist", "jabs with the left hand", "punches with the left fist")),
    "fighting-right-jab": ("punch", ("throws a jab with the right fist", "jabs with the right hand",
                                     "punches with the right fist")),
    "fighting-idle": ("fight-stance", ("stands in a fighting stance", "holds up both fists, ready to fight")),
    "sleeping": ("lie", ("lies on the ground asleep", "lies down and sleeps", "lies on the floor")),
    "dance-body-roll": ("dance", ("dances with a body roll", "does a body roll", "dances")),
    "dance-charleston": ("dance", ("dances the charleston", "does the charleston", "dances")),
    "pushup": ("push-up", ("does push-ups", "does a push-up on the floor", "does press-ups")),
    "shiver": ("shiver", ("shivers with cold", "stands shivering", "hugs themself and shivers")),
    "reject": ("reject", ("shakes the head and waves a hand no", "refuses with a wave of the hand")),
    "meditate": ("sit", ("sits cross-legged and meditates", "meditates sitting on the floor", "sits on the floor")),
    "run-anime": ("run-in-place", ("runs in place with the arms stretched back", "runs on the spot")),
    "backflip": ("backflip", ("does a backflip", "does a back somersault", "flips backwards")),
    "idle-listening": ("idle", ("stands and listens", "stands still, listening")),
    "tired-kneeling": ("kneel", ("kneels on one knee, exhausted", "kneels down, tired", "kneels on the ground")),
    "throw-ball": ("throw", ("throws a ball overhand", "throws a ball", "winds up and throws a ball")),
    "confused": ("confused", ("looks around confused, scratching the head", "shrugs, confused")),
    "tired-hunched": ("tired", ("stands hunched over, exhausted", "stands bent over, catching their breath")),
    "angry": ("angry", ("stamps and gestures angrily", "stands and shakes the fists angrily")),
    "defend": ("block", ("raises both arms to block", "holds up the arms in defence", "blocks with both arms")),
    "bow": ("bow", ("bows", "takes a bow", "bows politely")),
    "dizzy": ("dizzy", ("staggers around dizzy", "sways and stumbles, dizzy")),
    "crouch-fwd": ("crouch", ("walks crouching in place", "sneaks in a crouch", "moves crouched low")),
    "crouch-idle": ("crouch", ("crouches", "crouches down low", "squats down and stays low")),
    "dance": ("dance", ("dances", "dances to the music", "dances, swaying the body")),
    "death01": ("fall", ("falls to the ground", "collapses and falls down", "falls over backwards")),
    "driving": ("sit", ("sits and drives a car", "sits and turns a steering wheel")),
    "fixing-kneeling": ("kneel", ("kneels down and works with the hands", "kneels and fixes something on the floor")),
    "hit-chest": ("hit", ("is hit in the chest and staggers back", "recoils from a hit to the chest")),
    "hit-head": ("hit", ("is hit in the head and recoils", "reels back from a blow to the head")),
    "idle": ("idle", ("stands idle", "stands still", "stands in place, breathing")),
    "idle-talking": ("talk", ("stands and talks, gesturing with the hands", "talks, moving the hands")),
    "interact": ("reach", ("reaches forward to press a button", "reaches out with the right hand")),
    "jog-fwd": ("jog-in-place", ("jogs in place", "jogs on the spot", "runs slowly in place")),
    "jump": ("jump", ("jumps up", "jumps in place", "jumps")),
    "jump-start": ("jump", ("crouches and jumps up", "takes off for a jump")),
    "jump-land": ("jump", ("lands from a jump", "lands and recovers")),
    "pickup-table": ("pick-up", ("picks something up from a table", "reaches down and picks something up")),
    "punch-cross": ("punch", ("throws a cross punch", "punches forward with the right fist")),
    "punch-enter": ("fight-stance", ("raises the fists into a fighting stance", "gets ready to fight")),
    "punch-jab": ("punch", ("throws a jab", "jabs forward", "punches quickly")),
    "push": ("push", ("pushes something heavy", "pushes with both hands", "leans into a push")),
    "roll": ("roll", ("does a forward roll", "rolls forward on the ground", "tumbles forward")),
    "sitting-enter": ("sit-down", ("sits down", "sits down on a chair", "lowers themself onto a seat")),
    "sitting-exit": ("stand-up", ("stands up from a chair", "gets up from sitting", "rises from a seat")),
    "sitting-idle": ("sit", ("sits on a chair", "sits still", "sits idle")),
    "sitting-talking": ("sit", ("sits and talks, gesturing", "sits and chats with the hands moving")),
    "sprint": ("sprint-in-place", ("sprints in place", "runs in place as fast as possible", "sprints on the spot")),
    "swim-fwd": ("swim", ("swims", "swims breaststroke")),
    "swim-idle": ("swim", ("treads water", "floats, paddling the arms and legs")),
    "sword-attack": ("slash", ("attacks with a sword", "swings a sword", "slashes with a sword")),
    "sword-idle": ("sword-stance", ("stands holding a sword ready", "stands in a sword stance")),
    "walk-formal": ("walk-in-place", ("walks in place formally", "walks upright on the spot", "walks in place")),
    "walk": ("walk-in-place", ("walks in place", "walks on the spot", "marches in place")),
    "ymca": ("dance", ("dances the ymca", "dances, spelling letters with the arms")),
    # left out: props, magic, flying and the bind pose
    "t-pose": None, "flying-forward": None, "flying-forward-super": None, "levitate-idle": None,
    "levitate-entrance": None, "power-up": None, "consume-powerup": None, "two-hand-blast": None,
    "idle-torch": None, "pistol-aim-down": None, "pistol-aim-neutral": None, "pistol-aim-up": None,
    "pistol-idle": None, "pistol-reload": None, "pistol-shoot": None, "spell-simple-enter": None,
    "spell-simple-exit": None, "spell-simple-idle": None, "spell-simple-shoot": None,
}


def action_key(name: str) -> str:
    """A Mesh2Motion clip or file name as a MESH2MOTION_ACTIONS key: "Crouch_Fwd_Loop" -> "crouch-fwd",
    "animation-human-jumping-jacks" -> "jumping-jacks"."""
    text = re.sub(r"^animation-human-", "", name.strip().lower())
    text = re.sub(r"[_\s]+", "-", text)
    return re.sub(r"-loop$", "", text)


def label_captions(phrases: tuple[str, ...], count: int, key: str) -> list[str]:
    """``count`` distinct captions ("a person does jumping jacks.") from verb phrases, deterministic in ``key``."""
    return _pick([(subject, phrase) for phrase in phrases for subject in SUBJECTS], count, key)
