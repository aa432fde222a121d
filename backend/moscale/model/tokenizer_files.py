"""Reading a tokenizer release folder (config.json, tokenizer.safetensors, normalization.json) with errors that name
the missing, corrupt or mismatching file; nothing is unpickled."""
from __future__ import annotations

import json
from pathlib import Path

import torch


def read_json(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"missing {path.name} in {path.parent}")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    if not path.is_file():
        raise FileNotFoundError(f"missing {path.name} in {path.parent}")
    try:
        state = load_file(str(path))
    except Exception as error:  # safetensors raises its own error types for truncated or garbled files
        raise ValueError(f"{path}: not a readable safetensors file ({error})") from error
    from moscale.utils.weights import check_finite

    check_finite(state, path)
    return state


def load_release_state(model, state: dict[str, torch.Tensor], path: Path) -> None:
    """Load a release's weights into ``model`` (a MotionTokenizer) after checking every name and shape."""
    expected = model.release_state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(f"{path}: does not match config.json (missing {missing[:5]}, unexpected {unexpected[:5]})")
    for name, tensor in state.items():
        if tensor.shape != expected[name].shape:
            raise ValueError(
                f"{path}: tensor {name} has shape {tuple(tensor.shape)}, config.json implies {tuple(expected[name].shape)}"
            )
    model.load_state_dict(state, strict=False)
    # A released codebook is trained; mark it so a fine-tuning run does not re-initialise it from data.
    model.quantizer.initialized.fill_(True)
    model.quantizer.ema_sum.copy_(model.quantizer.codebook)
    model.quantizer.ema_count.fill_(1.0)
