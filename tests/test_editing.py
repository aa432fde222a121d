"""Editing on a tiny random-weight release: untouched frames bit-identical, seams continuous, errors, long clips,
extension / lead-in / in-betweening, reproducibility, the command line and its figure.

The seam bound comes from real motion: the fixture clip 012314 (HumanML3D, 170 frames). Its per-frame joint velocity
change (`acceleration_profile`, max over joints) has median 0.025, 95th percentile 0.14 and maximum 0.32 m/frame. A
random-weight model makes garbage inside the range (joints metres apart from frame to frame), so these tests check
what the splice guarantees whatever the model does: every seam jump is within the clip's maximum, and the part of it
the edit adds (the first/last edited frame's distance from the old content, since the outside frames are identical)
stays below the clip's median.
"""
import argparse

import numpy as np
import pytest
import torch

from moscale.cli import edit as edit_command
from moscale.motion import Motion, splice as joint_splice
from moscale.motion.splice import acceleration_profile, seam_jumps, splice
from moscale.pipeline import editing
from moscale.pipeline.editing import Piece, check_range, plan_pieces
from moscale.pipeline import MoScalePipeline, save_random_release
from moscale.model.sampling import Cancelled
from moscale.model.text import TextEncoder, save_random_encoder
from moscale.model.tokenizer import TokenizerConfig
from moscale.model.transformer import TransformerConfig

FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures" / "humanml3d"
REAL = np.load(FIXTURES / "new_joints" / "012314.npy")  # (170, 22, 3)
REAL_ACCELERATION = acceleration_profile(REAL)
SEAM_BOUND = float(REAL_ACCELERATION.max())  # 0.32 m/frame: the largest velocity change in the real clip
ADDED_BOUND = float(np.median(REAL_ACCELERATION))  # 0.025 m/frame


def tiny_release(folder, encoder_dir, mode="next-scale"):
    tokenizer = TokenizerConfig(width=16, depth=1, codebook_size=32, code_dim=8)
    transformer = TransformerConfig(n_layer=2, n_head=2, n_embd=32, num_codes=32, code_dim=8, text_dim=16,
                                    max_latent=13, num_queries=2, mode=mode)  # a 52-frame window
    encoder = TextEncoder.load(str(encoder_dir), max_tokens=16)
    return save_random_release(folder, transformer, tokenizer, encoder.config, seed=0,
                               mean=np.load(FIXTURES / "Mean.npy"), std=np.load(FIXTURES / "Std.npy"))


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    return save_random_encoder(tmp_path_factory.mktemp("text") / "encoder", "bert", dim=16)


@pytest.fixture(scope="module")
def release(tmp_path_factory, encoder_dir):
    return tiny_release(tmp_path_factory.mktemp("release") / "model", encoder_dir)


@pytest.fixture(scope="module")
def pipe(release):
    return MoScalePipeline.from_pretrained(release, device="cpu")


@pytest.fixture(scope="module")
def source():
    return Motion(REAL, prompt="a person spins and walks")


def assert_untouched(result, source_joints, start, end):
    assert result.joints.shape == source_joints.shape
    assert np.array_equal(result.joints[:start], source_joints[:start])
    assert np.array_equal(result.joints[end:], source_joints[end:])
    assert np.isfinite(result.joints).all()


def assert_smooth_seams(joints, source_joints, start, end):
    """Seam jumps within real motion's range; the edit's own share of each below the real median."""
    assert all(jump <= SEAM_BOUND for jump in seam_jumps(joints, start, end))
    if start >= 2:
        assert np.linalg.norm(joints[start] - source_joints[start], axis=-1).max() <= ADDED_BOUND
    if end + 1 < len(joints):
        assert np.linalg.norm(joints[end - 1] - source_joints[end - 1], axis=-1).max() <= ADDED_BOUND


# ---------------------------------------------------------------------------------------------------------------------
# pure parts


def test_min_edit_frames():
    assert editing.min_edit_frames(4, (8, 4, 2, 1)) == 4
    assert editing.min_edit_frames(4, (4, 2)) == 8


@pytest.mark.parametrize("start, end, message", [
    (10, 10, "empty or inverted"), (20, 10, "empty or inverted"), (-1, 10, "outside the clip"),
    (160, 171, "outside the clip"), (200, 210, "outside the clip"), (10, 13, "shorter than one token"),
    (1.5, 10, "whole number"), (0, None, "whole number"),
])
def test_range_errors(pipe, source, start, end, message):
    with pytest.raises(ValueError, match=message):
        editing.edit(pipe, source, start, end, "a person jumps", seed=0)


