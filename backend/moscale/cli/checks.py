"""Checks of everything a user typed on the command line, run before any model is loaded or any frame computed.

    warnings = check_arguments(("generate",), args)   # ValueError (one line, names the option) when a value is wrong
    apply_threads(("generate",), args)                 # torch.set_num_threads: --threads, else 1 on the CPU

Why before: a wrong value found after generating costs the user the run (a 1e6 fps export wrote 6.3 GB first), and
one found never is worse (a negative guidance became 0 while the file recorded -5). The checks look at options by
their names (``output``, ``fps``, ``guidance``, ...), as the commands define them; the commands keep their own checks.
"""
from __future__ import annotations

import argparse
import math
import os
import re
import sys
from pathlib import Path

from moscale.utils import atomic

MIN_FPS, MAX_FPS = 1.0, 1000.0  # mocap runs at up to a few hundred fps; more is a typo (and gigabytes of frames)
MAX_SEED = 2**63 - 1             # seeds are stored as int64 in files and takes
INPUT_OPTIONS = ("motion", "source", "clip", "inbetween")  # the option names of input motion files
MOTION_INPUTS = (".bvh", ".npz", ".npy")
SCENE_OUTPUTS = (".fbx", ".blend")

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


def check_arguments(command: tuple[str, ...], args: argparse.Namespace) -> list[str]:
    """Raise ValueError naming the first wrong option; return warnings (prompts the model will not understand)."""
    _check_inputs(args)
    _check_outputs(command, args)
    _check_numbers(command, args)
    warnings = []
    if command in (("generate",), ("edit",)):
        check_device(args.device)
        prompts = [args.prompt] if getattr(args, "prompt", None) is not None else []
        if getattr(args, "sequence", None):
            from moscale.pipeline.timeline import parse_segment  # PROMPT:SECONDS, its length checked here too

            prompts += [parse_segment(text).prompt for text in args.sequence]
        for prompt in prompts:
            warnings += prompt_warnings(prompt)
        check_model_folder(args.model)
    return warnings


# ----------------------------------------------------------------------------------------------- files


def _check_inputs(args: argparse.Namespace) -> None:
    for name in INPUT_OPTIONS:
        path = getattr(args, name, None)
        if not isinstance(path, Path):
            continue
        if path.is_dir():
            raise ValueError(f"{path} is a directory; give a motion file ({', '.join(MOTION_INPUTS)})")
        if not path.exists():
            raise ValueError(f"{path}: no such file")


def _outputs(args: argparse.Namespace) -> list[Path]:
    value = getattr(args, "output", None)
    paths = [] if value is None else list(value) if isinstance(value, list) else [value]
    return [Path(p) for p in paths] + [Path(getattr(args, name)) for name in ("figure", "filmstrip")
                                       if getattr(args, name, None) is not None]


def _check_outputs(command: tuple[str, ...], args: argparse.Namespace) -> None:
    outputs = _outputs(args)
    seen: dict[Path, Path] = {}
    for path in outputs:
        atomic.check_writable(path)
        key = path.expanduser().resolve()
        if key in seen:
            raise ValueError(f"{path} is given twice as an output")
        seen[key] = path
    fps = getattr(args, "fps", None)
    if command != ("preview",) and fps is not None and any(p.suffix.lower() in SCENE_OUTPUTS for p in outputs) \
            and math.isfinite(fps) and fps != round(fps):
        raise ValueError(f"--fps {fps:g}: .fbx and .blend keys need a whole number of frames per second")


# ----------------------------------------------------------------------------------------------- numbers


