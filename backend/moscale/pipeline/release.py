"""Release folders: what `moscale train generator` writes and `MoScalePipeline.from_pretrained` reads.

A release folder is self-contained (nothing pickled):
    config.json               {"format": "moscale-generator", "version": 1, "transformer": {...},
                               "text_encoder": {"name", "max_tokens", "dim"}, "tokenizer": "tokenizer", "fps": 20, ...}
    generator.safetensors     the transformer
    tokenizer/                the frozen tokenizer's own release folder (config.json, tokenizer.safetensors,
                              normalization.json)
    vocabulary.safetensors    optional: the training captions' embeddings (moscale.pipeline.coverage)
    following.json            optional: the prompt-following benchmark's score per prompt (the same module)
The text encoder is referenced by name (the packaged all-MiniLM-L6-v2) or by a directory, absolute or relative to the
release folder (a T5 encoder can be put there).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

from moscale.model.text import TextEncoderConfig
from moscale.model.tokenizer import MotionTokenizer
from moscale.model.transformer import MotionTransformer, TransformerConfig
from moscale.pipeline.checks import check_device
from moscale.utils import atomic
from moscale.utils.paths import ASSETS
from moscale.utils.weights import load_weights

FORMAT_NAME = "moscale-generator"
CONFIG_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "generator.safetensors"
TOKENIZER_DIR = "tokenizer"
from moscale.motion.skeleton import FPS  # noqa: E402  (the model's frame rate, one definition)


# ---------------------------------------------------------------------------------------------------------------------
# release folders


def save_release(folder: str | Path, model: MotionTransformer, tokenizer: MotionTokenizer,
                 text_encoder: TextEncoderConfig, training: dict | None = None) -> Path:
    """Write config.json, generator.safetensors and tokenizer/ into `folder`, all or nothing: the release is built
    in a temporary folder beside it that replaces `folder` only once every file is written (moscale.utils.atomic), so a
    save cut off half way leaves the previous release whole."""
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
    """'auto' (CUDA when available, else the CPU) or a device torch can use here; ValueError saying why not (a
    "cuda" without CUDA used to fail later, in torch, with an AssertionError)."""
    check_device(device)
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)




def default_model_folder() -> Path | None:
    """$MOSCALE_MODEL, else the bundled model under assets/ when present."""
    if os.environ.get("MOSCALE_MODEL"):
        return Path(os.environ["MOSCALE_MODEL"])
    bundled = ASSETS / "model"
    return bundled if (bundled / CONFIG_FILE).is_file() else None
