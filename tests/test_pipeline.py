"""The pipeline API on a tiny random-weight release folder: loading, generation, reproducibility, errors, CLI."""
import argparse
import json
import shutil
import threading

import numpy as np
import pytest
import torch

from moscale.cli import generate as pipeline_module
from moscale.motion import Motion
from moscale.pipeline import MoScalePipeline, save_random_release
from moscale.model.sampling import Cancelled
from moscale.model.text import TextEncoder, save_random_encoder
from moscale.model.tokenizer import TokenizerConfig
from moscale.model.transformer import TransformerConfig

FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures" / "humanml3d"


def tiny_configs(text_dim=16, mode="next-scale"):
    tokenizer = TokenizerConfig(width=16, depth=1, codebook_size=32, code_dim=8)
    transformer = TransformerConfig(n_layer=2, n_head=2, n_embd=32, num_codes=32, code_dim=8, text_dim=text_dim,
                                    max_latent=13, num_queries=2, mode=mode)
    return transformer, tokenizer


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    return save_random_encoder(tmp_path_factory.mktemp("text") / "encoder", "bert", dim=16)


@pytest.fixture(scope="module")
def release(tmp_path_factory, encoder_dir):
    folder = tmp_path_factory.mktemp("release") / "model"
    transformer, tokenizer = tiny_configs()
    encoder = TextEncoder.load(str(encoder_dir), max_tokens=16)
    save_random_release(folder, transformer, tokenizer, encoder.config, seed=0,
                        mean=np.load(FIXTURES / "Mean.npy"), std=np.load(FIXTURES / "Std.npy"))
    return folder


@pytest.fixture(scope="module")
def pipe(release):
    return MoScalePipeline.from_pretrained(release, device="auto")


def test_generate_a_motion(pipe):
    assert pipe.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert pipe.window_frames == 52 and pipe.fps == 20
    motion = pipe.generate("a person walks forward", seconds=2, seed=3, schedule="best", guidance=3.0)
    assert isinstance(motion, Motion)
    assert motion.joints.shape == (40, 22, 3) and motion.features.shape == (40, 263) and motion.fps == 20
    assert np.isfinite(motion.joints).all()
    assert motion.prompt == "a person walks forward"
    meta = motion.metadata
    assert meta["seed"] == 3 and meta["guidance"] == 3.0 and meta["schedule"] == [1, 2, 5, 10] and meta["frames"] == 40


def test_samples_and_seeds(pipe):
    motions = pipe.generate("someone jumps", frames=30, seed=7, num_samples=3, temperature=1.5, top_p=None)
    assert isinstance(motions, list) and len(motions) == 3
    assert all(m.num_frames == 30 for m in motions)
    again = pipe.generate("someone jumps", frames=30, seed=7, num_samples=3, temperature=1.5, top_p=None)
    assert all(np.array_equal(a.joints, b.joints) for a, b in zip(motions, again))
    # each sample reports the seed that makes it alone (the CLI prints it, the add-on's Variations store it)
    for b, motion in enumerate(motions):
        assert (motion.metadata["seed"], motion.metadata["sample"], motion.metadata["num_samples"]) == (7 + b, b, 3)
        alone = pipe.generate("someone jumps", frames=30, seed=7 + b, temperature=1.5, top_p=None)
        assert np.array_equal(motion.joints, alone.joints)
    assert not np.array_equal(motions[0].joints, motions[1].joints)
    unseeded = pipe.generate("someone jumps", frames=30)
    replay = pipe.generate("someone jumps", frames=30, seed=unseeded.metadata["seed"])
    assert np.array_equal(unseeded.joints, replay.joints)


def test_guidance_zero_is_conditional(pipe):
    a = pipe.generate("a person waves", frames=48, seed=1, guidance=0.0)
    assert a.num_frames == 48


def test_long_clip_is_joined_from_windows(pipe):
    calls = []
    motion = pipe.generate("a person walks", frames=130, seed=0, progress=lambda *a: calls.append(a))
    assert motion.num_frames == 130 and np.isfinite(motion.joints).all()
    assert calls[-1][0] == calls[-1][1]


def test_cancel(pipe):
    event = threading.Event()
    event.set()
    with pytest.raises(Cancelled):
        pipe.generate("a person walks", frames=40, cancel=event)


def test_save_load_identical_outputs(pipe, release, tmp_path):
    from moscale.pipeline import save_release

    copy = save_release(tmp_path / "copy", pipe.model, pipe.tokenizer, pipe.text_config)
    loaded = MoScalePipeline.from_pretrained(copy, device=pipe.device)
    a = pipe.generate("a person kicks", frames=44, seed=11)
    b = loaded.generate("a person kicks", frames=44, seed=11)
    assert np.array_equal(a.features, b.features) and np.array_equal(a.joints, b.joints)


@pytest.mark.parametrize("kwargs, message", [
    (dict(frames=0), "too short"),
    (dict(frames=-5), "too short"),
    (dict(seconds=0.0), "too short"),
    (dict(seconds=61), "too long"),
    (dict(frames=1201), "too long"),
    (dict(seconds=2, frames=40), "not both"),
    (dict(frames=40, num_samples=0), "num_samples"),
    (dict(frames=40, schedule="slowest"), "schedule"),
])
def test_bad_lengths_and_settings(pipe, kwargs, message):
    with pytest.raises(ValueError, match=message):
        pipe.generate("a person walks", **kwargs)


