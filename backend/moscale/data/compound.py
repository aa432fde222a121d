"""Compound clips ("A, then B") and the held-out paraphrase / compound test set, added to a built corpus.

A text-to-motion model learns sequencing only from captions that describe a sequence. Our sources caption one action
per clip, so a model trained on them drops the second half of "walks forward, then waves" (measured: the headline
prompt travelled 0.15-0.34 m instead of walking). This module joins two clips of the same performer and style into one
training clip: B is turned and moved so that its first frame continues A's facing and position, the poses are blended
over a short transition (smoothstep weights on world joint positions), and the joined joints are re-encoded with the
corpus's own feature codec, so root velocities, rotations and foot contacts are consistent with the new motion. The
caption joins both actions with a sequencing template ("A, then B", "A and B", "A, stops and B", ...). Training
compounds last from 5 s to one model window (TRAINING_LENGTHS), so the model learns to fit both actions into the
length asked for.

Held out (never in train/val): compounds of *test* clips, worded also with a template training never uses, and every
Bandai test window re-captioned with the paraphrases of `captions.HELDOUT_PARAPHRASES`. They live in `heldout.txt`,
so `moscale eval generator --split heldout` reports top-1 on wordings and sequences the model has not seen.

Mean.npy/Std.npy stay those of the recorded train clips: compounds are re-combinations of them, and keeping the
statistics fixed keeps a tokenizer trained on the corpus valid for it.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from moscale.utils import atomic
from moscale.motion import features as codec
from moscale.motion import kinematics
from moscale.motion import rotations as rot
from moscale.motion.splice import smoothstep
from moscale.data import caption_words
from moscale.data import captions as captions_lib
from moscale.data.dataset import FEATURES_DIR, TEXTS_DIR, read_split
from moscale.motion.skeleton import FACE_JOINTS, MAX_FRAMES

HELDOUT_SPLIT = "heldout"
JOINTS_DIR = "new_joints"
TRANSITION_FRAMES = 10  # 0.5 s at 20 fps: long enough to look like a transition, short enough to keep both actions
MIN_PART_FRAMES = 40  # each part keeps at least 2 s of its action
# joint frames of a training compound, drawn uniformly: animators ask for 5-10 s clips, and a model that only ever saw
# 9.8 s compounds squeezed "walks forward, stops and waves" at 6 s into 0.6 m of walking
TRAINING_LENGTHS = (100, MAX_FRAMES + 1)
LOCOMOTION = frozenset({"walk", "run", "dash", "walk-back", "walk-left", "walk-right", "walk-turn-left",
                        "walk-turn-right"})

# {s}: subject, {a}/{b}: third-person verb phrases (with the style folded into the subject or the end).
TEMPLATES = ("{s} {a}, then {b}", "{s} {a} and then {b}", "{s} {a} and {b}", "{s} first {a}, then {b}",
             "{s} {a}, and then {b}", "{s} {a} before {b}ing")
LOCOMOTION_TEMPLATES = ("{s} {a}, stops and {b}", "{s} {a}, then stops and {b}", "{s} {a} and stops to {b0}")
HELDOUT_TEMPLATES = ("{s} {a}, and after that {b}", "{s} {a}; afterwards {b}")


@dataclass(frozen=True)
class Window:
    name: str
    action: str
    style: str
    group: str  # performer set: clips of one group share a skeleton and a recording setup


def bandai_windows(root: Path, split: str) -> list[Window]:
    """The split's Bandai-Namco windows with their action and style (from manifest.json); not their mirror images."""
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    listed = set(read_split(root, split))
    found = []
    for rec in manifest:
        if rec["source"] != "bandai" or rec.get("error"):
            continue
        group, _, style, _ = rec["name"].split("_")
        for window in rec["windows"]:
            # a mirror image does the other side's action ("waves the left hand" for a right-hand wave): only the
            # recording's own windows carry its label as it is
            if window in listed and not window.endswith("_mirror"):
                found.append(Window(window, rec["action"], style, f"{group}/{style}"))
    return found


