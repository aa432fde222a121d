"""Natural-language captions for the mocap sources, and HumanML3D-style word/POS tokens.

Every clip gets ``count`` (default 4, at least 3) different captions, chosen deterministically from the clip's name:
- Bandai-Namco: action x style from the file name (``dataset-2_walk-turn-left_masculine_006``), e.g.
  "a person walks forward wearily." / "a tired person walks straight ahead." The known mislabeled turn clips of
  set 2 are relabeled (``BANDAI_RELABEL``).
- CMU: the one-line description of CMU-INDEX.md ("01_01 playground - forward jumps, turn around") cleaned into
  sentences ("a person jumps forward, then turns around"), phrase by phrase from a lexicon written for the clips of
  subjects 1-14; unseen phrases fall back to a best-effort conjugation.

Tokens follow HumanML3D's texts/NAME.txt convention (``caption#tokens#0.0#0.0``): alphabetic words only, nouns and
verbs lemmatised ("walks" -> "walk/VERB"), others as written, each tagged with a universal POS tag by a small rule-based
tagger (``tag``).
"""
from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass

from moscale.data.caption_words import third_person

DEFAULT_COUNT = 4
SUBJECTS = ("a person", "someone", "the person", "a human")

# ----------------------------------------------------------------------------------------------- Bandai-Namco
# Known mislabels of set 2 (data/README: these turn the other way).
BANDAI_RELABEL = {
    "dataset-2_walk-turn-left_masculine_006": "walk-turn-right",
    "dataset-2_walk-turn-left_masculine_007": "walk-turn-right",
    "dataset-2_walk-turn-right_masculine_006": "walk-turn-left",
    "dataset-2_walk-turn-right_masculine_007": "walk-turn-left",
}

# action -> verb phrases (third person). Checked against the motion: walk-left/right go diagonally forward; "bye"
# waves the right hand only, "byebye" both hands; "guide" gestures forward with the right hand; "respond" raises
# the left hand above the head; "kick" kicks with the right leg from a fighting stance; "slash" swings both arms.
BANDAI_ACTIONS: dict[str, tuple[str, ...]] = {
    "walk": ("walks forward", "walks straight ahead", "walks forward in a straight line", "walks ahead"),
    "run": ("runs forward", "jogs forward", "runs straight ahead", "runs ahead"),
    "dash": ("sprints forward", "dashes forward", "runs forward as fast as possible", "sprints straight ahead"),
    "walk-back": ("walks backward", "walks backwards", "steps backward", "walks in reverse"),
    "walk-left": ("walks diagonally forward to the left", "walks forward at an angle to the left",
                  "walks ahead while drifting to the left", "walks forward and to the left"),
    "walk-right": ("walks diagonally forward to the right", "walks forward at an angle to the right",
                   "walks ahead while drifting to the right", "walks forward and to the right"),
    "walk-turn-left": ("walks forward and turns left", "walks and makes a left turn",
                       "walks ahead, then turns to the left", "turns left while walking"),
    "walk-turn-right": ("walks forward and turns right", "walks and makes a right turn",
                        "walks ahead, then turns to the right", "turns right while walking"),
    "bow": ("bows", "bows politely", "bends forward at the waist in a bow", "gives a bow"),
    "bye": ("waves goodbye with the right hand", "raises the right hand and waves goodbye",
            "waves the right hand to say goodbye", "says goodbye, waving the right hand"),
    "byebye": ("waves goodbye with both hands", "raises both hands and waves goodbye",
               "waves both hands to say goodbye", "says goodbye, waving both hands"),
    "guide": ("gestures forward with the right hand to show the way", "guides someone, pointing the way with the right hand",
              "holds out the right hand to show someone the way", "shows the way with an open right hand"),
    "respond": ("raises the left hand high to respond", "lifts the left hand above the head as if answering",
                "responds by raising the left hand", "puts the left hand up high to answer"),
    "call": ("calls out to someone", "leans forward and calls someone over", "calls someone to come closer"),
    "punch": ("throws punches", "punches forward with the fists", "throws a series of punches", "punches the air"),
    "kick": ("kicks with the right leg several times", "throws several kicks from a fighting stance",
             "kicks forward with the right foot", "does a series of kicks with the right leg"),
    "slash": ("slashes with a sword held in both hands", "swings a sword with both hands",
              "slashes downward as if holding a sword", "swings both arms in sword slashes"),
    "dance-short": ("dances", "dances energetically", "performs a dance", "dances, moving the whole body"),
    "dance-long": ("dances", "dances energetically", "performs a dance", "dances, moving the whole body"),
    "wave-both-hands": ("waves both hands", "waves with both hands", "raises both arms and waves",
                        "waves both hands in greeting"),
    "wave-left-hand": ("waves the left hand", "waves with the left hand", "raises the left hand and waves",
                       "waves hello with the left hand"),
    "wave-right-hand": ("waves the right hand", "waves with the right hand", "raises the right hand and waves",
                        "waves hello with the right hand"),
    "raise-up-both-hands": ("raises both hands", "lifts both arms up", "raises both arms up high", "puts both hands up"),
    "raise-up-left-hand": ("raises the left hand", "lifts the left arm up", "raises the left arm up high",
                           "puts the left hand up"),
    "raise-up-right-hand": ("raises the right hand", "lifts the right arm up", "raises the right arm up high",
                            "puts the right hand up"),
}


