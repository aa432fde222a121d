"""The command line checks what a user typed before it loads a model or computes a frame, and says which option is
wrong; the cases are those a new user hit (issue 14), each of which used to run, crash or write something wrong."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from moscale.cli import checks
from moscale import cli
from moscale.motion import Motion

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO / "tests" / "fixtures" / "humanml3d" / "new_joints" / "012314.npy"
MODEL = REPO / "assets" / "model"


def refused(argv: list[str], capsys) -> str:
    """Run `moscale ARGV`, expect exit status 2 (argparse's SystemExit, or returned), return the message."""
    try:
        status = cli.main(argv)
    except SystemExit as exit_info:
        status = exit_info.code
    assert status == 2
    return capsys.readouterr().err


@pytest.fixture
def walk(tmp_path) -> Path:
    path = tmp_path / "walk.npz"
    Motion(np.load(CLIP)[:60]).save(path)
    return path


@pytest.mark.parametrize("options, message", [
    (["--guidance", "nan"], "--guidance nan: give a finite number >= 0"),
    (["--guidance", "-5"], "--guidance -5.0: give a finite number >= 0"),
    (["--seconds", "inf"], "--seconds inf: give a finite number"),
    (["--seconds", "0"], "--seconds 0: give more than 0 and at most 60 seconds"),
    (["--seconds", "1e9"], "--seconds 1e+09: give more than 0 and at most 60 seconds"),
    (["--seed", "12345678901234567890123456"], "--seed 12345678901234567890123456: give a whole number from 0 to"),
    (["--seed", "-1"], "--seed -1: give a whole number from 0"),
    (["--fps", "1e6", "-o", "{tmp}/walk.fbx"], "--fps 1e+06: give a frame rate between 1 and 1000"),
    (["--fps", "29.97", "-o", "{tmp}/walk.fbx"], "--fps 29.97: .fbx and .blend keys need a whole number"),
    (["--temperature", "0"], "--temperature 0: give a number > 0"),
    (["--top-p", "1.5"], "--top-p 1.5: give a number in (0, 1]"),
    (["--threads", "0"], "--threads 0: give a whole number >= 1"),
    (["--device", "gpu"], "--device 'gpu': not a device torch knows"),
    (["-o", "{tmp}"], "is a directory; give a file name"),
    (["--sequence", "walks:2", "waves:inf"], "segment 'waves:inf': write it as"),
    (["--sequence", "walks:2", "waves:0"], "segment 'waves:0': the length must be a positive number"),
    (["-o", "{tmp}/a.npz", "-o", "{tmp}/b.bvh"], "argument -o/--output: given twice"),
])
def test_generate_refuses_before_computing(options, message, tmp_path, capsys):
    options = [o.replace("{tmp}", str(tmp_path)) for o in options]
    output = [] if "-o" in options else ["-o", str(tmp_path / "walk.npz")]
    prompt = [] if "--sequence" in options else ["a person walks"]
    error = refused(["generate", *prompt, *options, *output], capsys)
    assert "moscale generate: error: " in error and message in error
    assert list(tmp_path.iterdir()) == []  # nothing written, not even the first of two -o


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_says_so(tmp_path, capsys):
    error = refused(["generate", "a person walks", "--device", "cuda", "-o", str(tmp_path / "a.npz")], capsys)
    assert "--device cuda: CUDA is not available here" in error and "use --device cpu, or auto" in error


def test_edit_checks_lengths_and_inputs(walk, tmp_path, capsys):
    out = str(tmp_path / "ed.npz")
    assert "--extend inf: give a finite number" in refused(["edit", str(walk), "runs", "--extend", "inf", "-o", out],
                                                           capsys)
    assert "is a directory; give a motion file (.bvh, .npz, .npy)" in refused(
        ["edit", str(tmp_path), "runs", "--frames", "10:50", "-o", out], capsys)
    assert "argument -o/--output: given twice" in refused(
        ["edit", str(walk), "runs", "--frames", "10:50", "-o", out, "-o", str(tmp_path / "ed.bvh")], capsys)
    assert "no such file" in refused(["edit", str(tmp_path / "gone.bvh"), "runs", "--frames", "1:5"], capsys)


def test_convert_and_export_check_files_and_rates(walk, tmp_path, capsys):
    assert "moscale convert: error: " in refused(["convert", str(tmp_path), "-o", str(tmp_path / "x.npz")], capsys)
    assert "--fps 0: give a frame rate between 1 and 1000" in refused(
        ["convert", str(walk), "--fps", "0", "-o", str(tmp_path / "x.bvh")], capsys)
    assert "x.bvh is given twice as an output" in refused(
        ["export", str(walk), "-o", str(tmp_path / "x.bvh"), "-o", str(tmp_path / "x.bvh")], capsys)
    assert "is a directory; give a file name" in refused(["export", str(walk), "-o", str(tmp_path)], capsys)


def test_convert_writes_every_output(walk, tmp_path, capsys):
    outputs = [tmp_path / "x.bvh", tmp_path / "x.npy"]
    assert cli.main(["convert", str(walk), *sum((["-o", str(p)] for p in outputs), [])]) == 0
    assert all(p.is_file() for p in outputs)


def test_preview_of_an_npz(walk, tmp_path, capsys):
    # used to crash: 'NpzFile' object has no attribute 'ndim' (the README's own example)
    assert cli.main(["preview", str(walk), "-o", str(tmp_path / "walk.gif")]) == 0
    assert (tmp_path / "walk.gif").stat().st_size > 1000
    assert "walk.gif: 60 frames" in capsys.readouterr().out


def test_prompt_warnings():
    assert "has no words" in checks.prompt_warnings("12345")[0]
    assert "does not look English" in checks.prompt_warnings("人が歩く")[0]
    assert "no English motion words" in checks.prompt_warnings("une personne marche")[0]
    assert checks.prompt_warnings("a person walks forward, then jumps twice") == []
    assert checks.prompt_warnings("someone is dancing happily") == []


def test_nan_weights_are_refused(tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    model = tmp_path / "model"
    shutil.copytree(MODEL, model)
    weights = model / "generator.safetensors"
    state = load_file(str(weights))
    name = sorted(k for k, v in state.items() if v.is_floating_point())[3]
    state[name].view(-1)[0] = float("nan")
    save_file(state, str(weights), metadata={"format": "moscale-generator"})
    error = refused(["generate", "a person walks", "--model", str(model), "-o", str(tmp_path / "a.npz")], capsys)
    assert f"generator.safetensors: tensor '{name}' holds NaN or inf values" in error
    assert not (tmp_path / "a.npz").exists()


def test_threads_default_to_one_on_the_cpu_and_follow_the_option(tmp_path, capsys):
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert cli.main(["generate", "12345", "--seconds", "1", "--seed", "1", "--device", "cpu",
                         "-o", str(tmp_path / "a.npz")]) == 0
        assert torch.get_num_threads() == 1
        assert "warning: the prompt '12345' has no words" in capsys.readouterr().err  # warned, and still written
        assert cli.main(["generate", "a person walks", "--seconds", "1", "--seed", "1", "--threads", "2",
                         "-o", str(tmp_path / "b.npz")]) == 0
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


@pytest.mark.parametrize("weights", ["generator.safetensors", "tokenizer/tokenizer.safetensors"])
def test_nan_weights_are_refused_by_the_loader_too(tmp_path, weights):
    # the add-on and Python users load through MoScalePipeline.from_pretrained, not the command line's checks
    from safetensors.torch import load_file, save_file

    from moscale.pipeline import MoScalePipeline

    model = tmp_path / "model"
    shutil.copytree(MODEL, model)
    state = load_file(str(model / weights))
    name = sorted(k for k, v in state.items() if v.is_floating_point())[0]
    state[name].view(-1)[-1] = float("inf")
    save_file(state, str(model / weights), metadata={"format": "x"})
    with pytest.raises(ValueError, match=f"tensor '{name}' holds NaN or inf values"):
        MoScalePipeline.from_pretrained(model, device="cpu")
