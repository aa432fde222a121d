"""Guo et al. 2022's HumanML3D evaluator ("text_mot_match"), for users who have its weights, so their numbers compare
with published tables. Our own modules, with the parameter names and shapes of the published checkpoint:

    checkpoint = torch.load("checkpoints/t2m/text_mot_match/model/finest.tar", weights_only=True)
    checkpoint["movement_encoder"]  main.0 Conv1d(259 -> 512, k4 s2 p1), main.3 Conv1d(512 -> 512, k4 s2 p1),
                                    out_net Linear(512 -> 512); LeakyReLU(0.2) after each convolution
    checkpoint["motion_encoder"]    input_emb Linear(512 -> 1024), gru bidirectional GRU(1024), hidden (2, 1, 1024),
                                    output_net Linear(2048 -> 1024), LayerNorm, LeakyReLU(0.2), Linear(1024 -> 512)
    checkpoint["text_encoder"]      pos_emb Linear(15 -> 300), input_emb Linear(300 -> 512), gru bidirectional
                                    GRU(512), hidden (2, 1, 512), output_net Linear(1024 -> 512), LayerNorm,
                                    LeakyReLU(0.2), Linear(512 -> 512)

Motions: features normalised with the evaluator's mean/std, foot contacts (last 4) dropped, zero-padded to 196 frames;
the motion GRU reads length // 4 steps. Texts: HumanML3D's lemmatised "word/POS" tokens, cut to 20, wrapped in
sos/eos, each a GloVe vector (300-d; `unk` for unknown words) plus a 15-way POS one-hot where a list of key words
(directions, body parts, objects, actions, manners) overrides the tag. Both GRUs keep their final hidden states.
"""
from __future__ import annotations

import pickle
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence

from moscale.evaluation.batches import as_motion_list, pad_motions

POS_CATEGORIES = ("VERB", "NOUN", "DET", "ADP", "NUM", "AUX", "PRON", "ADJ", "ADV", "Loc_VIP", "Body_VIP", "Obj_VIP",
                  "Act_VIP", "Desc_VIP", "OTHER")
KEY_WORDS = {  # checked in this order; the first list holding the word sets its category
    "Loc_VIP": ("left", "right", "clockwise", "counterclockwise", "anticlockwise", "forward", "back", "backward", "up",
                "down", "straight", "curve"),
    "Body_VIP": ("arm", "chin", "foot", "feet", "face", "hand", "mouth", "leg", "waist", "eye", "knee", "shoulder",
                 "thigh"),
    "Obj_VIP": ("stair", "dumbbell", "chair", "window", "floor", "car", "ball", "handrail", "baseball", "basketball"),
    "Act_VIP": ("walk", "run", "swing", "pick", "bring", "kick", "put", "squat", "throw", "hop", "dance", "jump",
                "turn", "stumble", "stop", "sit", "lift", "lower", "raise", "wash", "stand", "kneel", "stroll", "rub",
                "bend", "balance", "flap", "jog", "shuffle", "lean", "rotate", "spin", "spread", "climb"),
    "Desc_VIP": ("slowly", "carefully", "fast", "careful", "slow", "quickly", "happy", "angry", "sad", "happily",
                 "angrily", "sadly"),
}
CHECKPOINT_PARTS = ("movement_encoder", "text_encoder", "motion_encoder")
CHECKPOINT_CANDIDATES = ("finest.tar", "model/finest.tar", "text_mot_match/model/finest.tar",
                         "t2m/text_mot_match/model/finest.tar")


@dataclass(frozen=True)
class GuoConfig:
    feature_dim: int = 263  # the movement encoder reads feature_dim - 4 (no foot contacts)
    movement_hidden: int = 512
    movement_latent: int = 512
    motion_hidden: int = 1024
    word_dim: int = 300
    pos_dim: int = len(POS_CATEGORIES)
    text_hidden: int = 512
    embed_dim: int = 512
    unit_length: int = 4
    max_text_tokens: int = 20
    max_motion_frames: int = 196


