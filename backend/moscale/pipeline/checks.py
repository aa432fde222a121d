"""The checks of every value a user gives MoScale, in one place: the command line (``moscale.cli.checks``), the
Python API (``MoScalePipeline.generate`` / ``edit`` / ``extend`` / ``prepend`` / ``inbetween`` / ``timeline``,
``timeline.Segment``) and the Blender add-on (through the pipeline) all go through them, so a value is refused with
the same words wherever it was typed.

    guidance, temperature, top_p, top_k = check_sampling(guidance=5, temperature=1, top_p=0.9, top_k=None)
    seed = check_seed(seed)                        # None, or a whole number from 0 to 2**63 - 1
    prompt = check_prompt(prompt)                  # text the tokenizer can read, cut to MAX_PROMPT_CHARS
    warnings = prompt_warnings(prompt)             # lines for prompts the model will not understand (never refuses)

Each check raises ValueError with one line that starts with the value's name as the caller knows it: ``guidance``
in Python, ``--guidance`` on the command line (the ``label`` argument). Motion files have their own limits in
``moscale.motion.limits`` (the layer that reads them); output paths are checked by ``moscale.utils.atomic``.
"""
from __future__ import annotations

import math
import numbers
import os
import re
import unicodedata

from moscale.model.sampling import DEFAULT_GUIDANCE

MAX_SECONDS = 60.0           # longest clip generate() accepts (longer than a window: overlapping continued windows)
MAX_SEED = 2**63 - 1         # seeds are stored as int64 in files and takes
MAX_SAMPLES = 1000           # samples of one generate call (each holds a full clip in memory)
MAX_PROMPT_CHARS = 400       # the text encoder reads a few dozen tokens; beyond this a prompt is cut before tokenizing
THREADS_PER_CORE = 4         # --threads beyond this is a typo (100000 made torch's thread pool crash)
MAX_THREADS = 256


# ----------------------------------------------------------------------------------------------- numbers


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_finite(value, label: str) -> float:
    """``value`` as a float when it is a finite number, else ValueError."""
    if not _is_number(value):
        raise ValueError(f"{label} {value!r}: give a number")
    if not math.isfinite(value):
        raise ValueError(f"{label} {value}: give a finite number")
    return float(value)


def check_whole(value, label: str, low: int | None, high: int | None = None, hint: str = "") -> int:
    """``value`` as an int when it is a whole number in [low, high] (None: unbounded), else ValueError (``hint``
    ends the message)."""
    whole = isinstance(value, numbers.Integral) and not isinstance(value, bool) or \
        _is_number(value) and math.isfinite(value) and value == int(value)
    if whole and (low is None or low <= value) and (high is None or value <= high):
        return int(value)
    bounds = f" from {low} to {high}" if high is not None else f" >= {low}" if low is not None else ""
    given = f"{value!r} (a {type(value).__name__})" if isinstance(value, (str, bytes)) else f"{value}"
    raise ValueError(f"{label} {given}: give a whole number{bounds}{hint}")


def check_seconds(value, label: str, low: float = 0.0, high: float | None = MAX_SECONDS,
                  inclusive_low: bool = False) -> float | None:
    """A length or time in seconds: None passes; else finite, above ``low`` (or at it) and at most ``high``."""
    if value is None:
        return None
    value = check_finite(value, label)
    if value < low or (value == low and not inclusive_low) or (high is not None and value > high):
        bounds = f"{'at least' if inclusive_low else 'more than'} {low:g}" + (f" and at most {high:g}" if high else "")
        raise ValueError(f"{label} {value:g}: give {bounds} seconds")
    return value


def check_guidance(value, label: str = "guidance") -> float:
    if not (_is_number(value) and math.isfinite(value) and value >= 0):
        raise ValueError(f"{label} {value}: give a finite number >= 0 (0 turns guidance off; default "
                         f"{DEFAULT_GUIDANCE:g})")
    return float(value)


def check_temperature(value, label: str = "temperature") -> float:
    value = check_finite(value, label)
    if value <= 0:
        raise ValueError(f"{label} {value:g}: give a number > 0 (1 is the trained distribution)")
    return value


