"""Outputs of the bundled model for fixed seeds, through every path a user takes (generate, several samples, a
long clip, edit, extend, prepend, in-between, a timeline and one segment re-made, .bvh and .npz writers).

tests/fixtures/reference/ holds them as made before the backend was split into layers; test_reference_outputs
checks that the code still makes the same bytes. After a deliberate change of outputs (a new model, a new
sampler), write them again and say why in the commit:

    .venv/bin/python tests/reference_outputs.py
"""
from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from moscale.pipeline import MoScalePipeline
from moscale.pipeline.timeline import Segment

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "assets" / "model"
FOLDER = Path(__file__).resolve().parent / "fixtures" / "reference"
DIGESTS, JOINTS = FOLDER / "outputs.json", FOLDER / "joints.npz"
PROMPT = "a person walks forward, then waves with the right hand"


def compute(pipe: MoScalePipeline) -> dict[str, np.ndarray]:
    """Every output array by name (joints, features, the written files' contents)."""
    out: dict[str, np.ndarray] = {}

    def keep(name, motion):
        out[name + ".joints"] = motion.joints
        if motion.features is not None:
            out[name + ".features"] = motion.features

    walk = pipe.generate(PROMPT, seconds=3, seed=1)
    keep("generate", walk)
    for i, motion in enumerate(pipe.generate("a person jumps twice", frames=64, seed=7, schedule="best",
                                             num_samples=2)):
        keep(f"best{i}", motion)
    keep("long", pipe.generate("a person runs in a circle", seconds=12, seed=2))
    keep("nolock", pipe.generate("a person dances", seconds=4, seed=3, foot_lock=False, guidance=3.0))
    keep("edit", pipe.edit(walk, 20, 40, "a person kicks", seed=4))
    keep("extend", pipe.extend(walk, 2.0, "the person turns left", seed=5))
    keep("prepend", pipe.prepend(walk, 1.2, "a person stands", seed=6))
    keep("inbetween", pipe.inbetween(walk, walk, 1.6, "a person jumps", seed=8))
    sequence = pipe.timeline([Segment("walks forward", 3), Segment("waves with the right hand", 2)], seed=9)
    keep("timeline", sequence)
    keep("segment", pipe.regenerate_segment(sequence, 1, prompt="jumps", seed=10))
    with tempfile.TemporaryDirectory() as folder:
        walk.save(Path(folder) / "w.bvh")
        out["bvh.sha256"] = np.frombuffer(hashlib.sha256((Path(folder) / "w.bvh").read_bytes()).digest(), np.uint8)
        walk.save(Path(folder) / "w.npz")
        with np.load(Path(folder) / "w.npz") as data:
            out["npz.poses"], out["npz.trans"] = data["poses"], data["trans"]
    return out


def digest(array: np.ndarray) -> str:
    return hashlib.sha256(f"{array.dtype.str}{array.shape}".encode() + np.ascontiguousarray(array).tobytes()).hexdigest()


def machine() -> dict:
    """What bit-identical outputs depend on besides the code: torch's build and the CPU kernels it picks."""
    return {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def write(outputs: dict[str, np.ndarray]) -> None:
    FOLDER.mkdir(parents=True, exist_ok=True)
    record = {"machine": machine(), "threads": 1, "digests": {k: digest(v) for k, v in sorted(outputs.items())}}
    DIGESTS.write_text(json.dumps(record, indent=1) + "\n")
    np.savez_compressed(JOINTS, **{k: v for k, v in outputs.items() if k.endswith(".joints")})


if __name__ == "__main__":
    torch.set_num_threads(1)
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else None  # an .npz of outputs computed earlier
    if source is not None:
        with np.load(source) as data:
            write({k: data[k] for k in data.files})
    else:
        write(compute(MoScalePipeline.from_pretrained(MODEL, device="cpu")))
    print(f"wrote {DIGESTS} and {JOINTS}")