# Synonyms an animator types for the same action (stroll, amble, jog, hop ...), mixed into the training captions so
# the model hears more than one wording per action.
BANDAI_PARAPHRASES: dict[str, tuple[str, ...]] = {
    "walk": ("strolls forward", "ambles forward", "takes a walk forward", "paces forward", "walks on ahead"),
    "run": ("jogs ahead", "runs at a steady pace", "trots forward", "goes for a jog"),
    "dash": ("races forward", "bolts forward", "runs fast straight ahead", "sprints off"),
    "walk-back": ("backs up", "retreats backward", "moves backward step by step", "steps back"),
    "walk-left": ("walks forward veering left", "walks ahead bearing left"),
    "walk-right": ("walks forward veering right", "walks ahead bearing right"),
    "walk-turn-left": ("walks and turns to the left", "makes a left turn while walking"),
    "walk-turn-right": ("walks and turns to the right", "makes a right turn while walking"),
    "bow": ("takes a bow", "bows the head and upper body", "bows deeply"),
    "bye": ("waves bye with the right hand", "waves farewell with the right hand"),
    "byebye": ("waves bye with both hands", "waves farewell with both hands"),
    "guide": ("points the way with the right hand", "directs someone with the right hand"),
    "respond": ("raises the left hand to answer", "answers with a raised left hand"),
    "call": ("beckons someone over", "calls to someone"),
    "punch": ("boxes", "jabs forward with the fists", "throws jabs", "punches"),
    "kick": ("kicks", "kicks with the right foot", "does kicks", "kicks out with the right leg"),
    "slash": ("swings a sword", "hacks with a two-handed sword", "cuts with a sword"),
    "dance-short": ("dances around", "grooves to music", "busts a move"),
    "dance-long": ("dances around", "grooves to music", "busts a move"),
    "wave-both-hands": ("waves hello with both hands", "waves both arms", "greets with both hands"),
    "wave-left-hand": ("greets with a wave of the left hand", "waves hi with the left hand"),
    "wave-right-hand": ("greets with a wave of the right hand", "waves hi with the right hand"),
    "raise-up-both-hands": ("puts both hands in the air", "lifts both hands up"),
    "raise-up-left-hand": ("puts the left hand in the air", "lifts the left hand up"),
    "raise-up-right-hand": ("puts the right hand in the air", "lifts the right hand up"),
}

