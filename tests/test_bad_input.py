"""Bad input gives one clear line, computes nothing it will not write and loses nothing (issue 25): the Python API
goes through the command line's checks (moscale.pipeline.checks), hostile motion files are measured from their
headers before anything is allocated (moscale.motion.limits), outputs are tried before computing and a full disk
ends in one line (moscale.utils.atomic)."""
from __future__ import annotations

import errno
import gc
import math
import os
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from moscale import cli
from moscale.motion import Motion, limits
from moscale.motion.bvh import read_bvh
from moscale.pipeline import checks
from moscale.pipeline.timeline import Segment, parse_segment
from moscale.utils import atomic

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO / "tests" / "fixtures" / "humanml3d" / "new_joints" / "012314.npy"
ROOT = os.geteuid() == 0


def refused(argv: list[str], capsys, status: int = 2) -> str:
    """Run `moscale ARGV`, expect the exit status, return stderr (one line: no traceback)."""
    try:
        code = cli.main(argv)
    except SystemExit as exit_info:
        code = exit_info.code
    err = capsys.readouterr().err
    assert code == status, err
    assert "Traceback" not in err
    return err


@pytest.fixture
def walk(tmp_path) -> Path:
    path = tmp_path / "walk.npz"
    Motion(np.load(CLIP)[:60]).save(path)
    return path


@pytest.fixture
def no_compute(monkeypatch):
    """Any motion computed or converted fails the test: the refusal must come first."""
    def computed(*args, **kwargs):
        raise AssertionError("computed before refusing")

    for target in ("moscale.cli.convert.convert", "moscale.cli.export.write_outputs",
                   "moscale.pipeline.MoScalePipeline.from_pretrained"):
        monkeypatch.setattr(target, computed)


# ------------------------------------------------------------------------------------------------ the Python API


@pytest.fixture(scope="module")
def pipe(tiny_pipes):
    return tiny_pipes[1]


@pytest.mark.parametrize("options, message", [
    (dict(seconds=math.inf), "seconds inf: give a finite number"),
    (dict(seconds=math.nan), "seconds nan: give a finite number"),
    (dict(guidance=math.inf), "guidance inf: give a finite number >= 0"),
    (dict(guidance=math.nan), "guidance nan: give a finite number >= 0"),
    (dict(guidance=-5), "guidance -5: give a finite number >= 0"),
    (dict(temperature=math.nan), "temperature nan: give a finite number"),
    (dict(temperature=0), "temperature 0: give a number > 0"),
    (dict(top_p=0.0), "top_p 0: give a number in (0, 1]"),
    (dict(top_k=0), "top_k 0: give a whole number >= 1"),
    (dict(seed=2**70), "seed 1180591620717411303424: give a whole number from 0 to 9223372036854775807"),
    (dict(seed=-1), "seed -1: give a whole number from 0"),
    (dict(num_samples=0), "num_samples 0: give a whole number from 1 to 1000"),
    (dict(seed="1"), "seed '1' (a str): give a whole number from 0"),
    (dict(poses={5: np.full((22, 3), np.nan)}), "keyed pose at frame 5: 22 of its 22 joints are not finite numbers"),
    (dict(poses={5: np.zeros((21, 3))}),
     "keyed pose at frame 5: expected SMPL-22 joints of shape (22, 3), got (21, 3)"),
])
def test_generate_checks_every_value(pipe, options, message):
    with pytest.raises(ValueError) as error:
        pipe.generate("a person walks", **{"seconds": 1.0, "seed": 1, **options})
    assert message in str(error.value)