def check_top_p(value, label: str = "top_p") -> float | None:
    if value is None:
        return None
    if not (_is_number(value) and math.isfinite(value) and 0 < value <= 1):
        raise ValueError(f"{label} {value:g}: give a number in (0, 1]" if _is_number(value)
                         else f"{label} {value!r}: give a number in (0, 1]")
    return float(value)


def check_top_k(value, label: str = "top_k") -> int | None:
    return None if value is None else check_whole(value, label, 1, hint=" (or None: no top-k cut)")


def check_seed(value, label: str = "seed") -> int | None:
    return None if value is None else check_whole(value, label, 0, MAX_SEED, " (2**63 - 1)")


def check_num_samples(value, label: str = "num_samples") -> int:
    return check_whole(value, label, 1, MAX_SAMPLES)


def check_sampling(*, guidance, temperature, top_p, top_k, seed=None, flag: str = "") -> tuple:
    """(guidance, temperature, top_p, top_k, seed), each checked; ``flag="--"`` names them as command-line options."""
    def label(name: str) -> str:
        return f"--{name.replace('_', '-')}" if flag else name

    return (check_guidance(guidance, label("guidance")), check_temperature(temperature, label("temperature")),
            check_top_p(top_p, label("top_p")), check_top_k(top_k, label("top_k")), check_seed(seed, label("seed")))


def check_blend_frames(value, length: int, seams: int, default: int, label: str = "blend_frames") -> int:
    """Seam blend frames inside an edited range of ``length`` frames with ``seams`` anchored seams: a blend longer
    than the range holds (half of it per seam when there are two) fades the edit back into the source, so the
    result would be the source again; up to ``default`` is always allowed (short ranges with the default blend)."""
    value = check_whole(value, label, 0)
    most = length // max(seams, 1)
    if value > max(most, default):
        share = f"half of its {length} frames at each of its 2 seams" if seams == 2 else f"its {length} frames"
        raise ValueError(f"{label} {value}: the edited range holds at most {most} blend frames ({share}); a longer "
                         "blend fades the new motion back into the source")
    return value


def max_threads() -> int:
    return min(MAX_THREADS, THREADS_PER_CORE * (os.cpu_count() or 1))


def check_threads(value, label: str = "threads") -> int | None:
    """CPU threads for torch: None (the default) or 1 to ``max_threads()``."""
    if value is None:
        return None
    cores = os.cpu_count() or 1
    if not (isinstance(value, numbers.Integral) and not isinstance(value, bool)) or value < 1:
        raise ValueError(f"{label} {value}: give a whole number >= 1 (this machine has {cores} cores)")
    if value > max_threads():
        raise ValueError(f"{label} {value}: give at most {max_threads()} ({THREADS_PER_CORE} per core, at most "
                         f"{MAX_THREADS}; this machine has {cores} cores)")
    return int(value)


# ----------------------------------------------------------------------------------------------- device


def check_device(device, label: str = "device") -> None:
    """ValueError unless torch can use ``device`` here ('auto', 'cpu', 'cuda', 'cuda:1', 'mps', a torch.device)."""
    if str(device) == "auto":
        return
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"{label} {device!r}: not a device torch knows ({error}); use auto, cpu, cuda, cuda:N "
                         "or mps") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            why = "this torch is built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
            flag = "--device" if label.startswith("--") else "device="
            raise ValueError(f"{label} {device}: CUDA is not available here ({why}, torch {torch.__version__}); "
                             f"use {flag}{' ' if flag.startswith('--') else ''}cpu, or auto")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ValueError(f"{label} {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{label} {device}: Apple's MPS is not available here; use cpu, or auto")
    elif parsed.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"{label} {device}: moscale runs on cpu, cuda or mps")


# ----------------------------------------------------------------------------------------------- prompts