@pytest.mark.parametrize("prompt", ["", "   "])
def test_empty_prompt(pipe, prompt):
    with pytest.raises(ValueError, match="empty"):
        pipe.generate(prompt, frames=40)


def broken_copy(release, tmp_path):
    folder = tmp_path / "broken"
    shutil.copytree(release, folder)
    return folder


def test_missing_and_corrupt_files_are_named(release, tmp_path):
    with pytest.raises(FileNotFoundError, match="model folder not found"):
        MoScalePipeline.from_pretrained(tmp_path / "nothing")
    folder = broken_copy(release, tmp_path)
    (folder / "generator.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="generator.safetensors"):
        MoScalePipeline.from_pretrained(folder)
    (folder / "generator.safetensors").write_bytes(b"garbage" * 10)
    with pytest.raises(ValueError, match="generator.safetensors: not a readable"):
        MoScalePipeline.from_pretrained(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="config.json: not valid JSON"):
        MoScalePipeline.from_pretrained(folder)
    (folder / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match="config.json"):
        MoScalePipeline.from_pretrained(folder)


def test_missing_tokenizer_file_is_named(release, tmp_path):
    folder = broken_copy(release, tmp_path)
    (folder / "tokenizer" / "tokenizer.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="tokenizer.safetensors"):
        MoScalePipeline.from_pretrained(folder)


def test_incompatible_parts(release, tmp_path):
    folder = broken_copy(release, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["transformer"]["n_embd"] = 64
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="does not match config.json"):
        MoScalePipeline.from_pretrained(folder)
    config["transformer"]["n_embd"] = 32
    config["text_encoder"]["dim"] = 384
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="text encoder width 384"):
        MoScalePipeline.from_pretrained(folder)
    config["format"] = "something-else"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="not a MoScale generator config"):
        MoScalePipeline.from_pretrained(folder)


def test_text_encoder_inside_the_release(release, encoder_dir, tmp_path):
    folder = broken_copy(release, tmp_path)
    shutil.copytree(encoder_dir, folder / "text_encoder")
    config = json.loads((folder / "config.json").read_text())
    config["text_encoder"]["name"] = "text_encoder"
    (folder / "config.json").write_text(json.dumps(config))
    pipe = MoScalePipeline.from_pretrained(folder, device="cpu")
    assert pipe.text_config.name == str(folder / "text_encoder")
    assert pipe.generate("a person walks", frames=20, seed=0).num_frames == 20


def test_next_token_release(tmp_path, encoder_dir):
    transformer, tokenizer = tiny_configs(mode="next-token")
    encoder = TextEncoder.load(str(encoder_dir), max_tokens=16)
    folder = save_random_release(tmp_path / "nt", transformer, tokenizer, encoder.config)
    pipe = MoScalePipeline.from_pretrained(folder, device="cpu")
    assert pipe.max_frames == 52
    assert pipe.generate("a person walks", frames=52, seed=0).num_frames == 52
    with pytest.raises(ValueError, match="too long"):
        pipe.generate("a person walks", frames=60)


@pytest.mark.parametrize("suffix", [".npz", ".npy", ".bvh"])
def test_cli(release, tmp_path, suffix, capsys):
    parser = argparse.ArgumentParser()
    pipeline_module.configure_parser(parser)
    out = tmp_path / f"jump{suffix}"
    args = parser.parse_args(["a person jumps twice", "--seconds", "2", "-o", str(out), "--model", str(release),
                              "--seed", "4", "--schedule", "1,2,2,2"])
    assert pipeline_module.run(args) == 0
    assert out.is_file() and "40 frames" in capsys.readouterr().out
    if suffix == ".npz":
        loaded = Motion.load(out)
        assert loaded.joints.shape == (40, 22, 3) and loaded.metadata["seed"] == 4


def test_cli_errors(release, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    pipeline_module.configure_parser(parser)
    args = parser.parse_args(["walk", "--seconds", "0", "-o", str(tmp_path / "a.npz"), "--model", str(release)])
    assert pipeline_module.run(args) == 2 and "too short" in capsys.readouterr().err
    args = parser.parse_args(["walk", "-o", str(tmp_path / "a.npz"), "--model", str(tmp_path / "none")])
    assert pipeline_module.run(args) == 2 and "not found" in capsys.readouterr().err
    args = parser.parse_args(["walk", "-o", str(tmp_path / "a.xyz"), "--model", str(release)])
    assert pipeline_module.run(args) == 2


def test_missing_text_encoder_is_named(release, tmp_path):
    folder = broken_copy(release, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["text_encoder"]["name"] = str(tmp_path / "no-encoder")
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(FileNotFoundError, match="no-encoder"):
        MoScalePipeline.from_pretrained(folder)
    lazy = MoScalePipeline.from_pretrained(folder, load_text_encoder=False)  # deferred to the first prompt
    with pytest.raises(FileNotFoundError, match="no-encoder"):
        lazy.generate("a person walks", frames=20)