def test_check_range_accepts_edges():
    assert check_range(170, 0, 170, 4) == (0, 170)
    assert check_range(170, np.int64(166), 170, 4) == (166, 170)


def test_plan_pieces():
    assert plan_pieces(40, 5, 30, 52, 12) == [Piece(5, 30, 0, 40, 30, True)]
    pieces = plan_pieces(170, 10, 150, 52, 12)
    assert len(pieces) == 5 and pieces[0].start == 10 and pieces[-1].stop == 150
    for a, b in zip(pieces[:-1], pieces[1:]):
        assert a.stop == b.start and not a.anchor_end and a.free_stop == a.window_stop
        assert a.window_stop - a.stop >= 12  # generated on past its stop: the next seam blends out of that
    for p in pieces:
        assert p.window_stop - p.window_start == 52 and 0 <= p.window_start < p.start < p.stop <= p.window_stop
        assert p.stop - p.start <= 52 - 2 * 12
    last = pieces[-1]
    assert last.anchor_end and last.free_stop == last.stop and last.stop - last.window_start >= 12
    (one,) = plan_pieces(170, 100, 120, 52, 12)  # a short range: one window, centred
    assert one.window_start == 84 and one.window_stop == 136
    (end,) = plan_pieces(170, 150, 170, 52, 12)
    assert end.window_stop == 170


def test_splice_of_the_source_is_the_source():
    moved = joint_splice.rotate_y(REAL.astype(np.float64), 0.8) + np.array([1.0, 0.0, -2.0])
    for start, end in [(20, 60), (1, 5), (0, 40), (130, 170)]:
        np.testing.assert_allclose(splice(REAL, REAL, start, end), REAL, atol=1e-6)
        # the generated root is re-anchored: a rigidly moved copy splices back to the source
        np.testing.assert_allclose(splice(REAL, moved, start, end, blend=0), REAL, atol=1e-5)


def test_splice_bounds_garbage():
    rng = np.random.default_rng(0)
    garbage = REAL + rng.normal(0, 0.5, REAL.shape)
    garbage[:, :, [0, 2]] += rng.normal(0, 3, (170, 1, 2))  # root jumping metres per frame
    for _ in range(30):
        start, end = sorted(rng.choice(171, 2, replace=False))
        if end - start < 4:
            continue
        out = splice(REAL, garbage, start, end)
        assert np.array_equal(out[:start], REAL[:start]) and np.array_equal(out[end:], REAL[end:])
        assert_smooth_seams(out, REAL, start, end)


def test_coast_glides_to_a_stop():
    tail = joint_splice.coast(REAL[:60], 30)
    assert tail.shape == (30, 22, 3)
    step = np.linalg.norm(np.diff(tail, axis=0), axis=-1).max(axis=1)
    assert step[-1] < 1e-3 and seam_jumps(np.concatenate([REAL[:60], tail]), 60, 90)[0] < ADDED_BOUND


# ---------------------------------------------------------------------------------------------------------------------
# edits with the model


def edge_and_random_ranges(count, seed=0):
    rng = np.random.default_rng(seed)
    ranges = [(0, 4), (166, 170), (0, 170), (0, 37), (133, 170), (1, 9), (2, 30), (160, 169)]
    while len(ranges) < count:
        start, end = sorted(int(x) for x in rng.choice(171, 2, replace=False))
        if end - start >= 4:
            ranges.append((start, end))
    return ranges


def test_outside_the_range_is_bit_identical(pipe, source):
    for i, (start, end) in enumerate(edge_and_random_ranges(24)):
        result = editing.edit(pipe, source, start, end, "a person jumps instead", seed=i)
        assert_untouched(result, source.joints, start, end)
        assert_smooth_seams(result.joints, source.joints, start, end)
        meta = result.metadata
        assert (meta["edit_start"], meta["edit_end"], meta["seed"], meta["kind"]) == (start, end, i, "edit")
        assert result.prompt == "a person jumps instead" and meta["source_prompt"] == source.prompt


def test_the_range_changes_and_edits_replay(pipe, source):
    a = editing.edit(pipe, source, 60, 100, "a person kicks", seed=3, schedule="1,2,1,1", guidance=2.0, top_k=8)
    b = editing.edit(pipe, source, 60, 100, "a person kicks", seed=3, schedule="1,2,1,1", guidance=2.0, top_k=8)
    c = editing.edit(pipe, source, 60, 100, "a person kicks", seed=4, schedule="1,2,1,1", guidance=2.0, top_k=8)
    assert np.array_equal(a.joints, b.joints)
    assert not np.array_equal(a.joints[60:100], c.joints[60:100])
    assert not np.array_equal(a.joints[60:100], source.joints[60:100])
    assert a.metadata["schedule"] == [1, 2, 1, 1] and a.metadata["guidance"] == 2.0
    unseeded = editing.edit(pipe, source, 60, 100, "a person kicks")
    replay = editing.edit(pipe, source, 60, 100, "a person kicks", seed=unseeded.metadata["seed"])
    assert np.array_equal(unseeded.joints, replay.joints)


