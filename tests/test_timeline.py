"""Prompt timeline: parsing, one take from several segments (each continues the last), per-segment re-generation,
and `moscale generate --sequence` / `moscale edit --segment` on a tiny random-weight release."""
import argparse

import numpy as np
import pytest
import torch

from moscale.pipeline import timeline
from moscale.motion import Motion
from moscale.pipeline import MoScalePipeline
from moscale.model.text import save_random_encoder
from test_editing import tiny_release


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("timeline")
    encoder = save_random_encoder(folder / "encoder", "bert", dim=16)
    return MoScalePipeline.from_pretrained(tiny_release(folder / "model", encoder), device="cpu")


def test_parse_segment():
    assert timeline.parse_segment("walks forward:3") == timeline.Segment("walks forward", 3.0)
    assert timeline.parse_segment(" waves, then bows : 2.5s ") == timeline.Segment("waves, then bows", 2.5)
    for bad in ("walks forward", "walks:0", ":3", "walks:abc"):
        with pytest.raises(ValueError, match="prompt:seconds|positive"):
            timeline.parse_segment(bad)


def test_caption_adds_the_subject_of_a_bare_verb_phrase():
    assert timeline.caption("walks forward") == "a person walks forward"
    assert timeline.caption("A man waves") == "A man waves"
    assert timeline.caption("someone jumps") == "someone jumps"


def test_sequence_is_one_take_whose_segments_continue_each_other(pipe):
    motion = timeline.generate_sequence(pipe, ["walks forward:1.6", "waves:1.2", "turns left:1"], seed=4)
    segments = motion.metadata["segments"]
    assert [(s["start"], s["end"]) for s in segments] == [(0, 32), (32, 56), (56, 76)]
    assert motion.num_frames == 76 and motion.metadata["kind"] == "sequence"
    assert segments[1]["caption"] == "a person waves"
    assert len(motion.metadata["seam_jumps"]) == 2 and all(np.isfinite(motion.metadata["seam_jumps"]))
    # the first segment is exactly what generating it alone gives; each later one only appended frames
    first = pipe.generate("a person walks forward", frames=32, seed=4)
    assert np.array_equal(motion.joints[:32], first.joints)
    two = timeline.generate_sequence(pipe, ["walks forward:1.6", "waves:1.2"], seed=4)
    assert np.array_equal(motion.joints[:56], two.joints)


def test_regenerate_one_segment_keeps_the_rest_bit_identical(pipe):
    motion = timeline.generate_sequence(pipe, ["walks forward:1.6", "waves:1.2", "turns left:1"], seed=4)
    edited = timeline.regenerate_segment(pipe, motion, 1, prompt="jumps", seed=9)
    assert np.array_equal(edited.joints[:32], motion.joints[:32])
    assert np.array_equal(edited.joints[56:], motion.joints[56:])
    assert not np.array_equal(edited.joints[32:56], motion.joints[32:56])
    assert edited.metadata["segments"][1]["caption"] == "a person jumps"
    with pytest.raises(ValueError, match="3 segments"):
        timeline.regenerate_segment(pipe, motion, 3)
    with pytest.raises(ValueError, match="no timeline"):
        timeline.regenerate_segment(pipe, first_only(pipe), 0)


def first_only(pipe):
    return pipe.generate("a person walks", frames=32, seed=1)


def test_sequence_longer_than_allowed_is_refused(pipe):
    with pytest.raises(ValueError, match="at most"):
        timeline.generate_sequence(pipe, ["walks:50", "runs:20"], seed=0)


def test_command_line_sequence_and_segment_edit(pipe, tmp_path, capsys):
    from moscale.cli import edit as editing
    from moscale.cli import generate as pipeline

    out = tmp_path / "take.npz"
    code = pipeline.main(["--sequence", "walks forward:1.6", "waves:1.2", "--model", str(pipe.folder), "-o", str(out),
                          "--seed", "3", "--device", "cpu"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "segment 2: frames 32:56 'a person waves'" in printed and "seam jumps" in printed
    take = Motion.load(out)
    assert [s["end"] for s in take.metadata["segments"]] == [32, 56]
    edited_path = tmp_path / "edited.npz"
    parser = argparse.ArgumentParser()
    editing.configure_parser(parser)
    assert editing.run(parser.parse_args([str(out), "jumps", "--segment", "2", "--model", str(pipe.folder),
                                          "-o", str(edited_path), "--seed", "1", "--device", "cpu"])) == 0
    edited = Motion.load(edited_path)
    assert np.array_equal(edited.joints[:32], take.joints[:32])
    assert pipeline.main(["a person walks", "--sequence", "walks:2", "--model", str(pipe.folder),
                          "-o", str(tmp_path / "x.npz")]) == 2
    assert "not both" in capsys.readouterr().err
