"""Caption text in HumanML3D's form: every word tagged with its lemma and part of speech ("walk/VERB"), and the
vocabulary those tags come from (a caption whose words are all known gets exact tags)."""
from __future__ import annotations

import re


def third_person(verb: str) -> str:
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def _words(spec: str) -> set[str]:
    return set(spec.split())


_CLOSED: dict[str, set[str]] = {
    "DET": _words("a an the their his her its each every both another some this that these those all no"),
    "PRON": _words("someone something they them themself themselves it one anyone everyone somebody"),  # "one": NUM before a noun
    "ADP": _words("with to of in on at from over under into onto toward towards across behind above like by for "
                  "against along through off out up down after before per without between about"),
    "CCONJ": _words("and or but"),
    "SCONJ": _words("while as if because until"),
    "NUM": _words("two three four five six ten"),
    "ADV": _words("forward forwards backward backwards sideways ahead then again around back away high very "
                  "straight together finally once twice apart far fast aside slightly downward upward closer forth overhead "
                  "round afterwards still"),
    "AUX": _words("is are was were be been can"),
}
_ADJECTIVES = _words(
    "left right tired happy sad angry proud confident haughty timid insecure shy hesitant masculine manly macho "
    "feminine graceful elegant childish playful childlike young youthful lively old elderly aged frail weary sleepy "
    "exhausted drained worn energetic active theatrical dramatic huge heavy big lumbering thuggish cocky swaggering "
    "cheerful joyful dejected downcast furious irritated neutral normal strong small little short long slow quick "
    "brisk uneven bumpy tall low open several sharp exaggerated expressive flowing large other whole same upright "
    "tilted turning gliding cutting pointed lifted raised circular full happy street delinquent musical few upper "
    "possible ladylike relaxed lazy steady first last next ordinary fighting deep handed most clockwise counterclockwise")
_NOUNS = _words(
    "person human man woman child kid hand hands arm arms leg legs foot feet knee knees head chest waist hip hips "
    "body torso shoulder shoulders back fist fists toe toes ankle chin side sides way manner mood pace posture swagger "
    "flair energy lot bow wave step steps stride strides line angle turn turns kick kicks punch punches series stance "
    "sword slash slashes air dance motion motions movement movements greeting goodbye hello reverse performer musical "
    "thug punk ball soccer football basketball basket shot dribble crossover playground equipment frame gym bar ground "
    "floor stool seat ladder stairs flight window windows bottle cap soda drink traffic signals jacks twists squats "
    "jump jumps leap leaps spin spins ballet routine pose arabesque pirouette circle circles object set cartwheel move "
    "giant spot time times confidence heel direction distance walk run jog sprint speed terrain tiptoe swordplay "
    "jungle angle angles place height farewell music karate bye hi degree degrees moment weight")
_VERB_BASES = _words(
    "walk run jog sprint dash step turn bow wave raise lift put say give hold gesture guide point show respond answer "
    "call lean punch throw kick slash swing dance perform move bend scoop stand straighten rise fight practice "
    "pretend wash mime wipe clean laugh burst drink open twist unscrew screw close jump grab reach stretch sit take "
    "swing dangle let hang rock lower climb get hop push do squat direct signal circle draw rotate glide slide "
    "balance keep spin leap arch fold cross bring point extend cut begin start make face back shuffle stride "
    "dribble bounce shoot go look drift trudge answer shadowbox hold box try come pick go rest prop carry head strike sidestep "
    "amble bear beckon bid bolt bust chop greet groove hack hurry jab march pace race retreat saunter stick stroll "
    "trot veer use stop wander crouch kneel lie shift stay")