def _head(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.LayerNorm(hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, out_dim))


class GuoMovementEncoder(nn.Module):
    def __init__(self, config: GuoConfig):
        super().__init__()
        c = config
        # Index layout (conv, dropout, activation) x 2 gives the checkpoint's names main.0 and main.3.
        self.main = nn.Sequential(nn.Conv1d(c.feature_dim - 4, c.movement_hidden, 4, 2, 1), nn.Dropout(0.2),
                                  nn.LeakyReLU(0.2), nn.Conv1d(c.movement_hidden, c.movement_latent, 4, 2, 1),
                                  nn.Dropout(0.2), nn.LeakyReLU(0.2))
        self.out_net = nn.Linear(c.movement_latent, c.movement_latent)

    def forward(self, features_BTD: torch.Tensor) -> torch.Tensor:
        return self.out_net(self.main(features_BTD.transpose(1, 2)).transpose(1, 2))  # (B, T // 4, latent)


class _BiGRUEncoder(nn.Module):
    """Bidirectional GRU from a learned initial state; the two final states, concatenated, go through output_net."""

    def __init__(self, input_dim: int, hidden: int, out_dim: int):
        super().__init__()
        self.input_emb = nn.Linear(input_dim, hidden)
        self.gru = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
        self.output_net = _head(2 * hidden, hidden, out_dim)
        self.hidden = nn.Parameter(torch.randn(2, 1, hidden))

    def encode(self, inputs_BTC: torch.Tensor, lengths_B: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(self.input_emb(inputs_BTC), lengths_B.cpu(), batch_first=True,
                                      enforce_sorted=False)
        initial_2BH = self.hidden.expand(-1, inputs_BTC.shape[0], -1).contiguous()
        _, last_2BH = self.gru(packed, initial_2BH)
        return self.output_net(torch.cat([last_2BH[0], last_2BH[1]], dim=-1))


class GuoMotionEncoder(_BiGRUEncoder):
    def __init__(self, config: GuoConfig):
        super().__init__(config.movement_latent, config.motion_hidden, config.embed_dim)

    def forward(self, movements_BTC: torch.Tensor, steps_B: torch.Tensor) -> torch.Tensor:
        return self.encode(movements_BTC, steps_B)


class GuoTextEncoder(_BiGRUEncoder):
    def __init__(self, config: GuoConfig):
        super().__init__(config.word_dim, config.text_hidden, config.embed_dim)
        self.pos_emb = nn.Linear(config.pos_dim, config.word_dim)

    def forward(self, words_BSW: torch.Tensor, pos_BSP: torch.Tensor, lengths_B: torch.Tensor) -> torch.Tensor:
        return self.encode(words_BSW + self.pos_emb(pos_BSP), lengths_B)


# ---------------------------------------------------------------------------------------------------------------------
# word vectors


class _NoGlobalsUnpickler(pickle.Unpickler):
    """The vocabulary pickles are a list of str and a dict str -> int: no class may be loaded from them."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a vocabulary pickle")


def _load_plain_pickle(path: Path):
    with open(path, "rb") as handle:
        return _NoGlobalsUnpickler(handle).load()


class GloveVectors:
    """Guo et al.'s GloVe subset: PREFIX_data.npy (V, 300), PREFIX_words.pkl (list), PREFIX_idx.pkl (word -> row)."""

    def __init__(self, vectors_VW: np.ndarray, word_to_row: Mapping[str, int]):
        self.vectors_VW = np.asarray(vectors_VW, dtype=np.float32)
        self.word_to_row = dict(word_to_row)
        if "unk" not in self.word_to_row:
            raise ValueError("the word vectors have no 'unk' entry")

    @classmethod
    def load(cls, folder: str | Path, prefix: str = "our_vab") -> "GloveVectors":
        folder = Path(folder)
        paths = [folder / f"{prefix}_{part}" for part in ("data.npy", "words.pkl", "idx.pkl")]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"GloVe files missing: {', '.join(missing)}")
        words = _load_plain_pickle(paths[1])
        word_to_row = _load_plain_pickle(paths[2])
        return cls(np.load(paths[0]), {w: int(word_to_row[w]) for w in words})

    @property
    def dim(self) -> int:
        return self.vectors_VW.shape[1]

    def token(self, token: str) -> tuple[np.ndarray, np.ndarray]:
        """(word vector, POS one-hot) of one 'word/POS' token."""
        word, _, pos = token.partition("/")
        one_hot = np.zeros(len(POS_CATEGORIES), dtype=np.float32)
        if word not in self.word_to_row:
            one_hot[POS_CATEGORIES.index("OTHER")] = 1
            return self.vectors_VW[self.word_to_row["unk"]], one_hot
        category = next((key for key, words in KEY_WORDS.items() if word in words), pos)
        one_hot[POS_CATEGORIES.index(category if category in POS_CATEGORIES else "OTHER")] = 1
        return self.vectors_VW[self.word_to_row[word]], one_hot


