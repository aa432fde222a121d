"""The out-of-reach warning (moscale.pipeline.coverage): phrases and compound parts, the thinning, save -> load,
and on the bundled model: unknown actions warn with their nearest trained phrases, known ones do not, a compound
names its unknown part, the command line prints the warning and still generates. The seldom-made warning: a prompt
like one the release's prompt-following scores say it seldom makes right is named with that score."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from moscale.cli import main as cli_main
from moscale.pipeline import MoScalePipeline
from moscale.pipeline.coverage import (SCORES_FILE, VOCABULARY_FILE, PromptScore, Vocabulary, farthest_points,
                                       load_scores, phrase, prompt_parts, following_content)

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


def test_the_bundled_model_names_actions_it_seldom_makes(pipe):
    scores = {test.prompt: test for test in pipe.vocabulary.scores}
    assert scores["a person kicks"].weak and not scores["a person walks forward"].weak
    kick = pipe.check_prompt("a person kicks with the left foot")
    assert kick.far == () and kick.seldom[0].seldom == scores["a person kicks"]
    assert kick.warning.startswith("'kicks with the left foot' is like 'kicks', which this model makes right only "
                                   f"{scores['a person kicks'].passes} of {scores['a person kicks'].tries} times")
    same = pipe.check_prompt("a person does a cartwheel").warning
    assert same.startswith("'does a cartwheel': this model makes it right only")
    compound = pipe.check_prompt("a person walks forward, then does a backflip")
    assert [part.part for part in compound.seldom] == ["does a backflip"]
    for prompt in ("a person walks forward", "a person waves with the right hand", "a person strolls slowly",
                   "a person jumps over something"):  # the last is as near "jumps" (made well) as "jumps in place"
        assert pipe.check_prompt(prompt).warning is None, prompt
    circle = pipe.check_prompt("a person walks in a circle").warning  # what the path control does instead
    assert circle.endswith("nearest guess. Tip: to go round a circle, draw one and make it the take's path (the "
                           "panel's Path, or --path).") and "Tip" not in same
    juggle = pipe.check_prompt("a person juggles three balls")  # far: named once, as far, not as seldom-made too
    assert juggle.seldom == () and juggle.warning.count("juggles") == 1


def test_prompt_following_scores_written_read_and_checked(pipe, tmp_path):
    runs = [{"pass": k < 2} for k in range(9)]
    cases = [{"prompt": "a person kicks", "category": "trained", "check": "kick", "runs": runs},
             {"prompt": "a person walks forward", "category": "trained", "check": "walk", "runs": [{"pass": True}] * 9},
             {"prompt": "a person kicks, then walks", "category": "compound", "check": "kick+walk", "runs": runs}]
    (tmp_path / SCORES_FILE).write_text(json.dumps(following_content(cases, "m", 9, 2.0, "fast")))
    assert load_scores(tmp_path) == [PromptScore("a person kicks", 2, 9), PromptScore("a person walks forward", 9, 9)]
    vocabulary = Vocabulary.build(pipe.text_encoder, ["a person kicks.", "a person walks forward."], threshold=0.5)
    vocabulary.scores = load_scores(tmp_path)
    assert vocabulary.check(pipe.text_encoder, "someone kicks hard").seldom[0].seldom.passes == 2
    vocabulary.scores = [PromptScore("a person kicks", 3, 9), PromptScore("a person walks forward", 9, 9)]
    assert vocabulary.check(pipe.text_encoder, "someone kicks hard").warning is None  # a third of the tries: not seldom
    vocabulary.scores = [PromptScore("a person walks forward", 9, 9), PromptScore("a person kicks", 0, 9)]
    assert vocabulary.check(pipe.text_encoder, "someone kicks hard").seldom[0].seldom.passes == 0  # re-embedded
    assert load_scores(tmp_path / "nowhere") == []
    for broken in ("{", json.dumps({"format": "other", "prompts": []}),
                   json.dumps({"format": "moscale-following", "prompts": [{"prompt": "x", "passes": 5, "tries": 3}]})):
        (tmp_path / SCORES_FILE).write_text(broken)
        with pytest.raises(ValueError, match="prompt-following"):
            load_scores(tmp_path)
