"""Text to motion from a release folder: the API the Blender add-on and the command line use.

    pipe = MoScalePipeline.from_pretrained("runs/gen/release")      # CUDA when available, else CPU
    motion = pipe.generate("a person jumps twice", seconds=5, seed=1)
    motion.save("jump.bvh")

A release folder is self-contained (nothing pickled):
    config.json               {"format": "moscale-generator", "version": 1, "transformer": {...},
                               "text_encoder": {"name", "max_tokens", "dim"}, "tokenizer": "tokenizer", "fps": 20, ...}
    generator.safetensors     the transformer
    tokenizer/                the frozen tokenizer's own release folder (config.json, tokenizer.safetensors,
                              normalization.json)
The text encoder is referenced by name (the packaged all-MiniLM-L6-v2) or by a directory, absolute or relative to the
release folder (a T5 encoder can be put there).

`moscale generate "a person jumps twice" --seconds 5 -o jump.bvh` (also .npy, .npz, .gif, .png).
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from pathlib import Path
from typing import Any

import torch

from moscale import editing, feet
from moscale.kinematics import filter_jitter
from moscale.sampling import (DEFAULT_GUIDANCE, CancelFlag, ProgressFn, SamplingOptions, generate_features,
                              prefix_mode, resolve_schedule)
from moscale.text import TextEncoder, TextEncoderConfig, check_prompts
from moscale.tokenizer import MotionTokenizer
from moscale.transformer import NEXT_SCALE, MotionTransformer, TransformerConfig
from moscale.weights import load_weights

FORMAT_NAME = "moscale-generator"
CONFIG_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "generator.safetensors"
TOKENIZER_DIR = "tokenizer"
FPS = 20
MAX_SECONDS = 60.0  # longest clip generate() accepts (longer than a window: overlapping continued windows)
OVERLAP_FRAMES = 48  # 2.4 s shared by consecutive windows
# Arithmetic of the model passes: "fp32", or "bf16" autocast (matmuls and convolutions in bfloat16, sampling
# probabilities in fp32). bf16 is an option, not a default: measured in benchmarks/precision.py.
PRECISIONS = ("fp32", "bf16")


# ---------------------------------------------------------------------------------------------------------------------
# release folders


def save_release(folder: str | Path, model: MotionTransformer, tokenizer: MotionTokenizer,
                 text_encoder: TextEncoderConfig, training: dict | None = None) -> Path:
    """Write config.json, generator.safetensors and tokenizer/ into `folder`, all or nothing: the release is built
    in a temporary folder beside it that replaces `folder` only once every file is written (moscale.atomic), so a
    save cut off half way leaves the previous release whole."""
    from moscale import atomic

    folder = Path(folder)
    config = {"format": FORMAT_NAME, "version": CONFIG_VERSION, "transformer": model.config.to_dict(),
              "text_encoder": dict(name=text_encoder.name, max_tokens=text_encoder.max_tokens, dim=text_encoder.dim),
              "tokenizer": TOKENIZER_DIR, "fps": FPS,
              "window_frames": model.config.max_latent * tokenizer.config.downsample, "training": training or {}}
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic.replacing_folder(folder) as staging:
        tokenizer.save_pretrained(staging / TOKENIZER_DIR)
        atomic.save_safetensors(staging / WEIGHTS_FILE, state, metadata={"format": FORMAT_NAME})
        atomic.write_text(staging / CONFIG_FILE, json.dumps(config, indent=2) + "\n")
        for other in (folder.iterdir() if folder.is_dir() else ()):  # a model card, eval results: kept as they are
            if not (staging / other.name).exists():
                (shutil.copytree if other.is_dir() else shutil.copy2)(other, staging / other.name)
    return folder


def save_random_release(folder: str | Path, transformer: TransformerConfig, tokenizer_config,
                        text_encoder: TextEncoderConfig, seed: int = 0, mean=None, std=None) -> Path:
    """An untrained release folder with the right shapes and costs (for tests and benchmarks): random transformer
    weights (AdaLN gates too, so every block matters) and a random tokenizer codebook."""
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = MotionTransformer(transformer)
        tokenizer = MotionTokenizer(tokenizer_config)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "ada" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.02)
        tokenizer.quantizer.codebook.copy_(torch.randn(tokenizer.quantizer.codebook.shape, generator=generator))
    if mean is not None:
        tokenizer.set_normalization(mean, std)
    return save_release(folder, model, tokenizer, text_encoder, training={"random": True, "seed": seed})


def read_release_config(folder: Path) -> dict:
    path = folder / CONFIG_FILE
    if not folder.is_dir():
        raise FileNotFoundError(f"model folder not found: {folder}")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (a MoScale model folder holds {CONFIG_FILE}, {WEIGHTS_FILE} and "
                                f"{TOKENIZER_DIR}/)")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(config, dict) or config.get("format") != FORMAT_NAME:
        raise ValueError(f"{path}: not a MoScale generator config (format {config.get('format')!r}, "
                         f"expected {FORMAT_NAME!r})" if isinstance(config, dict) else f"{path}: expected an object")
    if int(config.get("version", 0)) > CONFIG_VERSION:
        raise ValueError(f"{path}: version {config['version']} is newer than this moscale reads ({CONFIG_VERSION})")
    for key in ("transformer", "text_encoder"):
        if not isinstance(config.get(key), dict):
            raise ValueError(f"{path}: no {key!r} section")
    return config


def load_generator(folder: Path, config: dict) -> MotionTransformer:
    try:
        model_config = TransformerConfig.from_dict(config["transformer"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"{folder / CONFIG_FILE}: bad 'transformer' section ({error})") from error
    return load_weights(MotionTransformer(model_config), folder / WEIGHTS_FILE, "the transformer weights").eval()


def resolve_text_encoder_name(folder: Path, name: str) -> str:
    """A directory relative to the release folder wins; otherwise the name as given (packaged or absolute)."""
    local = folder / name
    return str(local) if (local / "config.json").is_file() else name


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


# ---------------------------------------------------------------------------------------------------------------------
# the pipeline


class MoScalePipeline:
    def __init__(self, model: MotionTransformer, tokenizer: MotionTokenizer, text_config: TextEncoderConfig,
                 device: torch.device, folder: Path | None = None, text_encoder: TextEncoder | None = None,
                 precision: str = "fp32"):
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer.to(device).eval()
        self.text_config = text_config
        self.device = device
        self.folder = folder
        self._text_encoder = text_encoder
        self._text_memo: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.prefix = "final"  # the KV-cache state the model was trained for (moscale.sampling.prefix_mode)
        if precision not in PRECISIONS:
            raise ValueError(f"precision {precision!r}: use one of {PRECISIONS}")
        self.precision = precision
        if tokenizer.config.codebook_size != model.config.num_codes or tokenizer.config.code_dim != model.config.code_dim:
            raise ValueError(f"tokenizer (codebook {tokenizer.config.codebook_size} x {tokenizer.config.code_dim}) "
                             f"does not match the transformer ({model.config.num_codes} x {model.config.code_dim})")
        if tuple(tokenizer.config.scale_factors) != tuple(model.config.factors):
            raise ValueError(f"tokenizer scales {tokenizer.config.scale_factors} differ from the transformer's "
                             f"{model.config.factors}")
        if text_config.dim != model.config.text_dim:
            raise ValueError(f"text encoder width {text_config.dim} differs from the transformer's "
                             f"{model.config.text_dim}")

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str | torch.device = "auto",
                        text_encoder: TextEncoder | None = None, load_text_encoder: bool = True,
                        precision: str = "fp32") -> "MoScalePipeline":
        """Load a release folder. Errors name the missing, corrupt or incompatible file. The text encoder is loaded
        here too (a few seconds for MiniLM) unless `load_text_encoder=False` defers it to the first prompt."""
        folder = Path(folder)
        config = read_release_config(folder)
        model = load_generator(folder, config)
        tokenizer = MotionTokenizer.from_pretrained(folder / config.get("tokenizer", TOKENIZER_DIR))
        text = config["text_encoder"]
        try:
            text_config = TextEncoderConfig(name=resolve_text_encoder_name(folder, text["name"]),
                                            max_tokens=int(text["max_tokens"]), dim=int(text["dim"]))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{folder / CONFIG_FILE}: bad 'text_encoder' section ({error})") from error
        try:
            pipe = cls(model, tokenizer, text_config, resolve_device(device), folder, text_encoder, precision)
        except ValueError as error:
            raise ValueError(f"{folder}: incompatible parts: {error}") from error
        training = config.get("training")
        pipe.prefix = prefix_mode(training.get("options") if isinstance(training, dict) else None)
        if load_text_encoder:
            pipe.ensure_text_encoder()
        return pipe

    # --- facts

    @property
    def fps(self) -> int:
        return FPS

    @property
    def window_frames(self) -> int:
        """Longest clip made in one pass of the model (longer ones are joined windows)."""
        return self.model.config.max_latent * self.tokenizer.config.downsample

    @property
    def max_frames(self) -> int:
        if self.model.config.mode != NEXT_SCALE:
            return self.window_frames
        return int(MAX_SECONDS * FPS)

    @property
    def overlap_frames(self) -> int:
        """Frames shared by consecutive windows of a long clip (2.4 s, at most a quarter of the window)."""
        unit = self.tokenizer.config.downsample
        return max(unit, min(OVERLAP_FRAMES, self.window_frames // 4) // unit * unit)

    @property
    def min_frames(self) -> int:
        return self.tokenizer.config.downsample

    # --- text

    @property
    def text_encoder(self) -> TextEncoder:
        return self.ensure_text_encoder()

    def ensure_text_encoder(self) -> TextEncoder:
        """Load the text encoder now if it is not loaded yet."""
        if self._text_encoder is None:
            encoder = TextEncoder.load(self.text_config.name, self.text_config.max_tokens).to(self.device)
            if encoder.config.dim != self.model.config.text_dim:
                raise ValueError(f"text encoder {self.text_config.name!r} is {encoder.config.dim}-d, "
                                 f"the model expects {self.model.config.text_dim}")
            self._text_encoder = encoder
        return self._text_encoder

    def encode_text(self, prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(tokens_1SD, mask_1S) on the pipeline's device, memoised per prompt."""
        (prompt,) = check_prompts([prompt])
        if prompt not in self._text_memo:
            tokens_BSD, mask_BS, _ = self.text_encoder.encode([prompt])
            self._text_memo[prompt] = (tokens_BSD.to(self.device), mask_BS.to(self.device))
        return self._text_memo[prompt]

    # --- generation

    def autocast(self):
        """The context the model passes run in: bf16 autocast when `precision` is "bf16", else a no-op."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    def resolve_frames(self, seconds: float | None, frames: int | None) -> int:
        if seconds is not None and frames is not None:
            raise ValueError("give the length in seconds or in frames, not both")
        if frames is None:
            if seconds is None:
                return self.window_frames
            if not isinstance(seconds, (int, float)) or seconds != seconds:
                raise ValueError(f"seconds must be a number, got {seconds!r}")
            frames = int(round(float(seconds) * FPS))
            asked = f"{seconds} s ({frames} frames)"
        else:
            if int(frames) != frames:
                raise ValueError(f"frames must be a whole number, got {frames!r}")
            frames = int(frames)
            asked = f"{frames} frames"
        if frames < self.min_frames:
            raise ValueError(f"length {asked} is too short: at least {self.min_frames} frames "
                             f"({self.min_frames / FPS:.2f} s)")
        if frames > self.max_frames:
            raise ValueError(f"length {asked} is too long: at most {self.max_frames} frames "
                             f"({self.max_frames / FPS:.1f} s) for this model")
        return frames

    @torch.inference_mode()
    def generate(self, prompt: str, seconds: float | None = None, frames: int | None = None, seed: int | None = None,
                 guidance: float = DEFAULT_GUIDANCE, schedule: str | tuple[int, ...] = "fast", num_samples: int = 1,
                 temperature: float = 1.0, top_p: float | None = 0.9, top_k: int | None = None,
                 foot_lock: bool = True, progress: ProgressFn | None = None, cancel: CancelFlag = None):
        """A Motion (or a list of `num_samples` Motions) of the requested length at 20 fps, joints in metres.
        `foot_lock` pins each foot while the model's contact channels say it is on the floor (moscale.feet: the
        joints change, the model's features are kept as generated).

        progress(done, total, description) is called after every pass; cancel (threading.Event or a callable returning
        True) is checked before every pass and raises moscale.sampling.Cancelled."""
        from moscale.motion import Motion

        text_1SD, mask_1S = self.encode_text(prompt)
        frames = self.resolve_frames(seconds, frames)
        if int(num_samples) < 1:
            raise ValueError(f"num_samples must be at least 1, got {num_samples}")
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        if top_p is not None and not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        num_scales = len(self.model.config.factors)
        schedule = resolve_schedule(schedule, num_scales) if self.model.config.mode == NEXT_SCALE else (1,) * num_scales
        seed = random.randrange(2**31) if seed is None else int(seed)
        generator = torch.Generator(device=self.device).manual_seed(seed)
        options = SamplingOptions(schedule=schedule, guidance=float(guidance), temperature=float(temperature),
                                  top_p=top_p, top_k=top_k, prefix=self.prefix)
        B = int(num_samples)
        with self.autocast():
            features_BTD = generate_features(self.model, self.tokenizer, text_1SD.expand(B, -1, -1),
                                             mask_1S.expand(B, -1), frames, options, generator, progress, cancel,
                                             self.overlap_frames)
        features_BTD = self.tokenizer.denormalize(features_BTD).float().cpu().numpy()
        settings: dict[str, Any] = dict(seed=seed, guidance=float(guidance), schedule=list(schedule),
                                        temperature=float(temperature), top_p=top_p, top_k=top_k, frames=frames,
                                        mode=self.model.config.mode, model=str(self.folder) if self.folder else None,
                                        foot_lock=bool(foot_lock))
        motions = [Motion.from_features(features_BTD[b], fps=FPS, prompt=prompt, sample=b, num_samples=B, **settings)
                   for b in range(B)]
        for motion in motions:
            motion.joints = filter_jitter(motion.joints, FPS)  # the decoder's frame-to-frame jitter
            if foot_lock:
                motion.joints = feet.lock_feet(motion.joints, feet.motion_contacts(motion.joints, motion.features, FPS))
        return motions[0] if B == 1 else motions

    # Editing lives in moscale.editing (zero-shot: the same model with tokens outside the range locked).
    def edit(self, source, start_frame: int, end_frame: int, prompt: str, **options):
        """Regenerate frames [start_frame, end_frame) of `source` (20 fps) to follow `prompt`; frames outside are kept
        bit-identical. Options as for `generate` (seed, guidance, schedule, ...)."""
        with self.autocast():
            return editing.edit(self, source, start_frame, end_frame, prompt, **options)

    def extend(self, source, seconds: float, prompt: str, **options):
        """`source` followed by `seconds` of new motion that continues it."""
        with self.autocast():
            return editing.extend(self, source, seconds, prompt, **options)

    def prepend(self, source, seconds: float, prompt: str, **options):
        """`seconds` of new lead-in motion followed by `source`."""
        with self.autocast():
            return editing.prepend(self, source, seconds, prompt, **options)

    def inbetween(self, first, second, seconds: float, prompt: str, **options):
        """`first`, then `seconds` of new motion, then `second`."""
        with self.autocast():
            return editing.inbetween(self, first, second, seconds, prompt, **options)


# ---------------------------------------------------------------------------------------------------------------------
# command line


def default_model_folder() -> Path | None:
    """$MOSCALE_MODEL, else the bundled model under assets/ when present."""
    import os

    if os.environ.get("MOSCALE_MODEL"):
        return Path(os.environ["MOSCALE_MODEL"])
    bundled = Path(__file__).resolve().parents[2] / "assets" / "model"
    return bundled if (bundled / CONFIG_FILE).is_file() else None


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", nargs="?", help="what the person does, e.g. 'a person jumps twice'")
    parser.add_argument("--sequence", nargs="+", metavar="PROMPT:SECONDS",
                        help="a timeline instead of one prompt, e.g. --sequence \"walks forward:3\" \"waves with the "
                             "right hand:2\": each segment continues the one before (moscale.timeline)")
    parser.add_argument("--no-foot-lock", action="store_true",
                        help="keep the feet as the model made them (default: pinned where it predicts contact)")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--seconds", type=float, help="length in seconds (default: one model window, 9.8 s)")
    length.add_argument("--frames", type=int, help="length in frames at 20 fps")
    parser.add_argument("-o", "--output", type=Path, default=Path("motion.npz"),
                        help="output file: .fbx or .blend (the SMPL character, through the bpy module), .bvh, .npy "
                             "(joints), .npz (AMASS-style SMPL poses + joints, features, settings), .gif or .png "
                             "(preview); several samples get _0, _1, ... suffixes")
    parser.add_argument("--model", type=Path, help="release folder (default: $MOSCALE_MODEL or the bundled model)")
    parser.add_argument("--seed", type=int, help="random seed (default: random, printed)")
    parser.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE,
                        help=f"classifier-free guidance weight (default {DEFAULT_GUIDANCE:g})")
    parser.add_argument("--schedule", default="fast", help="'fast' (1,1,1,1), 'best' (1,2,5,10) or e.g. '1,2,3,4'")
    parser.add_argument("--num-samples", type=int, default=1)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-p", type=float, default=0.9)
    parser.add_argument("--top-k", type=int)
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, ...")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="fp32 (default) or bf16 autocast (faster on CPUs/GPUs with bf16 units; see "
                             "benchmarks/precision.py for its measured deviation)")
    from moscale.export import add_scene_options

    add_scene_options(parser)  # --preset unity|unreal, --fps (for .fbx / .blend)


def run(args: argparse.Namespace) -> int:
    import time

    folder = args.model or default_model_folder()
    if folder is None:
        print("no model: pass --model FOLDER (a release folder from `moscale train generator`) or set MOSCALE_MODEL",
              file=sys.stderr)
        return 2
    from moscale import export

    suffix = args.output.suffix.lower()
    known = export.SCENE_SUFFIXES + export.MOTION_SUFFIXES + export.PREVIEW_SUFFIXES
    if suffix not in known:
        print(f"{args.output}: unknown output type; use {', '.join(known)}", file=sys.stderr)
        return 2
    if suffix in export.SCENE_SUFFIXES:
        try:
            export.require_bpy()  # before generating: say what to install
        except export.BlenderUnavailable as error:
            print(f"error: {error}", file=sys.stderr)
            return 3
    if (args.prompt is None) == (args.sequence is None):
        print("error: give a prompt, or --sequence \"prompt:seconds\" ... (not both)", file=sys.stderr)
        return 2
    if args.sequence and (args.seconds is not None or args.frames is not None or args.num_samples != 1):
        print("error: with --sequence each segment sets its own length; drop --seconds/--frames/--num-samples",
              file=sys.stderr)
        return 2
    sampling = dict(guidance=args.guidance, schedule=args.schedule, temperature=args.temperature, top_p=args.top_p,
                    top_k=args.top_k, foot_lock=not args.no_foot_lock)
    try:
        pipe = MoScalePipeline.from_pretrained(folder, device=args.device, precision=args.precision)
        if args.sequence:
            from moscale import timeline

            segments = [timeline.parse_segment(text) for text in args.sequence]
            for segment in segments:
                pipe.encode_text(timeline.caption(segment.prompt))
            started = time.perf_counter()
            result = timeline.generate_sequence(pipe, segments, seed=args.seed, **sampling)
        else:
            pipe.encode_text(args.prompt)  # so the timing below is generation only
            started = time.perf_counter()
            result = pipe.generate(args.prompt, seconds=args.seconds, frames=args.frames, seed=args.seed,
                                   num_samples=args.num_samples, **sampling)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    motions = result if isinstance(result, list) else [result]
    for i, motion in enumerate(motions):
        path = args.output if len(motions) == 1 else args.output.with_name(f"{args.output.stem}_{i}{suffix}")
        export.write_outputs(motion, [path], args.preset, args.fps, title=motion.prompt)
        print(f"{path}: {motion.num_frames} frames ({motion.seconds:.2f} s), seed {motion.metadata['seed']}")
        for number, segment in enumerate(motion.metadata.get("segments", []), start=1):
            print(f"  segment {number}: frames {segment['start']}:{segment['end']} {segment['caption']!r}")
        if motion.metadata.get("segments"):
            from moscale.timeline import seam_report

            print(f"  seam jumps (m/frame; real motion: median 0.025, p95 0.14): {seam_report(motion)}; "
                  f"re-make one with: moscale edit {path.name} --segment N \"new prompt\"")
    print(f"generated in {elapsed:.2f} s on {pipe.device}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="moscale generate", description="generate a motion from text")
    configure_parser(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