def fallback_tokens(caption: str) -> list[str]:
    """Lower-case words tagged OTHER, for captions without HumanML3D's lemmatised POS tokens (approximate)."""
    return [f"{word}/OTHER" for word in re.findall(r"[a-z]+", caption.lower())]


# ---------------------------------------------------------------------------------------------------------------------
# the evaluator


class GuoEvaluator:
    """Embeds motions and captions like Guo et al.'s evaluation wrapper; same interface as TextMotionEvaluator."""

    def __init__(self, movement: GuoMovementEncoder, motion: GuoMotionEncoder, text: GuoTextEncoder,
                 glove: GloveVectors, mean_D, std_D, config: GuoConfig = GuoConfig(), device="cpu"):
        self.config = config
        self.device = torch.device(device)
        self.movement = movement.to(self.device).eval()
        self.motion = motion.to(self.device).eval()
        self.text = text.to(self.device).eval()
        self.glove = glove
        self.mean_D = torch.as_tensor(np.asarray(mean_D), dtype=torch.float32, device=self.device).reshape(-1)
        self.std_D = torch.as_tensor(np.asarray(std_D), dtype=torch.float32, device=self.device).reshape(-1)
        self.caption_tokens: dict[str, list[str]] = {}
        self._warned_fallback = False

    @classmethod
    def from_state(cls, checkpoint: Mapping, glove: GloveVectors, mean_D, std_D, config: GuoConfig = GuoConfig(),
                   device="cpu") -> "GuoEvaluator":
        missing = [part for part in CHECKPOINT_PARTS if part not in checkpoint]
        if missing:
            raise ValueError(f"not a Guo et al. evaluator checkpoint: no {missing} (keys: {sorted(checkpoint)[:8]})")
        parts = (GuoMovementEncoder(config), GuoMotionEncoder(config), GuoTextEncoder(config))
        for name, module in zip(("movement_encoder", "motion_encoder", "text_encoder"), parts):
            try:
                module.load_state_dict(checkpoint[name])
            except RuntimeError as error:
                raise ValueError(f"checkpoint part {name!r} does not match Guo et al.'s architecture: "
                                 f"{error}") from error
        return cls(*parts, glove, mean_D, std_D, config, device)

    @classmethod
    def from_files(cls, checkpoint: str | Path, glove: str | Path | GloveVectors, mean, std, device="cpu",
                   config: GuoConfig = GuoConfig()) -> "GuoEvaluator":
        """mean/std: arrays or .npy paths (Guo's eval used the HumanML3D Mean.npy/Std.npy of its training data)."""
        state = load_guo_checkpoint(checkpoint)
        vectors = glove if isinstance(glove, GloveVectors) else GloveVectors.load(glove)
        mean = np.load(mean) if isinstance(mean, (str, Path)) else mean
        std = np.load(std) if isinstance(std, (str, Path)) else std
        return cls.from_state(state, vectors, mean, std, config, device)

    def set_caption_tokens(self, tokens: Mapping[str, Sequence[str] | str]) -> None:
        """Register HumanML3D 'word/POS' tokens per caption (a list or one space-separated string)."""
        for caption, value in tokens.items():
            self.caption_tokens[" ".join(caption.split())] = value.split() if isinstance(value, str) else list(value)

    @torch.no_grad()
    def embed_motions(self, features, lengths=None, *, normalized: bool = False, batch_size: int = 128
                      ) -> torch.Tensor:
        motions, lengths = as_motion_list(features, lengths)
        unit = self.config.unit_length
        if (lengths < unit).any():
            raise ValueError(f"motions must be at least {unit} frames long")
        outputs = []
        for start in range(0, len(motions), batch_size):
            batch_BTD, lengths_B = pad_motions(motions[start:start + batch_size], self.device,
                                               min_frames=self.config.max_motion_frames)
            if not normalized:
                valid_BT1 = (torch.arange(batch_BTD.shape[1], device=self.device)[None] < lengths_B[:, None])[..., None]
                batch_BTD = (batch_BTD - self.mean_D) / self.std_D * valid_BT1
            movements_BTC = self.movement(batch_BTD[..., :-4])
            outputs.append(self.motion(movements_BTC, lengths_B // unit).float().cpu())
        return torch.cat(outputs) if outputs else torch.zeros(0, self.config.embed_dim)

    @torch.no_grad()
    def embed_texts(self, captions: Sequence[str], tokens: Sequence[Sequence[str]] | None = None,
                    batch_size: int = 256) -> torch.Tensor:
        """Captions' tokens come from `tokens`, else from `set_caption_tokens`, else `fallback_tokens` (warned)."""
        captions = list(captions)
        if tokens is None:
            tokens = [self._tokens_for(c) for c in captions]
        outputs = []
        for start in range(0, len(captions), batch_size):
            words_BSW, pos_BSP, lengths_B = self.text_inputs(tokens[start:start + batch_size])
            outputs.append(self.text(words_BSW, pos_BSP, lengths_B).float().cpu())
        return torch.cat(outputs) if outputs else torch.zeros(0, self.config.embed_dim)

    def _tokens_for(self, caption: str) -> list[str]:
        key = " ".join(caption.split())
        if key in self.caption_tokens:
            return self.caption_tokens[key]
        if not self._warned_fallback:
            warnings.warn("captions without HumanML3D POS tokens are tokenised approximately (words tagged OTHER); "
                          "scores then differ from the published protocol", stacklevel=3)
            self._warned_fallback = True
        return fallback_tokens(caption)

    def text_inputs(self, token_lists: Sequence[Sequence[str]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(word vectors (B, S, 300), POS one-hots (B, S, 15), lengths (B,)) with sos/eos, at most 20 words."""
        wrapped = [["sos/OTHER", *list(t)[: self.config.max_text_tokens], "eos/OTHER"] for t in token_lists]
        width = max(len(t) for t in wrapped)
        words_BSW = np.zeros((len(wrapped), width, self.glove.dim), dtype=np.float32)
        pos_BSP = np.zeros((len(wrapped), width, len(POS_CATEGORIES)), dtype=np.float32)
        for b, sentence in enumerate(wrapped):
            for s, token in enumerate(sentence):
                words_BSW[b, s], pos_BSP[b, s] = self.glove.token(token)
        lengths_B = torch.tensor([len(t) for t in wrapped], dtype=torch.long)
        return torch.from_numpy(words_BSW).to(self.device), torch.from_numpy(pos_BSP).to(self.device), lengths_B


def find_guo_checkpoint(path: str | Path) -> Path | None:
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        return next((path / c for c in CHECKPOINT_CANDIDATES if (path / c).is_file()), None)
    return None


def load_guo_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict, read with torch.load(weights_only=True) (tensors and plain containers only)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(f"{path}: holds objects other than tensors and plain containers; re-save just its "
                         f"{', '.join(CHECKPOINT_PARTS)} state dicts ({error})") from error
    if not isinstance(checkpoint, dict):
        raise ValueError(f"{path}: expected a dict checkpoint, got {type(checkpoint).__name__}")
    return checkpoint
