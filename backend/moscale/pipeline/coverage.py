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

Being trained on an action is not the same as making it. A release may also carry ``following.json``: how often
each prompt of the prompt-following benchmark (benchmarks/following.py, several seeds, a geometric check on the
joints) came out right. A part whose nearest tested prompt is one the model seldom makes (fewer than
``WEAK_SHARE`` of its tries: kicks, flips, cartwheels, spins with the bundled model) is warned about too, naming that
prompt and its score, unless an equally near tested prompt is one the model makes well.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import torch

from moscale.model.text import TextEncoder
from moscale.utils import atomic

VOCABULARY_FILE = "vocabulary.safetensors"
SCORES_FILE = "following.json"  # per tested prompt: checks passed / tries (benchmarks/following.py --write-release)
SCORES_FORMAT = "moscale-following"
MAX_PHRASES = 2000
DEFAULT_THRESHOLD = 0.55  # cosine similarity; each release stores its own calibrated value
NEAREST = 3
# A part is taken for a tested prompt when it is at least this similar to it. On the rewordings of trained actions in
# benchmarks/coverage.py (KNOWN, HELDOUT_KNOWN), the midpoint between the least similar one that means its nearest
# tested prompt ("gets up off the floor", 0.732) and the most similar one that does not ("squats down low" to "kneels
# down", 0.717); actions no source holds come no nearer than 0.56 ...
SCORE_MATCH = 0.725
# ... and nearer to it by this margin than to any tested prompt the model makes well ("jumps over something" is as
# near "jumps in place", seldom right, as "jumps", mostly right: no warning).
SCORE_MARGIN = 0.03
WEAK_SHARE = 1 / 3  # a tested prompt right on fewer than this share of its tries is one the model seldom makes
# What words cannot get from the model but a control can (issue 26): named after a warning about a part that says it.
CONTROL_HINTS = ((re.compile(r"\bcircles?\b", re.IGNORECASE),
                  "to go round a circle, draw one and make it the take's path (the panel's Path, or --path)"),)
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
class PromptScore:
    """A prompt of the prompt-following benchmark and how often the release made it right."""

    prompt: str
    passes: int
    tries: int

    @property
    def weak(self) -> bool:
        return self.passes < WEAK_SHARE * self.tries


@dataclass(frozen=True)
class PartCoverage:
    part: str
    similarity: float            # cosine similarity with the nearest training phrase
    nearest: tuple[str, ...]     # the closest training phrases, nearest first
    seldom: PromptScore | None = None  # the tested prompt this part is taken for, when the model seldom makes it


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
    def seldom(self) -> tuple[PartCoverage, ...]:
        """Parts within reach of the training captions whose tested prompt the model seldom makes."""
        return tuple(part for part in self.parts if part.seldom is not None and part not in self.far)

    @property
    def warning(self) -> str | None:
        """One line for the user when some part is out of reach, else None."""
        if not self.far and not self.seldom:
            return None
        words = [f"'{part.part}' is far from anything this model was trained on (similarity {part.similarity:.2f}); "
                 "nearest: " + ", ".join(f"'{text}'" for text in part.nearest) for part in self.far]
        for part in self.seldom:
            tested = phrase(part.seldom.prompt)
            words.append((f"'{part.part}': this model makes it" if tested == part.part else
                          f"'{part.part}' is like '{tested}', which this model makes") +
                         f" right only {part.seldom.passes} of {part.seldom.tries} times in its prompt-following "
                         "benchmark")
        hints = [hint for pattern, hint in CONTROL_HINTS
                 if any(pattern.search(part.part) for part in (*self.far, *self.seldom))]
        return f"{'; '.join(words)}. It will still generate its nearest guess." + "".join(
            f" Tip: {hint}." for hint in hints)


@dataclass
class Vocabulary:
    phrases: list[str]
    embeddings_ND: torch.Tensor  # unit rows, float32
    threshold: float = DEFAULT_THRESHOLD
    calibration: dict | None = None
    scores: list[PromptScore] = field(default_factory=list)
    # the scores' prompts and their embeddings, made at the first check (again when `scores` is replaced)
    _scores_ND: tuple[tuple[str, ...], torch.Tensor] | None = field(default=None, repr=False)

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
        if self.scores:
            coverage = self._mark_seldom(encoder, coverage)
        return CoverageReport(prompt, tuple(coverage), self.threshold)

    def _mark_seldom(self, encoder: TextEncoder, coverage: list[PartCoverage]) -> list[PartCoverage]:
        prompts = tuple(test.prompt for test in self.scores)
        if self._scores_ND is None or self._scores_ND[0] != prompts:
            self._scores_ND = (prompts, embed(encoder, [phrase(prompt) for prompt in prompts]))
        similarity_PT = embed(encoder, [part.part for part in coverage]) @ self._scores_ND[1].T
        weak_T = torch.tensor([test.weak for test in self.scores])
        marked = []
        for part, row in zip(coverage, similarity_PT):
            best = int(torch.argmax(row))
            well = float(row[~weak_T].max()) if bool((~weak_T).any()) else -1.0
            if weak_T[best] and row[best] >= SCORE_MATCH and row[best] - well >= SCORE_MARGIN:
                part = replace(part, seldom=self.scores[best])
            marked.append(part)
        return marked

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
                   json.loads(metadata.get("calibration", "{}")), load_scores(folder))


def load_scores(folder: str | Path) -> list[PromptScore]:
    """The release's prompt-following scores (`SCORES_FILE`), or [] when it has none."""
    path = Path(folder) / SCORES_FILE
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text())
        if data.get("format") != SCORES_FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {SCORES_FORMAT!r}")
        tested = [PromptScore(str(row["prompt"]), int(row["passes"]), int(row["tries"])) for row in data["prompts"]]
    except (OSError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: not a readable prompt-following file ({error}); delete it or write it again with "
                         "`python build.py bench following --write-release FOLDER`") from error
    if any(not 0 <= test.passes <= test.tries or test.tries < 1 for test in tested):
        raise ValueError(f"{path}: not a readable prompt-following file (every prompt needs 0 <= passes <= tries, "
                         "tries >= 1)")
    return tested


def following_content(cases: Sequence[dict], model: str, seeds: int, guidance: float, schedule: str) -> dict:
    """`SCORES_FILE`'s content from a benchmark run's cases (compound prompts left out: parts are matched one by one)."""
    prompts = [{"prompt": case["prompt"], "check": case["check"], "passes": sum(bool(run["pass"]) for run in case["runs"]),
                "tries": len(case["runs"])} for case in cases if case["category"] != "compound"]
    return {"format": SCORES_FORMAT, "model": model, "seeds": seeds, "guidance": guidance, "schedule": schedule,
            "prompts": prompts}