# Wordings that never enter a training caption: the held-out set (moscale.data.compound) re-captions test clips
# with them, to measure whether the model follows a prompt it was not trained on word for word.
HELDOUT_PARAPHRASES: dict[str, tuple[str, ...]] = {
    "walk": ("saunters ahead", "marches forward", "wanders forward on foot"),
    "run": ("hurries forward at a run", "runs along"),
    "dash": ("sprints as fast as they can", "races ahead at full speed"),
    "walk-back": ("moves backwards on foot", "walks back the way they came"),
    "walk-turn-left": ("walks and swings round to the left",),
    "walk-turn-right": ("walks and swings round to the right",),
    "bow": ("bows down respectfully", "does a deep bow"),
    "bye": ("bids farewell waving the right hand",),
    "byebye": ("bids farewell waving both hands",),
    "punch": ("does some boxing punches", "punches repeatedly"),
    "kick": ("does karate kicks with the right leg", "kicks repeatedly"),
    "slash": ("chops with a sword",),
    "dance-short": ("does a little dance",),
    "dance-long": ("does a little dance",),
    "wave-both-hands": ("waves hi using both hands",),
    "wave-left-hand": ("waves hi using the left hand",),
    "wave-right-hand": ("waves hi using the right hand",),
    "raise-up-both-hands": ("sticks both arms up",),
    "raise-up-left-hand": ("sticks the left arm up",),
    "raise-up-right-hand": ("sticks the right arm up",),
}


def action_phrases(action: str) -> tuple[str, ...]:
    """Every training wording of a Bandai-Namco action: the checked descriptions, then the paraphrase bank."""
    return BANDAI_ACTIONS[action] + BANDAI_PARAPHRASES.get(action, ())


@dataclass(frozen=True)
class Style:
    adverbs: tuple[str, ...]  # phrases after the verb phrase
    adjectives: tuple[str, ...] = ()  # "a tired person ...", "..., looking tired"


BANDAI_STYLES: dict[str, Style] = {
    "normal": Style(("", "", "", "in an ordinary way")),
    "happy": Style(("happily", "in a cheerful way", "joyfully", "in a happy mood"), ("happy", "cheerful", "joyful")),
    "sad": Style(("sadly", "in a sad, dejected way", "gloomily", "in a sad mood"), ("sad", "dejected", "downcast")),
    "angry": Style(("angrily", "in an angry way", "aggressively", "in a furious mood"), ("angry", "furious", "irritated")),
    "proud": Style(("proudly", "with a proud posture", "confidently, chest out", "in a proud manner"),
                   ("proud", "confident", "haughty")),
    "not-confident": Style(("timidly", "without confidence", "hesitantly", "shyly"),
                           ("timid", "insecure", "shy", "hesitant")),
    "masculinity": Style(("in a masculine way", "in a manly way", "with a masculine swagger", "in a strong, manly manner"),
                         ("masculine", "manly", "macho")),
    "masculine": Style(("in a masculine way", "in a manly way", "with a masculine swagger", "in a strong, manly manner"),
                       ("masculine", "manly", "macho")),
    "feminine": Style(("in a feminine way", "gracefully", "in an elegant, feminine manner", "in a ladylike way"),
                      ("feminine", "graceful", "elegant")),
    "childish": Style(("like a child", "in a childish way", "playfully, like a little kid", "like a small child"),
                      ("childish", "playful", "childlike")),
    "youthful": Style(("in a youthful way", "with youthful energy", "like a young person", "in a young, lively way"),
                      ("young", "youthful", "lively")),
    "old": Style(("like an old person", "slowly, like an elderly person", "in an elderly way", "like a frail old man"),
                 ("old", "elderly", "aged")),
    "elderly": Style(("like an elderly person", "slowly, like an old person", "in an elderly way", "stiffly, like an old man"),
                     ("elderly", "old", "aged")),
    "tired": Style(("wearily", "in a tired way", "as if tired", "sluggishly"), ("tired", "weary", "sleepy")),
    "exhausted": Style(("as if exhausted", "wearily, completely worn out", "in an exhausted way", "with no energy left"),
                       ("exhausted", "drained", "worn out")),
    "active": Style(("energetically", "in an active, lively way", "vigorously", "with a lot of energy"),
                    ("energetic", "lively", "active")),
    "musical": Style(("theatrically, like in a musical", "in an exaggerated, theatrical way", "with theatrical flair",
                      "like a performer in a musical"), ("theatrical", "dramatic")),
    "giant": Style(("like a giant", "heavily, like a huge giant", "with big, heavy movements like a giant",
                    "like a lumbering giant")),
    "chimpira": Style(("like a street thug", "with a thuggish swagger", "like a delinquent punk",
                       "in a cocky, thuggish way"), ("thuggish", "cocky", "swaggering")),
}


@dataclass(frozen=True)
class BandaiLabel:
    dataset: int  # 1 or 2
    action: str
    style: str
    take: str
    relabeled: bool = False


