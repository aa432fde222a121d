"""An honest word when a prompt is out of reach: how close a prompt comes to anything the model was trained on.

    vocabulary = Vocabulary.build(encoder, training_captions)        # at release time; saved in the release folder
    report = vocabulary.check(encoder, "a person juggles three balls")
    report.warning  # "'juggles three balls' is far from anything this model was trained on; nearest: ..."

The model's own frozen text encoder embeds the prompt (mean-pooled token states, L2-normalised: the sentence
embedding all-MiniLM-L6-v2 was trained to give) and compares it with its training captions by cosine similarity.
A compound prompt ("walks forward, then sits down") is checked part by part, so one unknown part is named even
when the other is familiar. The captions are stored without their subject ("a person", "someone") and thinned to
at most ``MAX_PHRASES`` by farthest-point sampling in embedding space (every caption left out has a kept one very
close to it), so the file stays small and the nearest phrases shown to the user are distinct.

Below ``threshold`` (calibrated on held-out prompts, benchmarks/coverage.py) the prompt gets a warning; it is never
refused: the model still generates its nearest guess.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from moscale.model.text import TextEncoder
from moscale.utils import atomic

VOCABULARY_FILE = "vocabulary.safetensors"
MAX_PHRASES = 2000
DEFAULT_THRESHOLD = 0.55  # cosine similarity; each release stores its own calibrated value
NEAREST = 3
SUBJECT = re.compile(r"^(?:a|an|the|this|that)?\s*(?:person|man|woman|human|figure|someone|somebody|he|she|they|"
                     r"(?:[a-z]+\s+)?(?:person|man|woman|human))\s+", re.IGNORECASE)
# Where a compound prompt's parts meet: ", then", "and then", "; ", ". ", "while" is kept whole (one motion).
PART_SPLIT = re.compile(r"\s*(?:,\s*(?:and\s+)?then\b|\band\s+then\b|\bthen\b|;|\.(?=\s+\w))\s*", re.IGNORECASE)


def phrase(caption: str) -> str:
    """A caption without its subject and final period: "a person walks forward." -> "walks forward"."""
    text = " ".join(caption.strip().rstrip(".").split())
    return SUBJECT.sub("", text, count=1) or text


def prompt_parts(prompt: str) -> list[str]:
    """The parts of a compound prompt, as phrases ("a person walks, then sits down" -> ["walks", "sits down"])."""
    parts = [phrase(part) for part in PART_SPLIT.split(prompt) if part and part.strip(" ,.")]
    return parts or [phrase(prompt)]


def embed(encoder: TextEncoder, texts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
    """(N, D) float32 unit sentence embeddings; texts are read as "a person <phrase>" so prompts and captions
    (stored without subject) are embedded alike."""
    rows = []
    for start in range(0, len(texts), batch_size):
        batch = [f"a person {text}" for text in texts[start:start + batch_size]]
        _, _, pooled_BD = encoder.encode(batch, warn=False)
        rows.append(torch.nn.functional.normalize(pooled_BD.float().cpu(), dim=-1))
    return torch.cat(rows) if rows else torch.zeros(0, encoder.config.dim)


def farthest_points(embeddings_ND: torch.Tensor, count: int) -> list[int]:
    """Indices of `count` rows chosen greedily, each the one least similar to those already chosen (the first row
    first): a deterministic thinning that keeps every region of the embedding space."""
    if len(embeddings_ND) <= count:
        return list(range(len(embeddings_ND)))
    chosen = [0]
    closest_N = embeddings_ND @ embeddings_ND[0]
    for _ in range(count - 1):
        index = int(torch.argmin(closest_N))
        chosen.append(index)
        closest_N = torch.maximum(closest_N, embeddings_ND @ embeddings_ND[index])
    return sorted(chosen)


@dataclass(frozen=True)
class PartCoverage:
    part: str
    similarity: float            # cosine similarity with the nearest training phrase
    nearest: tuple[str, ...]     # the closest training phrases, nearest first


@dataclass(frozen=True)
class CoverageReport:
    prompt: str
    parts: tuple[PartCoverage, ...]
    threshold: float

    @property
    def similarity(self) -> float:
        """The least covered part's similarity."""
        return min(part.similarity for part in self.parts)

    @property
    def far(self) -> tuple[PartCoverage, ...]:
        return tuple(part for part in self.parts if part.similarity < self.threshold)

    @property
    def warning(self) -> str | None:
        """One line for the user when some part is out of reach, else None."""
        if not self.far:
            return None
        words = "; ".join(f"'{part.part}' is far from anything this model was trained on (similarity "
                          f"{part.similarity:.2f}); nearest: " + ", ".join(f"'{text}'" for text in part.nearest)
                          for part in self.far)
        return f"{words}. It will still generate its nearest guess."