def test_edits_check_the_same_values(pipe):
    source = Motion(np.load(CLIP)[:40])
    with pytest.raises(ValueError, match="seconds inf: give a finite number"):
        pipe.extend(source, math.inf, "a person walks")
    with pytest.raises(ValueError, match="seconds inf: give a finite number"):
        pipe.prepend(source, math.inf, "a person walks")
    with pytest.raises(ValueError, match=r"guidance nan: give a finite number >= 0"):
        pipe.edit(source, 8, 24, "a person jumps", guidance=math.nan)
    with pytest.raises(ValueError, match=r"top_k 0: give a whole number >= 1"):
        pipe.inbetween(source, source, 1.0, "a person turns", top_k=0)
    with pytest.raises(ValueError, match=r"seed 1180591620717411303424: give a whole number"):
        pipe.timeline(["walks:1", "waves:1"], seed=2**70)


def test_a_blend_longer_than_the_edit_is_refused(pipe):
    source = Motion(np.load(CLIP)[:40])
    with pytest.raises(ValueError, match=r"blend_frames 10000: the edited range holds at most 8 blend frames "
                                         r"\(half of its 16 frames at each of its 2 seams\)"):
        pipe.edit(source, 8, 24, "a person jumps", blend_frames=10000, seed=1)
    pipe.edit(source, 8, 24, "a person jumps", blend_frames=8, seed=1)  # the default still fits


@pytest.mark.parametrize("prompt, error, message", [
    ("\u200b\u200b\u200b", ValueError, "is only invisible characters (zero-width spaces, direction marks)"),
    ("a person walks \udcff\udcfe", ValueError, "holds bytes that are not UTF-8 text (at character 16"),
    (b"a person walks", TypeError, "prompt is bytes; give text (str)"),
])
def test_prompts_that_are_not_text_are_refused(pipe, prompt, error, message):
    with pytest.raises(error) as raised:
        pipe.generate(prompt, seconds=1.0, seed=1)
    assert message in str(raised.value)


def test_a_very_long_prompt_gives_one_line(pipe, capfd):
    prompt = "a person walks forward and waves " * 160  # 5,120 characters
    lines = pipe.prompt_warnings([prompt])
    assert len([line for line in lines if "tokens long" in line]) == 1
    line = next(line for line in lines if "tokens long" in line)
    assert f"the text encoder reads the first {pipe.text_config.max_tokens} (" in line and len(line) < 300
    import warnings

    other = pipe.read_text(prompt)[0] + " then jumps"  # not warned yet: generate warns once, in one line
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pipe.generate(prompt, seconds=1.0, seed=1)  # already warned by prompt_warnings: silent
        pipe.generate(other * 20, seconds=1.0, seed=1)
    assert len([w for w in caught if "tokens long" in str(w.message)]) == 1
    assert "Token indices sequence length" not in capfd.readouterr().err


def test_the_pipeline_warns_about_non_english_prompts(pipe):
    # the add-on shows MoScalePipeline.prompt_warnings: the English-text checks are part of it
    assert any("does not look English" in line for line in pipe.prompt_warnings(["شخص يمشي إلى الأمام"]))
    assert not any("does not look English" in line for line in pipe.prompt_warnings(["a person walks"]))


@pytest.mark.parametrize("prompt", ["Person が前に歩く", "Hand を振る", "Hand شخص", "Person идёт"])
def test_an_english_word_does_not_make_a_prompt_english(prompt):
    from moscale.cli import checks as cli_checks  # the command line's warnings are the shared ones

    assert "does not look English" in cli_checks.prompt_warnings(prompt)[0]


def test_english_prompts_with_a_foreign_letter_are_fine():
    assert checks.prompt_warnings("José walks forward, then waves") == []
    assert checks.prompt_warnings("a person walks at an angle α") == []


@pytest.mark.parametrize("seconds, message", [
    (-3, "segment 'walks' seconds -3: give more than 0 and at most 60 seconds"),
    (math.nan, "segment 'walks' seconds nan: give a finite number"),
    (math.inf, "segment 'walks' seconds inf: give a finite number"),
])
def test_timeline_segments_check_their_length(seconds, message):
    with pytest.raises(ValueError) as error:
        Segment("walks", seconds)
    assert message in str(error.value)
    with pytest.raises(ValueError, match="segment 'walks:100': length 100: give more than 0 and at most 60"):
        parse_segment("walks:100")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_clear_error(pipe):
    from moscale.pipeline import MoScalePipeline

    with pytest.raises(ValueError, match=r"device cuda: CUDA is not available here \(.*\); use device=cpu, or auto"):
        MoScalePipeline.from_pretrained(pipe.folder, device="cuda", text_encoder=pipe.text_encoder)