def spy_on_sampling(monkeypatch):
    calls = []
    original = editing.sample_next_scale

    def spy(model, tokenizer, text_BSD, mask_BS, frames, *args):
        indices, f_hat = original(model, tokenizer, text_BSD, mask_BS, frames, *args)
        calls.append(dict(frames=frames, constraint=args[-1], indices=indices))
        return indices, f_hat

    monkeypatch.setattr(editing, "sample_next_scale", spy)
    return calls


def test_long_clip_regenerates_only_the_touching_window(pipe, source, monkeypatch):
    calls = spy_on_sampling(monkeypatch)
    editing.edit(pipe, source, 100, 120, "a person waves", seed=0)
    assert len(calls) == 1 and calls[0]["frames"] == 52  # one 52-frame window of the 170-frame clip
    constraint = calls[0]["constraint"]
    for k, locked in enumerate(constraint.locked):  # locked tokens keep the source's codes, free ones exist
        assert torch.equal(calls[0]["indices"][k][locked], constraint.tokens[k][locked])
    assert not constraint.locked[-1].all() and constraint.locked[-1].any()
    free_steps = (~constraint.keep_latent_BN[0]).nonzero().flatten().tolist()
    assert free_steps == list(range(4, 9))  # window starts at frame 84: frames 100..120 are latent steps 4..8


def test_long_range_in_pieces_with_progress(pipe, source, monkeypatch):
    calls = spy_on_sampling(monkeypatch)
    progress = []
    result = editing.edit(pipe, source, 10, 160, "a person runs", seed=0, schedule="1,1,2,2",
                          progress=lambda *a: progress.append(a))
    pieces = plan_pieces(170, 10, 160, 52, 12)
    assert result.metadata["windows"] == len(pieces) == len(calls)
    assert len(progress) == 6 * len(pieces) and progress[-1][:2] == (6 * len(pieces), 6 * len(pieces))
    assert_untouched(result, source.joints, 10, 160)


def test_cancel(pipe, source):
    with pytest.raises(Cancelled):
        editing.edit(pipe, source, 60, 100, "a person walks", cancel=lambda: True)


def test_bad_sources_and_settings(pipe, source, release, tmp_path, encoder_dir):
    with pytest.raises(ValueError, match="fps"):
        editing.edit(pipe, Motion(REAL, fps=30), 10, 20, "a person walks")
    with pytest.raises(TypeError, match="Motion"):
        editing.edit(pipe, REAL, 10, 20, "a person walks")
    with pytest.raises(ValueError, match="empty"):
        editing.edit(pipe, source, 10, 20, "  ")
    with pytest.raises(ValueError, match="temperature"):
        editing.edit(pipe, source, 10, 20, "a person walks", temperature=0)
    with pytest.raises(ValueError, match="blend_frames"):
        editing.edit(pipe, source, 10, 20, "a person walks", blend_frames=-1)
    with pytest.raises(ValueError, match="in seconds or in frames"):
        editing.extend(pipe, source, None, "a person walks")
    with pytest.raises(ValueError, match="too short"):
        editing.extend(pipe, source, None, "a person walks", frames=2)
    with pytest.raises(ValueError, match="align"):
        editing.inbetween(pipe, source, source, 1.0, "a person walks", align="sideways")
    baseline = MoScalePipeline.from_pretrained(tiny_release(tmp_path / "nt", encoder_dir, "next-token"), device="cpu")
    with pytest.raises(ValueError, match="next-scale"):
        editing.edit(baseline, source, 10, 20, "a person walks")


# ---------------------------------------------------------------------------------------------------------------------
# extension, lead-in, in-betweening


@pytest.mark.parametrize("frames", [24, 80])  # 80 new frames: longer than a piece of the 52-frame window
def test_extend(pipe, frames):
    head = Motion(REAL[:60])
    result = editing.extend(pipe, head, None, "then sits down", frames=frames, seed=1)
    assert result.num_frames == 60 + frames and np.array_equal(result.joints[:60], head.joints)
    assert result.metadata["kind"] == "extend" and (result.metadata["edit_start"], result.metadata["edit_end"]) == (
        60, 60 + frames)
    assert all(jump <= SEAM_BOUND for jump in seam_jumps(result.joints, 60, 60 + frames))
    assert editing.extend(pipe, head, 1.0, "then sits down", seed=1).num_frames == 80


