"""The bundled default model (assets/model) loads and generates what was asked."""
from pathlib import Path

import numpy as np
import pytest

from moscale.pipeline import MoScalePipeline

MODEL = Path(__file__).resolve().parents[1] / "assets" / "model"


@pytest.fixture(scope="module")
def pipe() -> MoScalePipeline:
    return MoScalePipeline.from_pretrained(MODEL, device="cpu")


def test_default_model_generates_requested_length(pipe):
    motion = pipe.generate("a person walks forward and waves with the right hand", seconds=3.0, seed=1)
    assert motion.joints.shape == (60, 22, 3) and motion.fps == 20
    assert np.isfinite(motion.joints).all() and np.isfinite(motion.features).all()
    # a standing person: head well above the feet
    assert (motion.joints[:, 15, 1] - motion.joints[:, 10, 1]).min() > 1.0


def test_default_model_is_reproducible_and_edits_in_place(pipe):
    first = pipe.generate("a person runs", frames=80, seed=3)
    again = pipe.generate("a person runs", frames=80, seed=3)
    np.testing.assert_array_equal(first.joints, again.joints)
    edited = pipe.edit(first, 30, 50, "a person waves with both hands", seed=4)
    np.testing.assert_array_equal(edited.joints[:30], first.joints[:30])
    np.testing.assert_array_equal(edited.joints[50:], first.joints[50:])