_IRREGULAR = {"ran": "run", "running": "run", "took": "take", "taking": "take", "held": "hold", "holding": "hold",
              "threw": "throw", "thrown": "throw", "swung": "swing", "rose": "rise", "rising": "rise", "stood": "stand",
              "gave": "give", "giving": "give", "said": "say", "says": "say", "does": "do", "doing": "do", "did": "do",
              "gets": "get", "getting": "get", "let": "let", "lets": "let", "letting": "let", "sat": "sit",
              "sitting": "sit", "goes": "go", "went": "go", "going": "go", "made": "make", "making": "make",
              "put": "put", "putting": "put", "hopping": "hop", "stepping": "step", "jogging": "jog",
              "dropping": "drop", "swimming": "swim", "shuffling": "shuffle", "leaning": "lean", "cut": "cut",
              "cutting": "cut", "began": "begin", "beginning": "begin", "spun": "spin", "spinning": "spin",
              "crosses": "cross", "reaches": "reach", "stretches": "stretch", "punches": "punch",
              "slashes": "slash", "washes": "wash", "pushes": "push", "boxes": "box", "shadowboxes": "shadowbox",
              "mimes": "mime", "hopped": "hop", "closes": "close", "came": "come", "coming": "come",
              "lying": "lie", "lay": "lie"}
_NOUN_IRREGULAR = {"feet": "foot", "people": "person", "children": "child", "men": "man", "women": "woman"}


def _verb_forms() -> dict[str, str]:
    forms = {}
    for base in _VERB_BASES:
        forms[base] = base
        forms[third_person(base)] = base
        stem = base[:-1] if base.endswith("e") and not base.endswith(("ee", "ye")) else base
        forms[stem + "ing"] = base
        forms[stem + ("d" if base.endswith("e") else "ed")] = base
    forms.update(_IRREGULAR)
    return forms


_VERB_FORMS = _verb_forms()


def _noun_lemma(word: str) -> str:
    if word in _NOUN_IRREGULAR:
        return _NOUN_IRREGULAR[word]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def known_word(word: str) -> bool:
    """Whether the tagger has the word in its lexicon (the fallback is used otherwise)."""
    return (word in _VERB_FORMS or word in _ADJECTIVES or word in _NOUNS or word.endswith("ly")
            or any(word in words for words in _CLOSED.values()))


def tag(caption: str) -> str:
    """HumanML3D-style tokens: 'a person walks forward.' -> 'a/DET person/NOUN walk/VERB forward/ADV'."""
    words = re.findall(r"[a-z]+", caption.lower())
    tags: list[tuple[str, str]] = []
    for i, word in enumerate(words):
        previous = tags[-1][1] if tags else ""
        following = words[i + 1] if i + 1 < len(words) else ""
        tags.append(_tag_word(word, previous, following))
    return " ".join(f"{w}/{p}" for w, p in tags)


def _tag_word(word: str, previous: str, following: str) -> tuple[str, str]:
    after_determiner = previous in ("DET", "ADJ", "NUM")
    if word in ("left", "right"):  # HumanML3D never lemmatises "left"
        return word, "ADJ" if following in _NOUNS else "ADV"
    if word == "back" and after_determiner:
        return word, "NOUN"
    if word == "to" and following in _VERB_BASES:
        return word, "PART"
    if word == "one" and following in _NOUNS:
        return word, "NUM"
    if word == "as" and following == "if":
        return word, "SCONJ"
    for pos, words in _CLOSED.items():
        if word in words and not (after_determiner and (word in _NOUNS or word in _VERB_FORMS)):
            return word, pos
    if after_determiner and (word in _NOUNS or (word in _VERB_FORMS and word not in _ADJECTIVES)):
        return _noun_lemma(word), "NOUN"
    if word in _ADJECTIVES and not (word in _VERB_FORMS and previous in ("PRON", "NOUN", "CCONJ", "")):
        return word, "ADJ"
    if word in _VERB_FORMS:
        return _VERB_FORMS[word], "VERB"
    if word in _NOUNS:
        return _noun_lemma(word), "NOUN"
    if word.endswith("ly"):
        return word, "ADV"
    if word.endswith("ing") and len(word) > 5:
        return word[:-3], "VERB"
    return _noun_lemma(word), "NOUN"


def caption_line(caption: str, start_s: float = 0.0, end_s: float = 0.0) -> str:
    """One texts/NAME.txt line: 'caption#tokens#start#end' (0.0#0.0: the whole clip)."""
    return f"{caption}#{tag(caption)}#{start_s:.1f}#{end_s:.1f}"