def test_prepend(pipe):
    tail = Motion(REAL[100:])
    result = editing.prepend(pipe, tail, 1.2, "a person stands up", seed=2)
    assert result.num_frames == 24 + 70 and np.array_equal(result.joints[24:], tail.joints)
    assert all(jump <= SEAM_BOUND for jump in seam_jumps(result.joints, 0, 24))


def test_inbetween(pipe):
    first, second = Motion(REAL[:50]), Motion(REAL[110:])
    result = editing.inbetween(pipe, first, second, None, "a person turns around", frames=20, align="absolute", seed=0)
    assert result.num_frames == 50 + 20 + 60
    assert np.array_equal(result.joints[:50], first.joints) and np.array_equal(result.joints[70:], second.joints)
    assert all(jump <= SEAM_BOUND for jump in seam_jumps(result.joints, 50, 70))
    moved = editing.inbetween(pipe, first, second, 1.0, "a person turns around", seed=0)
    placed = joint_splice.place_after(first.joints, second.joints, 20)
    assert np.array_equal(moved.joints[:50], first.joints) and np.array_equal(moved.joints[70:], placed)
    # the placed clip is the same motion, moved rigidly: its root starts a step ahead of where `first` ended
    np.testing.assert_allclose(np.linalg.norm(np.diff(placed, axis=0), axis=-1),
                               np.linalg.norm(np.diff(second.joints, axis=0), axis=-1), atol=1e-5)
    heading, _, _ = joint_splice.decompose(np.stack([first.joints[-1], placed[0]]))
    assert abs(joint_splice.wrap(heading[1] - heading[0])) < 1e-5


def test_pipeline_methods_delegate(pipe, source):
    a = pipe.edit(source, 60, 100, "a person kicks", seed=3, schedule="fast", guidance=4.0)
    assert np.array_equal(a.joints, editing.edit(pipe, source, 60, 100, "a person kicks", seed=3, guidance=4.0).joints)
    head, tail = Motion(REAL[:60]), Motion(REAL[100:])
    assert pipe.extend(head, 1.0, "a person sits", seed=0).num_frames == 80
    assert pipe.prepend(head, 1.0, "a person sits", seed=0).num_frames == 80
    assert pipe.inbetween(head, tail, 1.0, "a person turns", seed=0).num_frames == 150


# ---------------------------------------------------------------------------------------------------------------------
# command line


def parse(argv):
    parser = argparse.ArgumentParser()
    edit_command.configure_parser(parser)
    return parser.parse_args(argv)


def test_cli_edit_with_figure(release, tmp_path, capsys):
    from PIL import Image

    source_path = tmp_path / "source.npz"
    Motion(REAL).save(source_path)
    out, figure = tmp_path / "edited.npz", tmp_path / "edit.png"
    code = edit_command.run(parse([str(source_path), "jumps instead", "--frames", "60:100", "-o", str(out), "--model",
                              str(release), "--seed", "5", "--figure", str(figure), "--device", "cpu"]))
    assert code == 0
    edited = Motion.load(out)
    assert_untouched(edited, REAL, 60, 100)
    assert edited.metadata["seed"] == 5
    with Image.open(figure) as image:
        assert image.size[0] > 600 and image.size[1] > 400
    printed = capsys.readouterr().out
    assert "frames 60-100 regenerated" in printed and "seam jumps" in printed


def test_cli_bvh_extend_and_errors(release, tmp_path, capsys):
    source_path = tmp_path / "source.bvh"
    Motion(REAL[:60]).save(source_path)
    out = tmp_path / "longer.bvh"
    assert edit_command.run(parse([str(source_path), "then sits", "--extend", "1", "-o", str(out), "--model", str(release),
                              "--figure", str(tmp_path / "extend.png")])) == 0
    assert Motion.load(out).num_frames == 80 and (tmp_path / "extend.png").is_file()
    assert edit_command.run(parse([str(source_path), "jumps", "--frames", "50:45", "--model", str(release),
                              "-o", str(tmp_path / "x.npz")])) == 2
    assert "empty or inverted" in capsys.readouterr().err
    assert edit_command.parse_frames("60:", 170) == (60, 170) and edit_command.parse_frames(":30", 170) == (0, 30)
    with pytest.raises(ValueError, match="START:END"):
        edit_command.parse_frames("60-100", 170)