def _verbs(action: str, heldout: bool = False) -> list[str]:
    """Single-action verb phrases usable inside a compound (no commas or 'then' of their own)."""
    phrases = captions_lib.HELDOUT_PARAPHRASES.get(action, ()) if heldout else captions_lib.action_phrases(action)
    return [p for p in phrases if "," not in p and " then " not in p]


_IRREGULAR_BASE = {"does": "do", "goes": "go", "has": "have"}
_DOUBLED = {"put": "putting", "hop": "hopping", "jog": "jogging", "step": "stepping", "run": "running", "swim": "swimming"}


def base_form(phrase: str) -> str:
    """'waves the right hand' -> 'wave the right hand' (the first word of a third-person verb phrase)."""
    verb, _, rest = phrase.partition(" ")
    if verb in _IRREGULAR_BASE:
        verb = _IRREGULAR_BASE[verb]
    elif verb.endswith("ies"):
        verb = verb[:-3] + "y"
    elif verb.endswith(("ches", "shes", "sses", "xes", "zes")):
        verb = verb[:-2]
    elif verb.endswith("s"):
        verb = verb[:-1]
    return f"{verb} {rest}".strip()


def gerund(phrase: str) -> str:
    """'waves the right hand' -> 'waving the right hand'."""
    verb, _, rest = base_form(phrase).partition(" ")
    if verb in _DOUBLED:
        verb = _DOUBLED[verb]
    elif verb.endswith("e") and not verb.endswith(("ee", "ye")):
        verb = verb[:-1] + "ing"
    else:
        verb += "ing"
    return f"{verb} {rest}".strip()


def compound_caption(a: Window, b: Window, rng: random.Random, heldout: bool = False) -> str:
    verb_a = rng.choice(_verbs(a.action) or [a.action])
    verb_b = rng.choice(_verbs(b.action) or [b.action])
    style = captions_lib.BANDAI_STYLES.get(a.style)
    subject = rng.choice(captions_lib.SUBJECTS)
    if style is not None and style.adjectives and rng.random() < 0.5:
        adjective = rng.choice(style.adjectives)
        article = captions_lib._article(adjective) if subject.startswith("a ") else "the"
        subject = f"{article} {adjective} {'person' if subject == 'someone' else subject.split()[-1]}"
        adverb = ""
    else:
        adverb = rng.choice(style.adverbs) if style is not None else ""
    if heldout:
        template = rng.choice(HELDOUT_TEMPLATES)
    elif a.action in LOCOMOTION and b.action not in LOCOMOTION and rng.random() < 0.5:
        template = rng.choice(LOCOMOTION_TEMPLATES)
    else:
        template = rng.choice(TEMPLATES)
    if "{b}ing" in template:
        template, verb_b = template.replace("{b}ing", "{b}"), gerund(verb_b)
    text = template.format(s=subject, a=verb_a, b=verb_b, b0=base_form(verb_b))
    return captions_lib._sentence(f"{text} {adverb}")


def _facing(joints_TJ3: np.ndarray, frame: int) -> np.ndarray:
    return kinematics.facing_rotations(joints_TJ3[frame:frame + 1], FACE_JOINTS)[0]


def join_joints(a_TJ3: np.ndarray, b_TJ3: np.ndarray, transition: int = TRANSITION_FRAMES) -> np.ndarray:
    """A then B as one (Ta + Tb - transition, 22, 3) motion: B turned about Y and moved on the floor so that its
    first frame has the facing and ground position of A's frame Ta - transition, then blended over `transition`."""
    start = len(a_TJ3) - transition
    turn = rot.multiply(rot.conjugate(_facing(a_TJ3, start)), _facing(b_TJ3, 0))  # B's facing frame -> A's
    b_local = b_TJ3 - b_TJ3[0, 0] * np.array([1.0, 0.0, 1.0])
    b_placed = rot.rotate(turn, b_local) + a_TJ3[start, 0] * np.array([1.0, 0.0, 1.0])
    u = (np.arange(1, transition + 1) / (transition + 1))[:, None, None]
    weight = smoothstep(u)  # no velocity kink where the blend begins and ends
    blended = (1 - weight) * a_TJ3[start:] + weight * b_placed[:transition]
    return np.concatenate([a_TJ3[:start], blended, b_placed[transition:]]).astype(np.float32)