# ------------------------------------------------------------------------------------------------ hostile files


def _npy_header(path: Path, shape: tuple[int, ...], dtype: str = "<f4", data: bytes = b"\0" * 64) -> Path:
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": dtype, "fortran_order": False, "shape": shape})
        handle.write(data)
    return path


def test_an_npy_header_claiming_a_billion_frames_is_refused(tmp_path):
    path = _npy_header(tmp_path / "huge.npy", (10**9, 22, 3))
    with pytest.raises(ValueError, match=r"huge.npy: its header declares an array of shape \(1000000000, 22, 3\) "
                                         r"\(245.9 GiB\); MoScale loads at most 1.0 GiB"):
        Motion.load(path)
    truncated = _npy_header(tmp_path / "short.npy", (1000, 22, 3))
    with pytest.raises(ValueError, match=r"short.npy: its header declares 257.8 KiB of data, the file holds 64 "
                                         "bytes: it is truncated"):
        Motion.load(truncated)


def test_an_npz_member_claiming_4_gib_is_refused_from_its_header(tmp_path):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("joints.npy", "w") as handle:
            np.lib.format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False,
                                                          "shape": (2**32 // 264, 22, 3)})
            handle.write(b"\0" * 4096)
    with pytest.raises(ValueError, match=r"bomb.npz: array 'joints': its header declares an array of shape .* "
                                         r"\(4.0 GiB\); MoScale loads at most 1.0 GiB"):
        Motion.load(path)


def test_an_npz_of_zeros_is_measured_before_it_is_unpacked(tmp_path, monkeypatch):
    # a 4 MB .npz can unpack to 4 GiB; here 8 MiB of zeros against a 1 MiB limit (the same check, a smaller file)
    path = tmp_path / "zeros.npz"
    np.savez_compressed(path, joints=np.zeros((2**21 // 66, 22, 3), np.float32), fps=np.float64(20))
    assert path.stat().st_size < 100_000
    monkeypatch.setattr(limits, "MAX_ARRAY_BYTES", 1 << 20)
    monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("np.load ran"))
    with pytest.raises(ValueError, match=r"zeros.npz: its arrays unpack to 8.0 MiB; MoScale loads at most 1.0 MiB"):
        Motion.load(path)


def test_a_2_gb_sparse_bvh_is_refused_before_reading(tmp_path):
    path = tmp_path / "sparse.bvh"
    with open(path, "wb") as handle:
        handle.truncate(2 << 30)
    with pytest.raises(ValueError, match=r"sparse.bvh is 2.0 GiB; MoScale reads files of this type up to 512.0 MiB"):
        Motion.load(path)


BVH_HEAD = "HIERARCHY\nROOT Hips\n{\n\tOFFSET 0 0 0\n\tCHANNELS 3 Xposition Yposition Zposition\n}\n"


def test_a_bvh_of_a_million_frames_is_refused_from_its_header(tmp_path):
    path = tmp_path / "long.bvh"
    path.write_text(BVH_HEAD + "MOTION\nFrames: 1000000\nFrame Time: 0.008333\n" + "0 0 0\n" * 1_000_000)
    with pytest.raises(ValueError, match=r"long.bvh: line 8: 1,000,000 frames; MoScale handles clips of at most "
                                         r"250,000 frames \(moscale.motion.limits.MAX_FRAMES\)"):
        read_bvh(path)


def test_a_bvh_of_10000_nested_joints_is_refused(tmp_path):
    depth = 10_000
    joints = "".join(f"JOINT j{i}\n{{\nOFFSET 0 1 0\nCHANNELS 3 Zrotation Xrotation Yrotation\n" for i in range(depth))
    text = ("HIERARCHY\nROOT Hips\n{\nOFFSET 0 0 0\nCHANNELS 3 Zrotation Xrotation Yrotation\n" + joints
            + "}\n" * (depth + 1) + "MOTION\nFrames: 1\nFrame Time: 0.05\n" + "0 " * 3 * (depth + 1) + "\n")
    path = tmp_path / "deep.bvh"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"deep.bvh: line \d+: joints nested more than 200 deep; MoScale reads BVH "
                                         r"skeletons up to that depth"):
        Motion.load(path)
    wide = "".join(f"JOINT j{i}\n{{\nOFFSET 0 1 0\nCHANNELS 1 Zrotation\n}}\n" for i in range(1500))
    path.write_text("HIERARCHY\nROOT Hips\n{\nOFFSET 0 0 0\nCHANNELS 1 Zrotation\n" + wide + "}\nMOTION\n")
    with pytest.raises(ValueError, match=r"more than 1,000 joints; MoScale reads BVH skeletons of at most that many"):
        read_bvh(path)


def test_a_clip_at_a_millionth_of_a_frame_per_second_is_refused(tmp_path):
    path = tmp_path / "slow.bvh"
    path.write_text(BVH_HEAD + "MOTION\nFrames: 2\nFrame Time: 1000000\n0 0 0\n0 0 0\n")
    with pytest.raises(ValueError, match=r"slow.bvh: line 9: Frame Time 1e\+06 s: a frame rate of 1e-06 fps; "
                                         "MoScale reads clips at 1 to 1000 frames per second"):
        read_bvh(path)
    slow = Motion(np.load(CLIP)[:60], fps=1e-6)
    np.savez(tmp_path / "slow.npz", joints=slow.joints, fps=np.float64(slow.fps))
    with pytest.raises(ValueError, match="slow.npz: a frame rate of 1e-06 fps; MoScale reads clips at 1 to 1000"):
        Motion.load(tmp_path / "slow.npz")
    with pytest.raises(ValueError, match=r"resampling 60 frames from 1e-06 to 20 fps: [\d,]+ frames; "
                                         "MoScale handles clips of at most 250,000 frames"):
        slow.resample(20)


def test_fifos_and_devices_say_what_they_are(tmp_path, walk, capsys):
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match=r"pipe.npz is a FIFO \(named pipe\), not a file"):
        Motion.load(fifo)  # used to block for ever, waiting for a writer
    device = tmp_path / "null.bvh"
    device.symlink_to("/dev/null")
    with pytest.raises(ValueError, match="null.bvh is a character device, not a file"):
        Motion.load(device)
    gone = tmp_path / "gone.npz"
    gone.symlink_to(tmp_path / "nowhere.npz")
    with pytest.raises(ValueError, match=r"gone.npz is a link to .*nowhere.npz, which does not exist"):
        Motion.load(gone)
    err = refused(["convert", str(fifo), "-o", str(tmp_path / "x.bvh")], capsys)
    assert err.strip() == f"moscale convert: error: {fifo} is a FIFO (named pipe), not a file: give a motion file " \
                          "saved on disk"


def test_edit_of_an_unknown_rig_names_joint_map(tmp_path, capsys, monkeypatch):
    sys.path.insert(0, str(REPO / "tests"))
    from rig_files import LAFAN_NAMES, renamed_clip, write_clip

    names = list(LAFAN_NAMES)
    names[10], names[11] = "LeftFootEnd", "RightFootEnd"  # toes under names no map knows: the feet have no End Site
    path = write_clip(tmp_path / "rig.bvh", renamed_clip(np.load(CLIP)[:40], 20, names, scale=100.0))
    monkeypatch.setattr("moscale.pipeline.MoScalePipeline.from_pretrained",
                        lambda *a, **k: pytest.fail("the model loaded before the source was read"))
    err = refused(["edit", str(path), "a person jumps", "--frames", "8:24", "-o", str(tmp_path / "e.npz")], capsys)
    assert "cannot place the SMPL joint left_foot: joint 'LeftFoot' has no End Site; name the skeleton's joints " \
           "with --joint-map map.json" in err


# ------------------------------------------------------------------------------------------------ outputs


@pytest.mark.parametrize("command, output", [
    (["convert", "{walk}", "-o"], "/proc/nope/x.npz"),
    (["convert", "{walk}", "-o"], "/sys/x.npz"),
    (["export", "{walk}", "-o"], "/proc/nope/x.fbx"),
    (["export", "{walk}", "-o", "{tmp}/x.bvh", "--filmstrip"], "/proc/nope/strip.png"),
    (["edit", "{walk}", "a person jumps", "--frames", "8:24", "-o"], "/proc/nope/x.npz"),
    (["edit", "{walk}", "a person jumps", "--frames", "8:24", "-o", "{tmp}/e.npz", "--figure"], "/sys/f.png"),
    (["generate", "a person walks", "-o"], "/proc/nope/x.npz"),
])
def test_system_paths_are_refused_before_computing(command, output, walk, tmp_path, capsys, no_compute):
    argv = [part.replace("{walk}", str(walk)).replace("{tmp}", str(tmp_path)) for part in command] + [output]
    err = refused(argv, capsys)
    assert f"error: cannot write {output}: " in err and len(err.strip().splitlines()) == 1
    if ROOT:  # the permission bits let root through: the folder was tried
        assert "does not take new files" in err
    assert not (tmp_path / "x.bvh").exists() and not (tmp_path / "e.npz").exists()


def test_too_long_names_and_paths_are_refused(walk, tmp_path, capsys, no_compute):
    name = tmp_path / ("a" * 300 + ".npz")
    err = refused(["convert", str(walk), "-o", str(name)], capsys)
    assert "the name 'aaaa" in err and "is 304 bytes long; file names here are at most 255 bytes" in err
    deep = tmp_path.joinpath(*["d" * 200] * 25, "x.npz")
    err = refused(["convert", str(walk), "-o", str(deep)], capsys)
    assert f"bytes long; this system takes at most {os.pathconf('/', 'PC_PATH_MAX') - 1:,}" in err
    assert len(err) < 400  # the 5,000-character path is shortened in the message


def test_a_name_of_250_bytes_is_written(walk, tmp_path, capsys):
    # the atomic writer's scratch folder adds to the name: it must not push a legal name past the limit
    name = tmp_path / ("b" * 246 + ".npz")
    assert cli.main(["convert", str(walk), "-o", str(name)]) == 0
    assert Motion.load(name).num_frames == 60


def test_every_sample_output_is_checked_before_generating(tmp_path, capsys, no_compute):
    kept = tmp_path / "x_1.npz"
    kept.write_bytes(b"keep me")
    kept.chmod(0o444)
    err = refused(["generate", "a person walks", "--num-samples", "2", "--seconds", "1", "-o",
                   str(tmp_path / "x.npz")], capsys)
    assert f"cannot write {kept}: the file is read-only" in err
    assert kept.read_bytes() == b"keep me" and not (tmp_path / "x_0.npz").exists()


@pytest.mark.parametrize("argv, message", [
    (["generate", "a person walks", "--threads", "100000"], "--threads 100000: give at most "),
    (["preview", "{walk}", "--size", "100000"], "--size 100000: give an image height of 16 to 4096 pixels"),
    (["preview", "{walk}", "--frames", "100000", "-o", "{tmp}/p.png"], "--frames 100000: give 1 to 64 filmstrip"),
    (["export", "{walk}", "-o", "{tmp}/x.bvh", "--smpl-model", "{tmp}", "--betas", "nan,inf"],
     "--betas nan,inf: give finite numbers (no nan or inf)"),
    (["export", "{walk}", "-o", "{tmp}/x.bvh", "--smpl-model", "{tmp}", "--betas", ",".join(["0.1"] * 11)],
     "11 values; the body takes at most 10"),
    (["export", "{walk}", "-o", "{tmp}/x.bvh", "--betas", "0.5"], "--betas 0.5: shape coefficients need the SMPL "
                                                                   "body: add --smpl-model FOLDER"),
    (["convert", "{walk}", "-o", "{tmp}/x.bvh", "--betas", "0.5"], "--betas 0.5: shape coefficients need"),
    (["edit", "{walk}", "a person jumps", "--frames", "8:24", "--blend-frames", "10000", "-o", "{tmp}/e.npz"],
     "--blend-frames 10000: the edited range holds at most 8 blend frames (half of its 16 frames at each of its 2 "
     "seams)"),
    (["generate", "a person walks \udcff", "-o", "{tmp}/g.npz"], "prompt holds bytes that are not UTF-8 text"),
    (["generate", "\u200b\u200b", "-o", "{tmp}/g.npz"], "is only invisible characters"),
])
def test_options_beyond_their_limits_are_refused(argv, message, walk, tmp_path, capsys, no_compute):
    argv = [part.replace("{walk}", str(walk)).replace("{tmp}", str(tmp_path)) for part in argv]
    err = refused(argv, capsys)
    assert message in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["walk.npz"]


def test_threads_up_to_the_limit_pass():
    assert checks.check_threads(checks.max_threads(), "--threads") == checks.max_threads()
    assert checks.max_threads() <= checks.MAX_THREADS


# ------------------------------------------------------------------------------------------------ full disk


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


class _FullFile:
    """A file whose writes fail half way, as on a full disk."""

    def __init__(self, handle):
        self.handle = handle

    def write(self, data):
        self.handle.write(data[: len(data) // 2])
        _no_space()

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")  # no "seek of closed file" later
@pytest.mark.parametrize("suffix", [".npz", ".npy", ".bvh", ".png"])
def test_a_full_disk_ends_in_one_line_and_keeps_the_file(suffix, walk, tmp_path, capsys, monkeypatch):
    output = tmp_path / f"out{suffix}"
    output.write_bytes(b"the previous file")
    if suffix == ".npz":  # numpy writes each array into the zip: the first write fails (zipfile then fails to seek)
        monkeypatch.setattr(np.lib.format, "write_array", _no_space)
    elif suffix == ".png":  # a writer that takes a file name (matplotlib; bpy and Pillow alike)
        monkeypatch.setattr("matplotlib.figure.Figure.savefig", _no_space)
    else:
        real_open = open
        monkeypatch.setattr(atomic, "open", lambda *a, **k: _FullFile(real_open(*a, **k)), raising=False)
    err = refused(["convert", str(walk), "-o", str(output)], capsys, status=1)
    assert err.strip() == f"moscale convert: error: disk full: writing {output} failed: No space left on device " \
                          "(the previous file is kept)"
    assert output.read_bytes() == b"the previous file"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["walk.npz", output.name])
    gc.collect()  # a zip file left open by the failed writer would complain here


def test_a_full_disk_on_a_new_file_says_nothing_was_written(walk, tmp_path):
    with pytest.raises(atomic.DiskFull, match=r"disk full: writing .*new.bvh failed: No space left on device "
                                              r"\(nothing was written\)"):
        with atomic.open_for_write(tmp_path / "new.bvh", text=True) as handle:
            handle.write("HIERARCHY\n")
            _no_space()
    assert not (tmp_path / "new.bvh").exists()


def test_a_range_starting_below_zero_gets_the_range_message_not_argparse(walk, tmp_path, capsys):
    """argparse reads "-10:20" as an option ("expected one argument"); the value is passed on, and the edit names it."""
    err = refused(["edit", str(walk), "a person jumps", "--frames", "-10:20", "-o", str(tmp_path / "e.npz")], capsys)
    assert "edit range [-10, 20) is outside the clip (frames 0 to 60" in err and "expected one argument" not in err
    assert not (tmp_path / "e.npz").exists()
