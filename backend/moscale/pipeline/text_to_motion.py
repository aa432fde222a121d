"""Text to motion from a release folder: the object the Blender add-on, the command line and scripts use.

    pipe = MoScalePipeline.from_pretrained("runs/gen/release")      # CUDA when available, else CPU
    motion = pipe.generate("a person jumps twice", seconds=5, seed=1)
    edited = pipe.edit(motion, 30, 60, "the person kicks", seed=2)  # also extend, prepend, inbetween, timeline
    motion.save("jump.bvh")

The pipeline composes the model layer (tokenizer, transformer, text encoder, sampler) with the motion layer (decoding,
jitter filter, foot lock); edits and timelines are built on it in moscale.pipeline.editing and .timeline.
"""
from __future__ import annotations

import functools
import random
import warnings
from pathlib import Path

import torch

from moscale.model.sampling import (DEFAULT_GUIDANCE, CancelFlag, ProgressFn, SamplingOptions, generate_features,
                                    prefix_mode, resolve_schedule)
from moscale.model.text import TextEncoder, TextEncoderConfig, check_prompts
from moscale.model.tokenizer import MotionTokenizer
from moscale.model.transformer import NEXT_SCALE, MotionTransformer
from moscale.motion import feet
from moscale.motion.clip import Motion
from moscale.motion.kinematics import filter_jitter
from moscale.pipeline import checks, control, editing, timeline
from moscale.pipeline.checks import MAX_SECONDS
from moscale.pipeline.coverage import CoverageReport, Vocabulary
from moscale.pipeline.release import (CONFIG_FILE, FPS, TOKENIZER_DIR, load_generator, read_release_config,
                                      resolve_device, resolve_text_encoder_name)