def save_npy(path: Path, array: np.ndarray) -> None:
    """Atomic (moscale.utils.atomic): an interrupted build never leaves a half-written clip where the loader would find it."""
    with atomic.open_for_write(path) as handle:
        np.save(handle, array)


def atomic_write_text(path: Path, text: str) -> None:
    atomic.write_text(path, text)


class CorpusClips:
    """Decoded joints of corpus windows, cached (the same window is used by several compounds)."""

    def __init__(self, root: Path):
        self.root = root
        self._cache: dict[str, np.ndarray] = {}

    def joints(self, name: str) -> np.ndarray:
        if name not in self._cache:
            features = np.load(self.root / FEATURES_DIR / f"{name}.npy").astype(np.float64)
            self._cache[name] = codec.features_to_joints(features, with_last_frame=True)
        return self._cache[name]


def make_compound(clips: CorpusClips, a: Window, b: Window, rng: random.Random, facing: str,
                  frames: int | None = None) -> np.ndarray | None:
    """(T, 263) features of A then B, or None when either window is too short for a compound. `frames`: the joined
    clip's joint frames (at most MAX_FRAMES + 1; default: as long as both parts allow, up to that). The parts are
    drawn from `rng` the same way whatever `frames` is, then shortened (each keeps its first frames, so B keeps its
    onset), so the clips drawn after this one do not depend on it."""
    joints_a, joints_b = clips.joints(a.name), clips.joints(b.name)
    budget = MAX_FRAMES + 1 + TRANSITION_FRAMES  # joint frames of both parts, the shared transition counted twice
    if min(len(joints_a), len(joints_b)) < MIN_PART_FRAMES + TRANSITION_FRAMES:
        return None
    len_a = min(len(joints_a), rng.randint(MIN_PART_FRAMES + TRANSITION_FRAMES, budget - MIN_PART_FRAMES))
    len_b = min(len(joints_b), budget - len_a)
    start_a = rng.randint(0, len(joints_a) - len_a)
    start_b = rng.randint(0, max(0, min(len(joints_b) - len_b, 20)))  # B starts near its own start (the action's onset)
    if frames is not None and frames + TRANSITION_FRAMES < len_a + len_b:
        both = frames + TRANSITION_FRAMES  # each part shortened in proportion, neither below its minimum
        short_a = min(len_a, max(MIN_PART_FRAMES + TRANSITION_FRAMES, round(len_a * both / (len_a + len_b))))
        short_b = min(len_b, max(MIN_PART_FRAMES, both - short_a))
        short_a = min(len_a, max(MIN_PART_FRAMES + TRANSITION_FRAMES, both - short_b))
        len_a, len_b = short_a, short_b
    joined = join_joints(joints_a[start_a:start_a + len_a], joints_b[start_b:start_b + len_b])
    joined = codec.preprocess_joints(joined)
    return codec.joints_to_features(joined, facing=facing)