@dataclass
class Vocabulary:
    phrases: list[str]
    embeddings_ND: torch.Tensor  # unit rows, float32
    threshold: float = DEFAULT_THRESHOLD
    calibration: dict | None = None

    @classmethod
    def build(cls, encoder: TextEncoder, captions: Sequence[str], max_phrases: int = MAX_PHRASES,
              threshold: float = DEFAULT_THRESHOLD) -> "Vocabulary":
        """From a corpus's training captions: subjects stripped, duplicates dropped, thinned to `max_phrases`."""
        phrases = sorted({phrase(caption) for caption in captions if caption.strip()})
        if not phrases:
            raise ValueError("a vocabulary needs at least one training caption")
        embeddings_ND = embed(encoder, phrases)
        keep = farthest_points(embeddings_ND, max_phrases)
        return cls([phrases[i] for i in keep], embeddings_ND[keep], threshold)

    def check(self, encoder: TextEncoder, prompt: str) -> CoverageReport:
        parts = prompt_parts(prompt)
        similarity_PN = embed(encoder, parts) @ self.embeddings_ND.T
        coverage = []
        for part, row in zip(parts, similarity_PN):
            order = torch.argsort(row, descending=True)
            nearest = []
            for index in order.tolist():  # distinct nearest phrases (near-duplicates differ in one word)
                if all(self.phrases[index] not in kept and kept not in self.phrases[index] for kept in nearest):
                    nearest.append(self.phrases[index])
                if len(nearest) == NEAREST:
                    break
            coverage.append(PartCoverage(part, float(row[order[0]]), tuple(nearest)))
        return CoverageReport(prompt, tuple(coverage), self.threshold)

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / VOCABULARY_FILE
        metadata = {"format": "moscale-vocabulary", "phrases": json.dumps(self.phrases),
                    "threshold": repr(float(self.threshold)), "calibration": json.dumps(self.calibration or {})}
        atomic.save_safetensors(path, {"embeddings": self.embeddings_ND.to(torch.float16).contiguous()}, metadata)
        return path

    @classmethod
    def load(cls, folder: str | Path) -> "Vocabulary | None":
        """The release folder's vocabulary, or None when it has none (releases made before it existed)."""
        from safetensors import SafetensorError, safe_open

        path = Path(folder) / VOCABULARY_FILE
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="pt") as handle:
                metadata = handle.metadata() or {}
                embeddings_ND = handle.get_tensor("embeddings").float()
            phrases = json.loads(metadata["phrases"])
            threshold = float(metadata["threshold"])
        except (OSError, KeyError, ValueError, RuntimeError, SafetensorError) as error:
            raise ValueError(f"{path}: not a readable MoScale vocabulary ({error}); delete it or rebuild it with "
                             "benchmarks/coverage.py --write") from error
        if len(phrases) != len(embeddings_ND):
            raise ValueError(f"{path}: {len(phrases)} phrases but {len(embeddings_ND)} embeddings")
        return cls(phrases, torch.nn.functional.normalize(embeddings_ND, dim=-1), threshold,
                   json.loads(metadata.get("calibration", "{}")))
