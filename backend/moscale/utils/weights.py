"""Release weights: a safetensors file loaded into the model that its folder's config.json builds."""
from __future__ import annotations

from pathlib import Path

import torch.nn as nn

CONFIG_FILE = "config.json"


def nonfinite_tensors(state: dict) -> list[str]:
    """Names of the floating-point tensors in ``state`` that hold NaN or inf (a diverged run, a damaged copy)."""
    import numpy as np
    import torch

    bad = []
    for name, tensor in state.items():
        if not tensor.is_floating_point():
            continue
        if tensor.dtype not in (torch.float16, torch.float32, torch.float64):
            tensor = tensor.float()  # bfloat16 / float8: numpy has no such types
        # numpy's isfinite: torch's took seconds for a 30 MB model on one busy thread, numpy's milliseconds
        if not np.isfinite(tensor.detach().cpu().numpy()).all():
            bad.append(name)
    return bad


def check_finite(state: dict, path: Path) -> None:
    """ValueError naming the first tensor of ``path`` that holds NaN or inf: such a model generates garbage."""
    bad = nonfinite_tensors(state)
    if bad:
        raise ValueError(f"{path}: tensor {bad[0]!r} holds NaN or inf values ({len(bad)} tensor(s) in all); the "
                         "checkpoint is damaged: retrain it or copy it again")


def load_weights(model: nn.Module, path: Path, what: str) -> nn.Module:
    """Load the safetensors file at `path` into `model` and return it; a missing or unreadable file, or one whose
    tensor names or shapes differ from the model's, is refused with the file's path (`what` names it, e.g. "the
    transformer weights")."""
    from safetensors.torch import load_file

    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing ({what})")
    try:
        state = load_file(str(path))
    except Exception as error:  # safetensors raises its own types for truncated or garbled files
        raise ValueError(f"{path}: not a readable safetensors file ({error})") from error
    check_finite(state, path)
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise ValueError(f"{path}: does not match {CONFIG_FILE} (missing {missing[:3]}, unexpected {unexpected[:3]}, "
                         f"wrong shapes {wrong[:3]})")
    model.load_state_dict(state)
    return model