def _pairs(windows: list[Window], count: int, rng: random.Random) -> list[tuple[Window, Window]]:
    """`count` (A, B) pairs of one performer group and different actions; half of them locomotion then a gesture,
    the shape of the prompts animators type first ("walks forward, then waves")."""
    by_group: dict[str, list[Window]] = {}
    for w in windows:
        by_group.setdefault(w.group, []).append(w)
    groups = [g for g, members in by_group.items() if len({m.action for m in members}) > 1]
    if not groups:
        return []
    pairs: list[tuple[Window, Window]] = []
    for i in range(count * 20):
        if len(pairs) == count:
            break
        members = by_group[rng.choice(groups)]
        if i % 2 == 0:
            walks = [m for m in members if m.action in LOCOMOTION]
            gestures = [m for m in members if m.action not in LOCOMOTION]
            if not walks or not gestures:
                continue
            a, b = rng.choice(walks), rng.choice(gestures)
        else:
            a, b = rng.choice(members), rng.choice(members)
        if a.action.split("-")[0] == b.action.split("-")[0] and a.action.startswith("dance"):
            continue
        if a.action != b.action:
            pairs.append((a, b))
    return pairs


def augment(root: str | Path, train: int = 1200, val: int = 60, heldout: int = 120, captions: int = 3,
            seed: int = 0) -> dict:
    """Add compound clips to the corpus's train/val splits and write the held-out split; returns counts."""
    root = Path(root)
    facing = json.loads((root / "summary.json").read_text(encoding="utf-8"))["config"].get("facing", "corrected")
    clips = CorpusClips(root)
    rng = random.Random(seed)
    written: dict[str, list[str]] = {"train": [], "val": [], HELDOUT_SPLIT: []}
    plan = (("train", "train", train, False), ("val", "val", val, False), (HELDOUT_SPLIT, "test", heldout, True))
    lengths = random.Random(f"compound-lengths-{seed}")  # its own stream: the pairs and parts drawn stay the same
    for split, source_split, count, held in plan:
        windows = bandai_windows(root, source_split)
        for a, b in _pairs(windows, count, rng):
            # training clips of every length a user asks for; the held-out ones as they were first measured
            frames = None if held else lengths.randint(*TRAINING_LENGTHS)
            features = make_compound(clips, a, b, rng, facing, frames)
            if features is None:
                continue
            name = f"compound_{split}_{len(written[split]):05d}"
            lines = {compound_caption(a, b, rng, heldout=held and j == 0) for j in range(captions)}
            save_npy(root / FEATURES_DIR / f"{name}.npy", features)
            if (root / JOINTS_DIR).is_dir():
                save_npy(root / JOINTS_DIR / f"{name}.npy", codec.features_to_joints(features))
            atomic_write_text(root / TEXTS_DIR / f"{name}.txt",
                              "".join(caption_words.caption_line(c) + "\n" for c in sorted(lines)))
            written[split].append(name)
    # Held-out paraphrases: test windows re-captioned with wordings no training caption uses.
    for w in bandai_windows(root, "test"):
        phrases = captions_lib.HELDOUT_PARAPHRASES.get(w.action)
        if not phrases:
            continue
        name = f"paraphrase_{w.name}"
        chosen = rng.sample(list(phrases), min(captions, len(phrases)))
        lines = [captions_lib._sentence(f"{rng.choice(captions_lib.SUBJECTS)} {p}") for p in chosen]
        for folder in (FEATURES_DIR, JOINTS_DIR):
            if (root / folder / f"{w.name}.npy").is_file():
                save_npy(root / folder / f"{name}.npy", np.load(root / folder / f"{w.name}.npy"))
        atomic_write_text(root / TEXTS_DIR / f"{name}.txt", "".join(caption_words.caption_line(c) + "\n" for c in lines))
        written[HELDOUT_SPLIT].append(name)
    for split in ("train", "val"):
        names = sorted(set(read_split(root, split)) | set(written[split]))
        atomic_write_text(root / f"{split}.txt", "".join(f"{n}\n" for n in names))
    atomic_write_text(root / f"{HELDOUT_SPLIT}.txt", "".join(f"{n}\n" for n in sorted(written[HELDOUT_SPLIT])))
    counts = {split: len(names) for split, names in written.items()}
    counts["heldout_compounds"] = sum(n.startswith("compound_") for n in written[HELDOUT_SPLIT])
    return counts