OVERLAP_FRAMES = 48  # 2.4 s shared by consecutive windows
# Arithmetic of the model passes: "fp32", or "bf16" autocast (matmuls and convolutions in bfloat16, sampling
# probabilities in fp32). bf16 is an option, not a default: measured in benchmarks/precision.py.
PRECISIONS = ("fp32", "bf16")


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
        self._warned: set[str] = set()  # prompts whose length warning was given (prompt_warnings or encode_text)
        self.prefix = "final"  # the KV-cache state the model was trained for (moscale.model.sampling.prefix_mode)
        self.vocabulary: Vocabulary | None = None  # what the model was trained on (moscale.pipeline.coverage)
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
        device = resolve_device(device)  # before any file is read: "cuda" without CUDA is said first
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
            pipe = cls(model, tokenizer, text_config, device, folder, text_encoder, precision)
        except ValueError as error:
            raise ValueError(f"{folder}: incompatible parts: {error}") from error
        training = config.get("training")
        pipe.prefix = prefix_mode(training.get("options") if isinstance(training, dict) else None)
        pipe.vocabulary = Vocabulary.load(folder)
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
        """(tokens_1SD, mask_1S) on the pipeline's device, memoised per prompt. A prompt longer than the encoder
        reads gets one warning (``warnings.warn``), unless ``prompt_warnings`` already gave it."""
        (prompt,) = check_prompts([checks.check_prompt(prompt)])
        if prompt not in self._text_memo:
            warning = self._length_warning(prompt)
            if warning:
                warnings.warn(warning, stacklevel=3)
            tokens_BSD, mask_BS, _ = self.text_encoder.encode([prompt], warn=False)
            self._text_memo[prompt] = (tokens_BSD.to(self.device), mask_BS.to(self.device))
        return self._text_memo[prompt]

    def read_text(self, prompt: str) -> tuple[str, int]:
        """(the part of ``prompt`` the text encoder reads, the prompt's length in tokens)."""
        (prompt,) = check_prompts([checks.check_prompt(prompt)])
        tokenizer, most = self.text_encoder.tokenizer, self.text_config.max_tokens
        ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
        if len(ids) <= most:
            return prompt, len(ids)
        return tokenizer.decode(ids[:most], skip_special_tokens=True).strip(), len(ids)

    def _length_warning(self, prompt: str) -> str | None:
        if prompt in self._warned:
            return None
        self._warned.add(prompt)
        read, count = self.read_text(prompt)
        if read == prompt:
            return None
        cut = "+" if len(prompt) >= checks.MAX_PROMPT_CHARS else ""
        return (f"the prompt is {count}{cut} tokens long; the text encoder reads the first "
                f"{self.text_config.max_tokens} ({checks._shown(read)}) and ignores the rest")

    def check_prompt(self, prompt: str) -> CoverageReport | None:
        """How close each part of `prompt` (the part the encoder reads) comes to the training captions (None for a
        release without a vocabulary); `.warning` is the line to show the user when a part is out of reach. Never
        refuses a prompt it can read."""
        if self.vocabulary is None:
            return None
        return self.vocabulary.check(self.text_encoder, self.read_text(prompt)[0])

    def prompt_warnings(self, prompts, text: bool = True) -> list[str]:
        """One line for each thing wrong with each prompt (or timeline segment): not English motion text
        (``checks.prompt_warnings``; ``text=False`` leaves these to a caller that showed them already), longer than
        the encoder reads, far from everything the model was trained on. Never refuses."""
        lines: list[str] = []
        for prompt in prompts:
            (cleaned,) = check_prompts([checks.check_prompt(prompt)])
            lines += checks.prompt_warnings(prompt) if text else []
            lines += [line for line in [self._length_warning(cleaned)] if line]
            report = self.check_prompt(prompt)
            lines += [report.warning] if report is not None and report.warning else []
        return list(dict.fromkeys(lines))

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
            frames = int(round(checks.check_finite(seconds, "seconds") * FPS))
            asked = f"{seconds} s ({frames} frames)"
        else:
            frames = checks.check_whole(frames, "frames", None)  # its range is said below, in seconds too
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
                 foot_lock: bool = True, progress: ProgressFn | None = None, cancel: CancelFlag = None,
                 path=None, poses: dict | None = None, loop: bool = False, in_place: bool = False):
        """A Motion (or a list of `num_samples` Motions) of the requested length at 20 fps, joints in metres.
        `foot_lock` pins each foot while the model's contact channels say it is on the floor (moscale.motion.feet: the
        joints change, the model's features are kept as generated).

        progress(done, total, description) is called after every pass; cancel (threading.Event or a callable returning
        True) is checked before every pass and raises moscale.model.sampling.Cancelled.

        Controls (moscale.pipeline.control): `path` (a moscale.motion.paths.GroundPath the pelvis travels along; without
        a length, the length follows from it), `poses` ({frame: (22, 3) joints} the take passes through; with a path,
        poses on it, in its space), `loop` (the last frame flows into the first) and `in_place` (no travel)."""
        guidance, temperature, top_p, top_k, seed = checks.check_sampling(
            guidance=guidance, temperature=temperature, top_p=top_p, top_k=top_k, seed=seed)
        num_samples = checks.check_num_samples(num_samples)
        if num_samples > 1:
            # Sample b is the take `seed + b` makes alone, so the seed each one reports re-makes it (drawn as one
            # batch, every sample reported the batch's seed and none of them could be made again from it).
            first = random.randrange(2**31) if seed is None else int(seed)
            self.resolve_frames(seconds, frames)  # refused before any sample is made
            samples = []
            for b in range(num_samples):
                step = None if progress is None else functools.partial(_sample_progress, progress, b, num_samples)
                motion = self.generate(prompt, seconds=seconds, frames=frames, seed=(first + b) % 2**63,  # int64
                                       guidance=guidance, schedule=schedule, temperature=temperature, top_p=top_p,
                                       top_k=top_k, foot_lock=foot_lock, progress=step, cancel=cancel, path=path,
                                       poses=poses, loop=loop, in_place=in_place)
                motion.metadata.update(sample=b, num_samples=num_samples)
                samples.append(motion)
            return samples
        if path is not None or poses or loop or in_place:
            return control.generate(self, prompt, seconds=seconds, frames=frames, path=path, poses=poses, loop=loop,
                                    in_place=in_place, seed=seed, guidance=guidance, schedule=schedule,
                                    temperature=temperature, top_p=top_p, top_k=top_k, foot_lock=foot_lock,
                                    progress=progress, cancel=cancel)
        frames = self.resolve_frames(seconds, frames)
        text_1SD, mask_1S = self.encode_text(prompt)
        num_scales = len(self.model.config.factors)
        schedule = resolve_schedule(schedule, num_scales) if self.model.config.mode == NEXT_SCALE else (1,) * num_scales
        seed = random.randrange(2**31) if seed is None else int(seed)
        generator = torch.Generator(device=self.device).manual_seed(seed)
        options = SamplingOptions(schedule=schedule, guidance=float(guidance), temperature=float(temperature),
                                  top_p=top_p, top_k=top_k, prefix=self.prefix)
        with self.autocast():
            features_1TD = generate_features(self.model, self.tokenizer, text_1SD, mask_1S, frames, options, generator,
                                             progress, cancel, self.overlap_frames)
        features_TD = self.tokenizer.denormalize(features_1TD).float().cpu().numpy()[0]
        motion = Motion.from_features(features_TD, fps=FPS, prompt=prompt, sample=0, num_samples=1, seed=seed,
                                      guidance=float(guidance), schedule=list(schedule), temperature=float(temperature),
                                      top_p=top_p, top_k=top_k, frames=frames, mode=self.model.config.mode,
                                      model=str(self.folder) if self.folder else None, foot_lock=bool(foot_lock))
        motion.joints = filter_jitter(motion.joints, FPS)  # the decoder's frame-to-frame jitter
        if foot_lock:
            motion.joints = feet.lock_feet(motion.joints, feet.motion_contacts(motion.joints, motion.features, FPS))
        return motion

    # Editing lives in moscale.pipeline.editing (zero-shot: the same model with tokens outside the range locked).
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

    def timeline(self, segments, path=None, **options):
        """One Motion from a prompt timeline: segments (`timeline.Segment(prompt, seconds)` or "prompt:seconds"), each
        continuing the one before; options as for `generate` (seed, guidance, schedule, progress, cancel, ...). With a
        `path` (moscale.motion.paths.GroundPath) the whole take travels along it, each segment its part."""
        motion = timeline.generate_sequence(self, segments, **options)
        return motion if path is None else control.carry_along(self, motion, path)

    def regenerate_segment(self, motion, index: int, **options):
        """`motion` (a timeline) with segment `index` made again, optionally from a new `prompt=`, as an edit."""
        return timeline.regenerate_segment(self, motion, index, **options)


def _sample_progress(progress: ProgressFn, sample: int, samples: int, done: int, total: int, description: str) -> None:
    """One sample's passes as part of all samples' (each sample is made alone, one after another)."""
    progress(sample * total + done, samples * total, f"{description} (variation {sample + 1} of {samples})")
