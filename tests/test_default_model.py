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


def test_a_long_edit_in_two_pieces_does_not_pop_where_they_meet(pipe):
    """A range longer than a window's share is regenerated in pieces. Each piece's window now runs past it, so the next
    one's seam blends out of generated motion, not out of the window's last frames (its ending): before, every
    boundary popped (the largest third difference 5-12x the source's own)."""
    source = pipe.generate("a person walks forward", frames=264, seed=3)

    def largest_third_difference(joints):
        return np.linalg.norm(np.diff(np.asarray(joints, dtype=np.float64), n=3, axis=0), axis=-1).max()

    for start, end in ((133, 264), (40, 240)):
        edited = pipe.edit(source, start, end, "a person walks forward", seed=3)
        assert edited.metadata["windows"] == 2
        np.testing.assert_array_equal(edited.joints[:start], source.joints[:start])
        np.testing.assert_array_equal(edited.joints[end:], source.joints[end:])
        assert largest_third_difference(edited.joints) <= 1.25 * largest_third_difference(source.joints), (start, end)