# Words the model's captions are made of (HumanML3D's and the corpus's): a prompt with none of them is not English
# motion text, and the frozen text encoder maps it somewhere the generator never saw.
ENGLISH_WORDS = frozenset("""
a an the person man woman someone human he she they it his her their and then while with to of in on at up down
forward forwards backward backwards back left right side sideways around over under into out from toward towards
walk walks walking walked run runs running ran jog jogs jogging jump jumps jumping jumped hop hops skip skips
turn turns turning turned step steps stepping stand stands standing stood sit sits sitting sat squat squats
kneel kneels crouch crouches crawl crawls lie lies lying fall falls falling stumble stumbles climb climbs
wave waves waving raise raises raising lift lifts lower lowers throw throws throwing catch catches kick kicks
kicking punch punches punching push pushes pull pulls dance dances dancing spin spins spinning bow bows
stretch stretches stretching bend bends bending lean leans reach reaches point points clap claps swing swings
slowly quickly fast slow twice once three times circle straight ahead hand hands arm arms leg legs foot feet
head body knee knees hip hips shoulder shoulders both other its something ball chair stairs happy sad tired old
""".split())
EXAMPLE = "describe the motion in English, e.g. 'a person walks forward and waves'"
_INVISIBLE = {"Cc", "Cf", "Zs", "Zl", "Zp"}  # controls, zero-width and direction marks, spaces


def _shown(text: str, width: int = 80) -> str:
    return repr(text) if len(text) <= width else repr(text[:width - 3] + "...")


def check_prompt(prompt, label: str = "prompt") -> str:
    """``prompt`` as the tokenizer will read it: refused (ValueError, TypeError for a non-string) when it is not
    text, holds bytes that are not UTF-8 (a shell passes them as lone surrogates), or is empty or only invisible
    characters (zero-width spaces); cut to MAX_PROMPT_CHARS characters (the encoder reads far fewer tokens, and
    longer text only makes the tokenizer and torch print warnings)."""
    if isinstance(prompt, (bytes, bytearray)):
        raise TypeError(f"{label} is bytes; give text (str), e.g. prompt.decode('utf-8')")
    if not isinstance(prompt, str):
        raise TypeError(f"{label} is {type(prompt).__name__}; give text (str), e.g. 'a person walks forward'")
    bad = next((i for i, c in enumerate(prompt) if "\ud800" <= c <= "\udfff"), None)
    if bad is not None:
        raise ValueError(f"{label} holds bytes that are not UTF-8 text (at character {bad + 1}: "
                         f"{prompt[max(0, bad - 10):bad + 10]!r}); type it again, or save it as UTF-8")
    if all(c.isspace() or unicodedata.category(c) in _INVISIBLE for c in prompt):
        what = "empty or only whitespace" if all(c.isspace() for c in prompt) else \
            "only invisible characters (zero-width spaces, direction marks)"
        raise ValueError(f"{label} {_shown(prompt)} is {what}: describe the motion, e.g. 'a person walks forward'")
    return prompt[:MAX_PROMPT_CHARS]


def prompt_warnings(prompt: str) -> list[str]:
    """Why the model will not understand ``prompt`` (empty when it looks like English motion text). Never refuses."""
    shown = _shown(prompt)
    letters = [c for c in prompt if c.isalpha()]
    if not letters:
        return [f"the prompt {shown} has no words: {EXAMPLE}"]
    other_script = sum(not (c.isascii() or unicodedata.name(c, "").startswith("LATIN")) for c in letters)
    # an English word inside other text ("Person が歩く", "شخص Hand") does not make the prompt English
    if other_script >= 2 or sum(c.isascii() for c in letters) < 0.5 * len(letters):
        return [f"the prompt {shown} does not look English: the model knows English motion words only, so the "
                f"result will not follow it; {EXAMPLE}"]
    words = re.findall(r"[a-z]+", prompt.lower())
    if not any(_known(word) for word in words):
        return [f"the prompt {shown} has no English motion words the model knows; {EXAMPLE}"]
    return []


def _known(word: str) -> bool:
    return any(form in ENGLISH_WORDS for form in (word, word.rstrip("s"), re.sub(r"(ing|ed|es)$", "", word)))