def parse_bandai_name(stem: str) -> BandaiLabel:
    """'dataset-2_walk-turn-left_masculine_006' -> BandaiLabel(2, 'walk-turn-right' (relabeled), 'masculine', '006')."""
    match = re.fullmatch(r"dataset-(\d)_([a-z-]+)_([a-z-]+)_(\d+)", stem)
    if match is None:
        raise ValueError(f"not a Bandai-Namco clip name (dataset-N_action_style_id): {stem!r}")
    action = BANDAI_RELABEL.get(stem, match.group(2))
    return BandaiLabel(int(match.group(1)), action, match.group(3), match.group(4), stem in BANDAI_RELABEL)


def _rng(key: str) -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big"))


def _sentence(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip().replace(" ,", ",")
    return text[0].lower() + text[1:] + ("" if text.endswith(".") else ".")


def _article(adjective: str) -> str:
    return "an" if adjective[0] in "aeiou" else "a"


def bandai_captions(stem: str, count: int = DEFAULT_COUNT) -> list[str]:
    """``count`` different captions for a Bandai-Namco clip, deterministic in its name."""
    label = parse_bandai_name(stem)
    if label.action not in BANDAI_ACTIONS or label.style not in BANDAI_STYLES:
        raise ValueError(f"{stem}: no caption vocabulary for action {label.action!r} / style {label.style!r}")
    actions, style = action_phrases(label.action), BANDAI_STYLES[label.style]
    candidates = []
    for verb in actions:
        for subject in SUBJECTS:
            for adverb in style.adverbs:
                candidates.append((subject, f"{verb} {adverb}"))
            for adjective in style.adjectives:
                article = _article(adjective) if subject.startswith("a ") else "the"
                noun = subject.split()[-1] if subject != "someone" else "person"
                candidates.append((f"{article} {adjective} {noun}", verb))
                candidates.append((subject, f"{verb}, looking {adjective}"))
    return _pick(candidates, count, stem)


def _pick(candidates: list[tuple[str, str]], count: int, key: str) -> list[str]:
    """``count`` distinct sentences from (subject, rest) pairs, deterministic in ``key``: first different rests with
    different subjects, then different rests, then anything distinct."""
    unique = list(dict.fromkeys((subject, rest.strip()) for subject, rest in candidates))
    rng = _rng(key)
    rng.shuffle(unique)
    chosen: list[tuple[str, str]] = []
    for pass_ in range(3):
        for subject, rest in unique:
            if len(chosen) == count:
                break
            rests, subjects = {r for _, r in chosen}, {s for s, _ in chosen}
            if (subject, rest) in chosen or (pass_ < 2 and rest in rests) or (pass_ < 1 and subject in subjects):
                continue
            chosen.append((subject, rest))
    captions = list(dict.fromkeys(_sentence(f"{subject} {rest}") for subject, rest in chosen))
    if len(captions) < count:
        raise ValueError(f"{key}: only {len(captions)} distinct captions, {count} requested")
    return captions


# ----------------------------------------------------------------------------------------------- CMU
# phrase -> verb phrases. Keys are "context: phrase" (context = text before " - ") or a bare phrase.
CMU_PHRASES: dict[str, tuple[str, ...]] = {
    "walk": ("walks forward", "walks straight ahead", "walks forward at a normal pace"),
    "slow walk": ("walks forward slowly", "walks slowly ahead", "takes a slow walk forward"),
    "brisk walk": ("walks forward briskly", "walks quickly ahead", "walks at a brisk pace"),
    "walk/stride": ("walks forward with long strides", "strides forward", "walks ahead with long steps"),
    "slow walk/stride": ("walks forward slowly with long strides", "strides forward slowly",
                         "walks slowly ahead with long steps"),
    "exaggerated stride": ("takes exaggerated long strides", "walks with very long steps",
                           "strides with exaggerated steps"),
    "walk on uneven terrain": ("walks carefully over uneven ground", "walks across uneven terrain",
                               "steps carefully over bumpy ground"),
    "run": ("runs forward", "runs straight ahead", "jogs forward quickly"),
    "run/jog": ("jogs forward", "runs forward at a jog", "jogs straight ahead"),
    "jog": ("jogs in place", "jogs", "jogs lightly"),
    "jump": ("jumps", "jumps up", "does a jump"),
    "forward jump": ("jumps forward", "leaps forward", "does a forward jump"),
    "forward jumps": ("jumps forward several times", "does a series of forward jumps", "leaps forward repeatedly"),
    "balance": ("balances", "keeps their balance", "balances on the spot"),
    "turn around": ("turns around", "turns to face the other way", "turns back around"),
    "punch/strike": ("throws punches and strikes", "punches and strikes with the fists", "throws punches"),
    "boxing": ("boxes", "throws boxing punches", "shadowboxes"),
    "bend over": ("bends over", "bends forward at the waist", "bends down"),
    "scoop up": ("scoops something up", "picks something up from the ground", "scoops up an object"),
    "rise": ("stands back up", "straightens up", "rises back up"),
    "lift arm": ("lifts an arm", "raises one arm", "lifts one arm up"),
    "swordplay": ("fights with a sword", "swings a sword around", "practices swordplay"),
    "wash self": ("pretends to wash their body", "mimes washing themself", "washes their body"),
    "wash windows": ("washes windows", "wipes a window with circular hand motions", "cleans a window"),
    "laugh": ("laughs", "laughs heartily", "bursts out laughing"),
    "drink soda": ("drinks a soda", "drinks from a bottle", "takes a drink from a soda bottle"),
    "unscrew bottlecap": ("unscrews a bottle cap", "opens a bottle", "twists the cap off a bottle"),
    "screw on bottlecap": ("screws the cap back on", "closes the bottle", "twists the bottle cap back on"),
    "jump up to grab": ("jumps up to grab something", "jumps to grab something overhead", "leaps up to grab something"),
    "reach for": ("reaches for something", "reaches up for something", "stretches to reach something"),
    "tiptoe": ("stands on tiptoe", "rises onto their toes", "reaches up on tiptoe"),
    "sit on high stool": ("sits down on a high stool", "sits on a tall stool", "takes a seat on a high stool"),
    "sit on stepstool": ("sits down on a low stool", "sits on a step stool", "takes a seat on a small stool"),
    "stand up": ("stands up", "gets back up", "rises to standing"),
    "swing legs": ("swings their legs", "swings the legs back and forth", "dangles and swings their legs"),
    "ankle on other knee": ("rests one ankle on the other knee", "crosses one leg over the other knee",
                            "sits with an ankle on the other knee"),
    "hand on chin": ("rests a hand on their chin", "props their chin on a hand", "sits with a hand on the chin"),
    "climb ladder": ("climbs a ladder", "climbs up a ladder", "goes up a ladder"),
    "climb 3 steps": ("climbs three steps", "walks up three steps", "steps up a short flight of stairs"),
    "jumping jacks": ("does jumping jacks", "performs jumping jacks", "does a set of jumping jacks"),
    "side twists": ("twists the torso from side to side", "does side twists", "twists side to side"),
    "squats": ("does squats", "squats down and up", "performs a few squats"),
    "direct traffic": ("directs traffic with arm signals", "signals with the arms like directing traffic",
                       "directs traffic"),
    "wave": ("waves", "waves a hand", "waves an arm"),
    "playground: forward jumps": ("jumps forward several times on a playground", "does forward jumps on the playground",
                                  "leaps forward repeatedly"),
    "playground: climb": ("climbs on the playground equipment", "climbs up the climbing frame",
                          "climbs on a jungle gym"),
    "playground: sit": ("sits down", "sits on the bar", "takes a seat on the equipment"),
    "playground: dangle legs": ("dangles their legs", "lets the legs dangle", "sits with the legs hanging down"),
    "playground: dangle": ("hangs and dangles", "dangles from the bar", "hangs with the legs dangling"),
    "playground: rock back": ("rocks back", "leans back", "rocks backward"),
    "playground: lower self to ground": ("lowers themself to the ground", "climbs down to the ground",
                                         "slowly gets down to the ground"),
    "playground: jump down": ("jumps down", "jumps down to the ground", "hops down"),
    "playground: legs push off against": ("pushes off with the legs", "pushes off against the bar with the legs",
                                          "kicks off with both legs"),
    "navigate: walk forward": ("walks forward", "walks ahead", "steps forward"),
    "navigate: backward": ("walks backward", "steps backward", "walks backwards"),
    "navigate: sideways": ("walks sideways", "steps sideways", "sidesteps"),
    "soccer: kick ball": ("kicks a soccer ball", "kicks a ball", "kicks a football"),
    "basketball: forward dribble": ("dribbles a basketball forward", "dribbles a ball while moving forward",
                                    "moves forward dribbling a basketball"),
    "basketball: backward dribble": ("dribbles a basketball while moving backward", "backs up dribbling a ball",
                                     "dribbles a ball walking backward"),
    "basketball: sideways dribble": ("dribbles a basketball while moving sideways", "shuffles sideways dribbling a ball",
                                     "dribbles a ball moving to the side"),
    "basketball: 90-degree left turns": ("makes sharp left turns", "turns left at right angles", "turns left sharply"),
    "basketball: 90-degree right turns": ("makes sharp right turns", "turns right at right angles",
                                          "turns right sharply"),
    "basketball: crossover dribble": ("does a crossover dribble", "crosses the ball from hand to hand",
                                      "dribbles the ball between the hands"),
    "basketball: dribble": ("dribbles a basketball", "bounces a basketball", "dribbles a ball"),
    "basketball: shoot": ("shoots the ball", "jumps and shoots the basketball", "takes a shot at the basket"),
    # ballet, glossed in plain words (the text encoder knows "spins" better than "pirouette")
    "dance: expressive arms": ("dances with expressive arm movements", "moves the arms expressively",
                               "dances with flowing arm motions"),
    "dance: pirouette": ("spins on one foot", "does a ballet spin", "spins around in a pirouette"),
    "dance: pirouettes": ("spins on one foot several times", "does several ballet spins", "spins around repeatedly"),
    "dance: shifted-axis pirouette": ("spins on one foot, leaning", "does a tilted ballet spin", "spins while leaning"),
    "dance: sideways arabesque": ("balances on one leg with the other leg stretched out to the side",
                                  "lifts one leg out sideways in a ballet pose", "does a sideways arabesque"),
    "dance: attitude/arabesque": ("balances on one leg with the other leg raised behind",
                                  "holds a ballet pose with one leg lifted back", "does an arabesque"),
    "dance: turn step": ("does a turning step", "steps and turns", "turns with a step"),
    "dance: turn": ("turns around", "does a turn", "spins around"),
    "dance: folding arms": ("folds the arms", "crosses the arms gracefully", "brings the arms together"),
    "dance: bending back": ("bends backward", "arches the back", "leans far back"),
    "dance: quasi-cou-de-pied": ("raises one foot to the other ankle", "lifts a foot against the other ankle",
                                 "holds one foot at the other ankle"),
    "dance: raised leg above hip-height": ("raises one leg above hip height", "lifts a leg up high",
                                           "kicks one leg up above the hip"),
    "dance: jete en tourant": ("does a turning leap", "leaps while turning in the air", "jumps and turns in the air"),
    "dance: grand jete en tourant": ("does a big turning leap", "leaps high while turning", "does a large turning jump"),
    "dance: jete": ("leaps from one foot to the other", "does a ballet leap", "leaps across"),
    "dance: small jetes": ("does small leaps from foot to foot", "does little ballet leaps", "hops lightly from foot to foot"),
    "dance: cartwheel-like start": ("starts with a cartwheel-like move", "begins with a move like a cartwheel",
                                    "opens with a cartwheel motion"),
    "dance: rond de jambe in the air": ("circles one raised leg in the air", "draws circles in the air with one leg",
                                        "rotates a lifted leg in a circle"),
    "dance: glissade devant": ("glides sideways with small steps", "does a gliding step", "slides to the side"),
    "dance: glissade derriere": ("glides sideways again", "does another gliding step", "slides back to the side"),
    "dance: sideways steps": ("steps sideways", "takes steps to the side", "moves sideways with small steps"),
    "dance: arms held high": ("holds the arms up high", "raises both arms overhead", "dances with the arms held high"),
    "dance: pointe tendue a terre": ("points one foot on the floor", "stretches one foot out with the toe on the floor",
                                     "extends a pointed foot on the ground"),
    "dance: upper body rotation": ("rotates the upper body", "twists the torso around", "turns the upper body"),
    "dance: retire derriere": ("lifts one foot to the back of the knee", "draws a foot up behind the knee",
                               "raises a foot to the knee"),
    "dance: coupe dessous": ("does a quick cutting step", "steps under quickly", "does a small cutting step"),
}
CMU_CONTEXT_LEADS = {"dance": ("dances ballet", "performs a ballet routine", "dances")}
CMU_CATEGORIES = {  # first word(s) of the description -> action label for statistics
    "playground": "playground", "basketball": "basketball", "soccer": "soccer kick", "dance": "dance",
    "navigate": "walk", "walk": "walk", "slow walk": "walk", "brisk walk": "walk", "run": "run", "jump": "jump",
    "forward jump": "jump", "jumping jacks": "exercise", "climb": "climb", "sit": "sit and stand",
    "drink": "drink", "unscrew": "drink", "laugh": "laugh", "boxing": "fight", "punch": "fight",
    "swordplay": "fight", "wash": "wash", "bend": "pick up", "direct": "gesture",
}


def parse_cmu_index(text: str) -> dict[str, str]:
    """CMU-INDEX.md text -> {'01_01': 'playground - forward jumps, turn around', ...} (clips with a description)."""
    index = {}
    for match in re.finditer(r"^(\d+_\d+)\s+(.+?)\s*$", text, re.MULTILINE):
        description = match.group(2).strip()
        if description.lower() != "unknown":
            index[match.group(1)] = description
    return index


def split_cmu_description(description: str) -> tuple[str, list[str]]:
    """'playground - climb, sit' -> ('playground', ['climb', 'sit']); no ' - ' -> ('', phrases)."""
    context, _, rest = description.lower().partition(" - ")
    if not rest:
        context, rest = "", context
    phrases = [p.strip() for p in rest.split(",") if p.strip()]
    return context.strip(), phrases


def _phrase_options(context: str, phrase: str) -> tuple[tuple[str, ...], bool]:
    """Verb phrases for one description phrase, and whether the lexicon knew it."""
    for key in (f"{context}: {phrase}", phrase):
        if key in CMU_PHRASES:
            return CMU_PHRASES[key], True
    words = phrase.replace("/", " or ").split()
    return (" ".join([third_person(words[0])] + words[1:]),), False


def _join(parts: list[str], style: int) -> str:
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        return (f"{parts[0]}, then {parts[1]}", f"{parts[0]} and then {parts[1]}", f"{parts[0]}, and then {parts[1]}")[style % 3]
    head = ", ".join(parts[:-1])
    return (f"{head}, then {parts[-1]}", f"{head}, and finally {parts[-1]}", f"{head}, and then {parts[-1]}")[style % 3]


def cmu_category(description: str) -> str:
    text = description.lower()
    for prefix in sorted(CMU_CATEGORIES, key=len, reverse=True):
        if text.startswith(prefix):
            return CMU_CATEGORIES[prefix]
    return text.split(" - ")[0].split(",")[0].split()[0]


def cmu_captions(clip_id: str, description: str, count: int = DEFAULT_COUNT) -> list[str]:
    """``count`` different captions from a CMU one-line description, deterministic in ``clip_id``."""
    context, phrases = split_cmu_description(description)
    if not phrases:
        raise ValueError(f"{clip_id}: empty description")
    options = [_phrase_options(context, p)[0] for p in phrases]
    leads = CMU_CONTEXT_LEADS.get(context, ())
    rng = _rng("cmu:" + clip_id)
    candidates = []
    for variant in range(max(3, count) * 4):
        parts = [opts[(variant + rng.randrange(len(opts))) % len(opts)] for opts in options]
        if leads and variant % 2 == 1 and not parts[0].startswith("dances"):
            parts = [leads[variant % len(leads)]] + parts
        join_style = rng.randrange(3)
        for subject in SUBJECTS:
            candidates.append((subject, _join(parts, join_style)))
    return _pick(candidates, count, clip_id)


def unknown_cmu_phrases(description: str) -> list[str]:
    context, phrases = split_cmu_description(description)
    return [p for p in phrases if not _phrase_options(context, p)[1]]
