"""The bundled model makes the same bytes as before the backend was split into layers (tests/reference_outputs.py):
generate, samples, a long clip, edit, extend, prepend, in-between, timeline, segment, .bvh and .npz writers.

Bit-identical holds for the torch build and CPU kernels the reference was made with (recorded beside it); on another
machine torch's kernels round differently, so there the joints are compared to 0.1 mm instead."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import reference_outputs as reference
from moscale.pipeline import MoScalePipeline


@pytest.fixture(scope="module")
def outputs(keep_thread_count_module):
    torch.set_num_threads(1)
    return reference.compute(MoScalePipeline.from_pretrained(reference.MODEL, device="cpu"))


@pytest.fixture(scope="module")
def keep_thread_count_module():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_same_outputs_as_before_the_layering(outputs):
    recorded = json.loads(reference.DIGESTS.read_text())
    assert sorted(outputs) == sorted(recorded["digests"])
    if recorded["machine"] == reference.machine():
        changed = [name for name, array in outputs.items() if reference.digest(array) != recorded["digests"][name]]
        assert not changed, f"outputs changed: {changed}"
    else:
        with np.load(reference.JOINTS) as joints:
            for name in joints.files:
                np.testing.assert_allclose(outputs[name], joints[name], atol=1e-4, err_msg=name)