def _finite(name: str, value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{name} {value}: give a finite number")
    return value


def _seconds(name: str, value: float | None, low: float, high: float | None, inclusive_low: bool = False) -> None:
    if value is None:
        return
    _finite(name, value)
    if value < low or (value == low and not inclusive_low) or (high is not None and value > high):
        bounds = f"{'at least' if inclusive_low else 'more than'} {low:g}" + (f" and at most {high:g}" if high else "")
        raise ValueError(f"{name} {value:g}: give {bounds} seconds")


def _check_numbers(command: tuple[str, ...], args: argparse.Namespace) -> None:
    for name in ("fps", "input_fps"):
        fps = getattr(args, name, None)
        if fps is not None and not (math.isfinite(fps) and MIN_FPS <= fps <= MAX_FPS):
            raise ValueError(f"--{name.replace('_', '-')} {fps:g}: give a frame rate between {MIN_FPS:g} and "
                             f"{MAX_FPS:g} frames per second")
    guidance = getattr(args, "guidance", None)
    if guidance is not None and not (math.isfinite(guidance) and guidance >= 0):
        raise ValueError(f"--guidance {guidance}: give a finite number >= 0 (0 turns guidance off; default 5)")
    seed = getattr(args, "seed", None)
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise ValueError(f"--seed {seed}: give a whole number from 0 to {MAX_SEED} (2**63 - 1)")
    threads = getattr(args, "threads", None)
    if threads is not None and threads < 1:
        raise ValueError(f"--threads {threads}: give a whole number >= 1 (this machine has {os.cpu_count()} cores)")
    if command in (("generate",), ("edit",)):
        _check_sampling(command, args)
    if command == ("preview",):
        _seconds("--start", args.start, 0.0, None, inclusive_low=True)
        _seconds("--seconds", args.seconds, 0.0, None)
        if args.frames < 1 or args.size < 16:
            raise ValueError(f"--frames {args.frames} / --size {args.size}: give at least 1 panel and 16 pixels")
    if command == ("export",) and (args.filmstrip_frames < 1 or args.samples < 1):
        raise ValueError(f"--filmstrip-frames {args.filmstrip_frames} / --samples {args.samples}: give at least 1")


def _check_sampling(command: tuple[str, ...], args: argparse.Namespace) -> None:
    from moscale.pipeline import MAX_SECONDS

    temperature = _finite("--temperature", args.temperature)
    if temperature <= 0:
        raise ValueError(f"--temperature {temperature:g}: give a number > 0 (1 is the trained distribution)")
    if args.top_p is not None and not (math.isfinite(args.top_p) and 0 < args.top_p <= 1):
        raise ValueError(f"--top-p {args.top_p:g}: give a number in (0, 1]")
    if args.top_k is not None and args.top_k < 1:
        raise ValueError(f"--top-k {args.top_k}: give a whole number >= 1")
    if command == ("generate",):
        _seconds("--seconds", args.seconds, 0.0, MAX_SECONDS)
        if args.frames is not None and not 1 <= args.frames <= MAX_SECONDS * 20:
            raise ValueError(f"--frames {args.frames}: give 1 to {MAX_SECONDS * 20:g} frames (20 fps)")
        if not 1 <= args.num_samples <= 1000:
            raise ValueError(f"--num-samples {args.num_samples}: give 1 to 1000")
    else:
        for name in ("extend", "prepend", "gap"):
            _seconds(f"--{name}", getattr(args, name), 0.0, MAX_SECONDS)
        if args.blend_frames < 0:
            raise ValueError(f"--blend-frames {args.blend_frames}: give a whole number >= 0")


# ----------------------------------------------------------------------------------------------- device, prompt, model


def check_device(device: str) -> None:
    """ValueError unless torch can use ``device`` here ('auto', 'cpu', 'cuda', 'cuda:1', 'mps', ...)."""
    if device == "auto":
        return
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"--device {device!r}: not a device torch knows ({error}); use auto, cpu, cuda, cuda:N "
                         "or mps") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            why = "this torch is built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise ValueError(f"--device {device}: CUDA is not available here ({why}, torch {torch.__version__}); "
                             "use --device cpu, or auto")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ValueError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"--device {device}: Apple's MPS is not available here; use --device cpu, or auto")
    elif parsed.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"--device {device}: moscale runs on cpu, cuda or mps")


def prompt_warnings(prompt: str) -> list[str]:
    """Why the model will not understand ``prompt`` (empty when it looks like English motion text)."""
    letters = [c for c in prompt if c.isalpha()]
    example = "describe the motion in English, e.g. 'a person walks forward and waves'"
    if not letters:
        return [f"the prompt {prompt!r} has no words: {example}"]
    if sum(c.isascii() for c in letters) < 0.5 * len(letters):
        return [f"the prompt {prompt!r} does not look English: the model knows English motion words only, so the "
                f"result will not follow it; {example}"]
    words = re.findall(r"[a-z]+", prompt.lower())
    if not any(_known(word) for word in words):
        return [f"the prompt {prompt!r} has no English motion words the model knows; {example}"]
    return []


def _known(word: str) -> bool:
    return any(form in ENGLISH_WORDS for form in (word, word.rstrip("s"), re.sub(r"(ing|ed|es)$", "", word)))


def check_model_folder(folder: Path | None) -> None:
    """ValueError when a release folder's weights hold NaN or inf (a training run that diverged, a damaged copy):
    such a model generates garbage or NaN frames. (The loaders refuse them too; this says so before anything else
    is loaded.) A missing or unreadable folder is left to the command, which says what to do."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from moscale.pipeline import default_model_folder
    from moscale.utils.weights import check_finite

    folder = folder or default_model_folder()
    if folder is None or not Path(folder).is_dir():
        return
    for path in sorted(Path(folder).rglob("*.safetensors")):
        try:
            state = load_file(str(path))
        except (SafetensorError, OSError):
            continue  # unreadable: the loader refuses it with its own message
        check_finite(state, path)


# ----------------------------------------------------------------------------------------------- threads


def apply_threads(command: tuple[str, ...], args: argparse.Namespace) -> None:
    """torch's CPU threads: --threads N, else 1 when the work runs on the CPU. Measured on a busy 2-core box, a
    warm 10 s generate took 0.3 s on 1 thread and 5-13 s on 2: extra threads wait on cores that other processes
    hold. On a GPU the CPU threads only feed it, so torch's default is kept there."""
    threads = getattr(args, "threads", None)
    if command not in (("generate",), ("edit",), ("export",)):
        return
    if command == ("export",) and "torch" not in sys.modules:
        return  # export runs no model; --threads also sets Blender's render threads (filmstrip)
    import torch

    if threads is None:
        device = str(getattr(args, "device", "cpu"))
        if device.startswith("cuda") or (device == "auto" and torch.cuda.is_available()):
            return
        threads = 1
    torch.set_num_threads(threads)
