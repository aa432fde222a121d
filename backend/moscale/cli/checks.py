"""Checks of everything a user typed on the command line, run before any model is loaded or any frame computed.

    warnings = check_arguments(("generate",), args)   # ValueError (one line, names the option) when a value is wrong
    apply_threads(("generate",), args)                 # torch.set_num_threads: --threads, else 1 on the CPU

Why before: a wrong value found after generating costs the user the run (a 1e6 fps export wrote 6.3 GB first), and
one found never is worse (a negative guidance became 0 while the file recorded -5). The checks look at options by
their names (``output``, ``fps``, ``guidance``, ...), as the commands define them; the commands keep their own checks.
The value checks are the pipeline's own (``moscale.pipeline.checks``, named here by their options), so the Python
API and the add-on refuse the same values with the same words; input files are measured by ``moscale.motion.limits``
and every output path is tried by ``moscale.utils.atomic.check_writable`` (each sample's with --num-samples).
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from moscale.motion import limits
from moscale.pipeline import checks as shared
from moscale.pipeline.checks import prompt_warnings
from moscale.utils import atomic

MIN_FPS, MAX_FPS = limits.MIN_FPS, limits.MAX_FPS
INPUT_OPTIONS = ("motion", "source", "clip", "inbetween")  # the option names of input motion files
SCENE_OUTPUTS = (".fbx", ".blend")
MAX_BETAS = 10  # shape coefficients the SMPL body takes (SMPL, SMPL-H and SMPL-X all have at least 10)


def check_arguments(command: tuple[str, ...], args: argparse.Namespace) -> list[str]:
    """Raise ValueError naming the first wrong option; return warnings (prompts the model will not understand)."""
    _check_inputs(args)
    _check_outputs(command, args)
    _check_numbers(command, args)
    _check_body(args)
    warnings = []
    if command in (("generate",), ("edit",)):
        check_device(args.device)
        prompts = [args.prompt] if getattr(args, "prompt", None) is not None else []
        if getattr(args, "sequence", None):
            from moscale.pipeline.timeline import parse_segment  # PROMPT:SECONDS, its length checked here too

            prompts += [parse_segment(text).prompt for text in args.sequence]
        for prompt in prompts:
            shared.check_prompt(prompt)  # not text the tokenizer can read: refused, as the API refuses it
            warnings += prompt_warnings(prompt)
        check_model_folder(args.model)
    return warnings


# ----------------------------------------------------------------------------------------------- files


def _check_inputs(args: argparse.Namespace) -> None:
    """Each input motion file (and --pose-at's) is a regular file within moscale.motion.limits, from the file
    system and the array headers: a FIFO, a device, a 4 GiB array are refused before a model loads."""
    paths = [getattr(args, name, None) for name in INPUT_OPTIONS]
    for _, spec in getattr(args, "pose_at", None) or ():
        paths.append(Path(spec.rpartition("@")[0] if "@" in Path(spec).name else spec))
    for path in paths:
        if isinstance(path, Path):
            try:
                limits.check_motion_file(path)
            except FileNotFoundError as error:
                raise ValueError(str(error)) from None


def _outputs(args: argparse.Namespace) -> list[Path]:
    """Every file the command will write: -o (each sample's own name with --num-samples), --figure, --filmstrip."""
    value = getattr(args, "output", None)
    paths = [] if value is None else list(value) if isinstance(value, list) else [value]
    paths = [Path(p) for p in paths]
    samples = getattr(args, "num_samples", 1) or 1
    if samples > 1 and len(paths) == 1 and 1 <= samples <= shared.MAX_SAMPLES:
        paths = [sample_path(paths[0], i, samples) for i in range(samples)]
    return paths + [Path(getattr(args, name)) for name in ("figure", "filmstrip")
                    if getattr(args, name, None) is not None]


def sample_path(output: Path, index: int, count: int) -> Path:
    """Where sample ``index`` of ``count`` is written: OUTPUT itself for one sample, else OUTPUT_<index>.suffix."""
    return output if count == 1 else output.with_name(f"{output.stem}_{index}{output.suffix.lower()}")


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


def _check_numbers(command: tuple[str, ...], args: argparse.Namespace) -> None:
    for name in ("fps", "input_fps"):
        fps = getattr(args, name, None)
        if fps is not None and not (math.isfinite(fps) and MIN_FPS <= fps <= MAX_FPS):
            raise ValueError(f"--{name.replace('_', '-')} {fps:g}: give a frame rate between {MIN_FPS:g} and "
                             f"{MAX_FPS:g} frames per second")
    if getattr(args, "guidance", None) is not None:
        shared.check_guidance(args.guidance, "--guidance")
    shared.check_seed(getattr(args, "seed", None), "--seed")
    shared.check_threads(getattr(args, "threads", None), "--threads")
    if command in (("generate",), ("edit",)):
        _check_sampling(command, args)
    if command == ("preview",):
        from moscale.motion.preview import check_preview_size

        shared.check_seconds(args.start, "--start", 0.0, None, inclusive_low=True)
        shared.check_seconds(args.seconds, "--seconds", 0.0, None)
        check_preview_size(args.size, args.frames, "--size", "--frames")
    if command == ("export",) and (args.filmstrip_frames < 1 or args.samples < 1):
        raise ValueError(f"--filmstrip-frames {args.filmstrip_frames} / --samples {args.samples}: give at least 1")


def _check_sampling(command: tuple[str, ...], args: argparse.Namespace) -> None:
    shared.check_sampling(guidance=args.guidance, temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
                          seed=args.seed, flag="--")
    if command == ("generate",):
        shared.check_seconds(args.seconds, "--seconds")
        if args.frames is not None and not 1 <= args.frames <= shared.MAX_SECONDS * 20:
            raise ValueError(f"--frames {args.frames}: give 1 to {shared.MAX_SECONDS * 20:g} frames (20 fps)")
        shared.check_num_samples(args.num_samples, "--num-samples")
    else:
        for name in ("extend", "prepend", "gap"):
            shared.check_seconds(getattr(args, name), f"--{name}")
        shared.check_whole(args.blend_frames, "--blend-frames", 0)


def _check_body(args: argparse.Namespace) -> None:
    """--betas: numbers, finite, at most MAX_BETAS, and only with --smpl-model (the mannequin has no shape)."""
    text = getattr(args, "betas", None)
    if not text:
        return
    parse_betas(text)
    if getattr(args, "smpl_model", None) is None:
        raise ValueError(f"--betas {text}: shape coefficients need the SMPL body: add --smpl-model FOLDER (your "
                         "SMPL model files); without it the character is the mannequin, which has no shape")


def parse_betas(text: str) -> tuple[float, ...]:
    """'0.5,-1' -> (0.5, -1.0); ValueError naming --betas for anything else."""
    try:
        betas = tuple(float(value) for value in text.split(",") if value.strip())
    except ValueError:
        raise ValueError(f"--betas {text!r}: give comma-separated numbers, e.g. 0.5,-1") from None
    if not all(math.isfinite(value) for value in betas):
        raise ValueError(f"--betas {text}: give finite numbers (no nan or inf), e.g. 0.5,-1")
    if len(betas) > MAX_BETAS:
        raise ValueError(f"--betas {text}: {len(betas)} values; the body takes at most {MAX_BETAS}")
    return betas


# ----------------------------------------------------------------------------------------------- device, prompt, model


def check_device(device: str) -> None:
    """ValueError unless torch can use ``device`` here ('auto', 'cpu', 'cuda', 'cuda:1', 'mps', ...)."""
    shared.check_device(device, "--device")


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
