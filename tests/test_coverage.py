"""The out-of-reach warning (moscale.pipeline.coverage): phrases and compound parts, the thinning, save -> load,
and on the bundled model: unknown actions warn with their nearest trained phrases, known ones do not, a compound
names its unknown part, the command line prints the warning and still generates."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from moscale.cli import main as cli_main
from moscale.pipeline import MoScalePipeline
from moscale.pipeline.coverage import (VOCABULARY_FILE, Vocabulary, farthest_points, phrase, prompt_parts)

MODEL = Path(__file__).resolve().parents[1] / "assets" / "model"


def test_phrases_drop_the_subject_and_compound_prompts_split_into_parts():
    assert phrase("A person walks forward.") == "walks forward"
    assert phrase("someone  waves the left hand") == "waves the left hand"
    assert phrase("the old man bows") == "bows"
    assert prompt_parts("a person walks forward, then sits down") == ["walks forward", "sits down"]
    assert prompt_parts("a person jumps and then crawls; waves") == ["jumps", "crawls", "waves"]
    assert prompt_parts("a person walks while waving") == ["walks while waving"]


def test_farthest_points_keep_distinct_rows_first_included():
    rows = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.99, 0.01], [0.0, 1.0], [-1.0, 0.0]]), dim=-1)
    assert farthest_points(rows, 3) == [0, 2, 3]  # the near-duplicate of row 0 is the one left out
    assert farthest_points(rows, 10) == [0, 1, 2, 3]


@pytest.fixture(scope="module")
def pipe() -> MoScalePipeline:
    return MoScalePipeline.from_pretrained(MODEL, device="cpu")


def test_the_bundled_model_warns_on_unknown_actions_only(pipe):
    assert pipe.vocabulary is not None and 0.3 < pipe.vocabulary.threshold < 1.0
    for prompt in ("a person juggles three balls", "someone swims freestyle", "a person rows a boat"):
        report = pipe.check_prompt(prompt)
        assert report.warning and report.far[0].part in report.warning and len(report.far[0].nearest) == 3
    for prompt in ("a person walks forward", "someone waves with the right hand", "a person runs quickly"):
        assert pipe.check_prompt(prompt).warning is None, prompt
    compound = pipe.check_prompt("a person walks forward, then plays the guitar")
    assert [part.part for part in compound.far] == ["plays the guitar"]


def test_vocabulary_round_trip_and_a_damaged_file(pipe, tmp_path):
    vocabulary = Vocabulary.build(pipe.text_encoder, ["a person walks forward.", "someone waves.", "A person walks forward"],
                                  threshold=0.6)
    assert vocabulary.phrases == ["walks forward", "waves"]
    vocabulary.save(tmp_path)
    loaded = Vocabulary.load(tmp_path)
    assert loaded.phrases == vocabulary.phrases and loaded.threshold == 0.6
    np.testing.assert_allclose(loaded.embeddings_ND, vocabulary.embeddings_ND, atol=2e-3)  # stored as fp16
    assert loaded.check(pipe.text_encoder, "a person walks forward").similarity > 0.99
    assert Vocabulary.load(tmp_path / "nowhere") is None
    (tmp_path / VOCABULARY_FILE).write_bytes(b"not safetensors")
    with pytest.raises(ValueError, match="not a readable MoScale vocabulary"):
        Vocabulary.load(tmp_path)


def test_command_line_warns_and_still_generates(tmp_path, capsys, keep_thread_count):
    out = tmp_path / "juggle.npz"
    assert cli_main(["generate", "a person juggles three balls", "--seconds", "1", "--seed", "1", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning: 'juggles three balls' is far from anything this model was trained on" in err and out.is_file()
    assert cli_main(["generate", "a person walks forward", "--seconds", "1", "--seed", "1", "-o", str(out)]) == 0
    assert "far from anything" not in capsys.readouterr().err
