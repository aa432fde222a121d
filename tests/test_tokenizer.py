"""The multi-scale residual VQ-VAE (moscale.model.tokenizer), its training script and its evaluation, with tiny configs."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from moscale.model import scales
from moscale.model.codec import pelvis_aligned_joints, root_track
from moscale.model.tokenizer import MotionTokenizer
from moscale.model.tokenizer_config import (CONFIG_FILE, NORMALIZATION_FILE, WEIGHTS_FILE, TokenizerConfig,
                                            upgrade_config)

TINY = TokenizerConfig(width=32, depth=2, codebook_size=32, code_dim=16, reset_buffer_size=256)


@pytest.fixture
def model() -> MotionTokenizer:
    torch.manual_seed(0)
    tokenizer = MotionTokenizer(TINY)
    # A few training steps initialise the codebook from data (it starts at zero).
    batch, lengths = _batch(torch.Generator().manual_seed(1), [64, 48, 40, 64])
    tokenizer.train()
    for _ in range(2):
        tokenizer(batch, lengths)
    return tokenizer.eval()


def _batch(generator: torch.Generator, lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    # Smooth random motions (a random walk), zero-padded beyond each length.
    features = torch.randn(len(lengths), max(lengths), TINY.feature_dim, generator=generator).cumsum(1) / 8
    for b, t in enumerate(lengths):
        features[b, t:] = 0
    return features, torch.tensor(lengths)


# ---------------------------------------------------------------------------------------------------------------------
# config


def test_presets_and_dict_round_trip():
    paper = TokenizerConfig.paper()
    assert (paper.width, paper.codebook_size, paper.code_dim, paper.scale_factors) == (512, 512, 512, (8, 4, 2, 1))
    assert paper.downsample == 4 and paper.ema_decay == 0.99 and paper.commit_weight == 0.02
    small = TokenizerConfig.small()
    assert small.width < paper.width and small.scale_factors == paper.scale_factors
    for config in (paper, small, TINY):
        data = json.loads(json.dumps(config.to_dict()))
        assert TokenizerConfig.from_dict(data) == config
    with pytest.raises(ValueError, match="preset"):
        TokenizerConfig.preset("huge")


def test_upgrade_config_maps_legacy_names_and_rejects_newer():
    legacy = {"nb_code": 256, "code_dim": 64, "width": 128, "depth": 3, "dilation_growth_rate": 3, "down_t": 2,
              "stride_t": 2, "vq_act": "relu", "mu": 0.98}
    config = TokenizerConfig.from_dict(legacy)
    assert (config.codebook_size, config.code_dim, config.width, config.ema_decay) == (256, 64, 128, 0.98)
    with pytest.raises(ValueError, match="newer"):
        upgrade_config({**TINY.to_dict(), "version": 99})
    with pytest.raises(ValueError, match="unknown"):
        TokenizerConfig.from_dict({**TINY.to_dict(), "colour": "red"})


# ---------------------------------------------------------------------------------------------------------------------
# encode / decode


def test_decode_of_indices_equals_quantised_forward(model):
    features, lengths = _batch(torch.Generator().manual_seed(2), [64, 45, 40])
    recon, indices, losses = model(features, lengths)
    encoded = model.encode(features, lengths)
    assert [i.shape for i in encoded] == [(3, n) for n in scales.token_lengths(16)]
    for a, b in zip(indices, encoded):
        assert torch.equal(a, b)
    decoded = model.decode(encoded, lengths)
    assert decoded.shape == features.shape
    assert torch.allclose(decoded, recon, atol=1e-6)
    assert set(losses) == {"total", "recon", "joints", "commit", "pose"}


def test_padding_never_changes_a_clip(model):
    features, lengths = _batch(torch.Generator().manual_seed(3), [64, 42, 13])
    assert_padding_never_changes(model, features, lengths)


def assert_padding_never_changes(model, features, lengths):
    """Each clip of a padded batch encodes and decodes as it does alone; padding tokens and frames are 0, and garbage
    in the padded frames changes nothing."""
    batch_indices = model.encode(features, lengths)
    batch_decoded = model.decode(batch_indices, lengths)
    counts = model.token_counts(lengths)
    for b, t in enumerate(lengths.tolist()):
        alone_indices = model.encode(features[b : b + 1, :t], lengths[b : b + 1])
        for k, alone in enumerate(alone_indices):
            assert torch.equal(alone[0], batch_indices[k][b, : counts[b, k]])
            assert (batch_indices[k][b, counts[b, k] :] == 0).all()  # padding tokens are 0
        alone_decoded = model.decode(alone_indices, lengths[b : b + 1])
        assert torch.allclose(alone_decoded[0], batch_decoded[b, :t], atol=1e-5)
        assert (batch_decoded[b, t:] == 0).all()
    # Garbage in the padded frames changes nothing either.
    noisy = features.clone()
    noisy[1, int(lengths[1]):] = 100.0
    for a, b in zip(model.encode(noisy, lengths), batch_indices):
        assert torch.equal(a, b)


def test_coarse_preview_uses_only_first_scales(model):
    features, lengths = _batch(torch.Generator().manual_seed(4), [64, 40])
    indices = model.encode(features, lengths)
    previews = [model.decode(indices, lengths, num_scales=k) for k in range(1, 5)]
    assert torch.allclose(previews[1], model.decode(indices[:2], lengths), atol=0)
    assert torch.equal(previews[3], model.decode(indices, lengths))
    changed = indices[0].clone()
    changed[0] = (changed[0] + 1) % TINY.codebook_size
    assert not torch.allclose(model.decode([changed] + indices[1:], lengths, num_scales=1), previews[0])
    with pytest.raises(ValueError):
        model.decode(indices, lengths, num_scales=5)


def test_transformer_helpers_reproduce_encoding(model):
    features, lengths = _batch(torch.Generator().manual_seed(5), [64, 47])
    indices = model.encode(features, lengths)
    f = model.encode_latent(features, lengths)
    inputs = model.teacher_forcing(indices, lengths)
    assert len(inputs) == 4 and (inputs[0] == 0).all()
    f_hat = model.init_f_hat(lengths)
    assert f_hat.shape == f.shape
    for k in range(4):
        assert torch.allclose(model.next_scale_input(f_hat, k, lengths), inputs[k], atol=1e-6)
        assert inputs[k].shape == (2, scales.token_length(16, TINY.scale_factors[k]), TINY.code_dim)
        assert torch.equal(model.quantize_scale(f, f_hat, k, lengths), indices[k])
        up = model.upsample_to_latent(model.embed_codes(indices[k]), k, lengths, f.shape[1])
        f_hat_next = model.accumulate(f_hat, indices[k], k, lengths)
        assert torch.allclose(f_hat_next, f_hat + up)
        f_hat = f_hat_next
    assert torch.allclose(model.decode_latent(f_hat, lengths), model.decode(indices, lengths), atol=1e-6)
    # Hierarchical refinement: against a corrupted f_hat, scale k's targets change to correct it.
    corrupted = model.accumulate(model.init_f_hat(lengths), (indices[0] + 1) % TINY.codebook_size, 0, lengths)
    assert model.quantize_scale(f, corrupted, 1, lengths).shape == indices[1].shape


def test_encoder_input_is_clipped_but_targets_are_not(model):
    features, lengths = _batch(torch.Generator().manual_seed(5), [40])
    spike = features.clone()
    spike[0, 10, 0] = 50.0  # a 50-sigma root spin, as in some real clips
    clipped = spike.clone()
    clipped[0, 10, 0] = TINY.input_clip
    torch.testing.assert_close(model.encode_latent(spike, lengths), model.encode_latent(clipped, lengths))
    _, _, spiked_losses = model(spike, lengths)
    _, _, clipped_losses = model(clipped, lengths)
    assert spiked_losses["recon"] > clipped_losses["recon"]  # the reconstruction target keeps the real value


def test_latent_norm_normalises_valid_steps_and_keeps_padding_zero():
    torch.manual_seed(0)
    tokenizer = MotionTokenizer(dataclasses.replace(TINY, latent_norm=True)).eval()
    features, lengths = _batch(torch.Generator().manual_seed(6), [64, 40])
    f_BNC = tokenizer.encode_latent(features, lengths)
    valid = tokenizer.latent_lengths(lengths).tolist()
    torch.testing.assert_close(f_BNC[0].var(-1, unbiased=False), torch.ones(f_BNC.shape[1]), atol=1e-3, rtol=0)
    assert torch.all(f_BNC[1, valid[1]:] == 0)
    alone = tokenizer.encode_latent(features[1:, :40], lengths[1:])
    torch.testing.assert_close(f_BNC[1, : valid[1]], alone[0])


FIXTURE = Path(__file__).parent / "fixtures" / "humanml3d"


def test_pose_loss_joints_match_the_feature_decoder():
    # A turning reference clip: the differentiable joints equal features_to_joints with the pelvis subtracted.
    from moscale.motion.features import features_to_joints

    raw = np.load(FIXTURE / "new_joint_vecs" / "012314.npy")
    expected = features_to_joints(raw)
    expected = expected[:, 1:] - expected[:, :1]
    got = pelvis_aligned_joints(torch.from_numpy(raw)[None].double())[0].numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert np.ptp(np.cumsum(raw[:, 0])) > 0.5  # the clip really turns, so the yaw integration is exercised


def test_pose_loss_sees_yaw_drift_and_weighs_in():
    torch.manual_seed(0)
    tokenizer = MotionTokenizer(dataclasses.replace(TINY, pose_weight=2.0)).eval()
    raw = torch.from_numpy(np.load(FIXTURE / "new_joint_vecs" / "012314.npy"))[None, :80]
    drifted = raw.clone()
    drifted[..., 0] += 0.002  # a small constant yaw-velocity error: it turns the body more every frame
    distance = (pelvis_aligned_joints(drifted) - pelvis_aligned_joints(raw)).norm(dim=-1).mean(-1)[0]
    assert distance[0] == 0 and distance[-1] > 10 * distance[5] > 0  # the error accumulates along the clip
    features, lengths = _batch(torch.Generator().manual_seed(8), [40, 32])
    plain = MotionTokenizer(TINY).eval()
    plain.load_state_dict(tokenizer.state_dict())
    _, _, weighted = tokenizer(features, lengths)
    _, _, unweighted = plain(features, lengths)
    torch.testing.assert_close(weighted["pose"], unweighted["pose"])
    torch.testing.assert_close(weighted["total"], unweighted["total"] + 2.0 * unweighted["pose"])


def test_velocity_loss_scores_a_rounded_off_peak_the_pose_loss_barely_sees():
    raw = torch.from_numpy(np.load(FIXTURE / "new_joint_vecs" / "012314.npy"))[None, :80]
    # A reconstruction that lags the real clip by one frame: each pose is nearly right, every move is late.
    lagged = torch.cat([raw[:, :1], raw[:, :-1]], dim=1)
    tokenizer = MotionTokenizer(dataclasses.replace(TINY, velocity_weight=4.0)).eval()
    tokenizer.set_normalization(np.zeros(263), np.ones(263))
    lengths = torch.tensor([80])
    f = torch.zeros(1, 20, TINY.code_dim)
    same = tokenizer._losses(raw, raw, f, f, lengths)
    assert float(same["velocity"]) == 0.0
    moved = tokenizer._losses(lagged, raw, f, f, lengths)
    moves = pelvis_aligned_joints(raw).diff(dim=1)
    expected = (pelvis_aligned_joints(lagged).diff(dim=1) - moves).norm(dim=-1).mean()
    torch.testing.assert_close(moved["velocity"], expected)
    torch.testing.assert_close(moved["total"] - 4.0 * moved["velocity"],
                               MotionTokenizer(TINY)._losses(lagged, raw, f, f, lengths)["total"])
    # Frames past a clip's end never count: padding after frame 50 leaves the loss of the first 50 frames.
    padded = tokenizer._losses(lagged, raw.clone().index_fill_(1, torch.arange(50, 80), 0.0), f, f, torch.tensor([50]))
    short = tokenizer._losses(lagged[:, :50], raw[:, :50], f[:, :13], f[:, :13], torch.tensor([50]))
    torch.testing.assert_close(padded["velocity"], short["velocity"])
    # Off (0, the default of every config saved before the option): no velocity term, the total as it was.
    assert "velocity" not in MotionTokenizer(TINY)._losses(lagged, raw, f, f, lengths)
    assert TokenizerConfig.from_dict({k: v for k, v in TINY.to_dict().items() if k != "velocity_weight"}) == TINY


def test_root_loss_integrates_the_floor_track_as_the_feature_decoder_does():
    from moscale.motion.features import recover_root

    raw = np.load(FIXTURE / "new_joint_vecs" / "012314.npy")  # a turning clip: the facing rotation is exercised
    _, root = recover_root(raw)
    got = root_track(torch.from_numpy(raw)[None].double())[0].numpy()
    np.testing.assert_allclose(got, root[:, [0, 2]] - root[:1, [0, 2]], atol=1e-6)
    # a small bias on the root's forward velocity (2 mm a frame) becomes a drift that grows along the clip
    raw = torch.from_numpy(raw)[None, :80]
    drifted = raw.clone()
    drifted[..., 2] += 0.002
    tokenizer = MotionTokenizer(dataclasses.replace(TINY, root_weight=3.0)).eval()
    tokenizer.set_normalization(np.zeros(263), np.ones(263))
    f = torch.zeros(1, 20, TINY.code_dim)
    losses = tokenizer._losses(drifted, raw, f, f, torch.tensor([80]))
    expected = (root_track(drifted) - root_track(raw)).norm(dim=-1).mean()
    torch.testing.assert_close(losses["root"], expected)
    drift = (root_track(drifted) - root_track(raw)).norm(dim=-1)[0]
    assert drift[0] == 0 and drift[-1] > 5 * drift[5] > 0  # it adds up along the clip
    assert 0.03 < float(losses["root"]) <= 0.079  # at most 2 mm x 79 steps / 2 on average (less: the clip turns)
    torch.testing.assert_close(losses["total"] - 3.0 * losses["root"],
                               MotionTokenizer(TINY)._losses(drifted, raw, f, f, torch.tensor([80]))["total"])
    assert "root" not in MotionTokenizer(TINY)._losses(drifted, raw, f, f, torch.tensor([80]))
    assert TokenizerConfig.from_dict({k: v for k, v in TINY.to_dict().items() if k != "root_weight"}) == TINY


def test_gradients_reach_encoder_and_decoder():
    torch.manual_seed(0)
    tokenizer = MotionTokenizer(TINY).train()
    features, lengths = _batch(torch.Generator().manual_seed(6), [64, 40])
    _, _, losses = tokenizer(features, lengths)
    losses["total"].backward()
    assert tokenizer.encoder.conv_in.weight.grad.abs().sum() > 0
    assert tokenizer.decoder.conv_out.weight.grad.abs().sum() > 0
    assert tokenizer.quantizer.codebook.grad is None  # EMA, not gradients


def test_training_lowers_the_loss():
    torch.manual_seed(0)
    tokenizer = MotionTokenizer(TINY).train()
    optimizer = torch.optim.AdamW(tokenizer.parameters(), lr=2e-3)
    features, lengths = _batch(torch.Generator().manual_seed(7), [32, 32, 24])
    history = []
    for _ in range(15):
        _, _, losses = tokenizer(features, lengths)
        optimizer.zero_grad()
        losses["total"].backward()
        optimizer.step()
        history.append(float(losses["recon"].detach()))
    assert history[-1] < 0.7 * history[0]


# ---------------------------------------------------------------------------------------------------------------------
# codebook


def test_ema_moves_codes_toward_assigned_vectors():
    torch.manual_seed(0)
    codebook = MotionTokenizer(TINY).quantizer
    codes = torch.randn(TINY.codebook_size, TINY.code_dim)
    codebook.codebook.copy_(codes)
    codebook.ema_count.fill_(10.0)  # all alive, no resets
    codebook.ema_sum.copy_(codes * 10.0)  # consistent EMA state: code = sum / count
    codebook.initialized.fill_(True)
    x = codes[3] + 0.1 * torch.randn(20, TINY.code_dim)
    idx = codebook.nearest(x)
    assert (idx == 3).all()
    before = (codes[3] - x.mean(0)).norm()
    stats = codebook.update(x, idx)
    after = (codebook.codebook[3] - x.mean(0)).norm()
    assert after < before
    # EMA arithmetic: count 0.99 * 10 + 0.01 * 20, sum likewise; other codes keep their vectors (up to smoothing).
    assert torch.isclose(codebook.ema_count[3], torch.tensor(0.99 * 10 + 0.01 * 20))
    assert torch.allclose(codebook.codebook[5], codes[5], atol=1e-3)
    assert stats["reset"] == 0 and stats["used"] == pytest.approx(1 / TINY.codebook_size)


def test_dead_codes_are_reset_from_recent_vectors():
    torch.manual_seed(0)
    codebook = MotionTokenizer(TINY).quantizer
    x = torch.randn(64, TINY.code_dim) + 5.0
    codebook.update(x, codebook.nearest(x))  # first call initialises the codebook from x
    assert bool(codebook.initialized)
    codebook.ema_count[:4] = 0.0  # four codes starved of assignments
    codebook.ema_count[4:] = 50.0
    far = torch.randn(32, TINY.code_dim) - 5.0
    stats = codebook.update(far, torch.full((32,), 10))
    assert stats["reset"] == 4
    remembered = codebook.recent[: int(codebook.recent_filled)]
    for code in codebook.codebook[:4]:
        assert (remembered - code).norm(dim=1).min() < 1e-5  # each replacement is a remembered vector
    assert (codebook.ema_count[:4] == 1.0).all()


# ---------------------------------------------------------------------------------------------------------------------
# release folders


def test_save_load_gives_identical_outputs(model, tmp_path):
    model.set_normalization(torch.linspace(-1, 1, 263), torch.linspace(0.5, 2, 263))
    folder = model.save_pretrained(tmp_path / "tok")
    assert {p.name for p in folder.iterdir()} == {CONFIG_FILE, WEIGHTS_FILE, NORMALIZATION_FILE}
    loaded = MotionTokenizer.from_pretrained(folder)
    assert loaded.config == model.config and not loaded.training
    assert torch.equal(loaded.feature_mean, model.feature_mean) and torch.equal(loaded.feature_std, model.feature_std)
    features, lengths = _batch(torch.Generator().manual_seed(8), [64, 41])
    a, b = model.encode(features, lengths), loaded.encode(features, lengths)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert torch.equal(model.decode(a, lengths), loaded.decode(b, lengths))
    raw = torch.randn(5, 263)
    assert torch.allclose(loaded.denormalize(loaded.normalize(raw)), raw, atol=1e-5)


def test_release_folder_errors_name_the_file(model, tmp_path):
    good = model.save_pretrained(tmp_path / "good")

    def broken(name: str, edit) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        for path in good.iterdir():
            (folder / path.name).write_bytes(path.read_bytes())
        edit(folder)
        return folder

    with pytest.raises(FileNotFoundError, match="not found"):
        MotionTokenizer.from_pretrained(tmp_path / "nowhere")
    cases = [
        ("no_config", lambda f: (f / CONFIG_FILE).unlink(), FileNotFoundError, CONFIG_FILE),
        ("bad_json", lambda f: (f / CONFIG_FILE).write_text("{width: 3"), ValueError, CONFIG_FILE),
        ("no_weights", lambda f: (f / WEIGHTS_FILE).unlink(), FileNotFoundError, WEIGHTS_FILE),
        ("bad_weights", lambda f: (f / WEIGHTS_FILE).write_bytes(b"\x00garbage" * 10), ValueError, WEIGHTS_FILE),
        ("truncated", lambda f: (f / WEIGHTS_FILE).write_bytes((good / WEIGHTS_FILE).read_bytes()[:500]), ValueError,
         WEIGHTS_FILE),
        ("other_width", lambda f: (f / CONFIG_FILE).write_text(json.dumps({**TINY.to_dict(), "width": 48})), ValueError,
         WEIGHTS_FILE),
        ("no_normalization", lambda f: (f / NORMALIZATION_FILE).unlink(), FileNotFoundError, NORMALIZATION_FILE),
        ("bad_normalization", lambda f: (f / NORMALIZATION_FILE).write_text('{"mean": [1, 2]}'), ValueError,
         NORMALIZATION_FILE),
    ]
    for name, edit, error, file_name in cases:
        with pytest.raises(error, match=file_name.replace(".", r"\.")):
            MotionTokenizer.from_pretrained(broken(name, edit))


# ---------------------------------------------------------------------------------------------------------------------
# training and evaluation commands on a tiny synthetic corpus


def _corpus(root: Path, clips: int = 12) -> Path:
    rng = np.random.default_rng(0)
    (root / "new_joint_vecs").mkdir(parents=True)
    (root / "texts").mkdir()
    names = [f"{'src' if i % 2 else 'other'}_{i:04d}" for i in range(clips)]
    for i, name in enumerate(names):
        frames = 48 + 8 * (i % 4)
        walk = np.cumsum(rng.normal(size=(frames, 263)), axis=0) / 10
        np.save(root / "new_joint_vecs" / f"{name}.npy", walk.astype(np.float32))
        (root / "texts" / f"{name}.txt").write_text("a person moves#a/DET#0.0#0.0\n")
    np.save(root / "Mean.npy", np.zeros(263, np.float32))
    np.save(root / "Std.npy", np.ones(263, np.float32))
    (root / "train.txt").write_text("\n".join(names[:8]) + "\n")
    (root / "val.txt").write_text("\n".join(names[8:10]) + "\n")
    (root / "test.txt").write_text("\n".join(names[10:]) + "\n")
    (root / "tiny.json").write_text(json.dumps(TINY.to_dict()))
    return root


def test_train_resume_and_evaluate_commands(tmp_path):
    from moscale.cli import main

    data = _corpus(tmp_path / "corpus")
    out = tmp_path / "run"
    common = ["train", "tokenizer", "--data", str(data), "--out", str(out), "--config", str(data / "tiny.json"),
              "--batch-size", "4", "--crop-frames", "32", "--log-every", "2", "--save-every", "3", "--warmup", "2",
              "--threads", "1", "--no-progress", "--device", "cpu"]
    assert main(common + ["--iters", "3"]) == 0
    first = MotionTokenizer.from_pretrained(out / "tokenizer")
    assert main(common + ["--iters", "5", "--resume"]) == 0
    rows = (out / "train_log.csv").read_text().splitlines()
    assert rows[0].split(",")[0] and [r.split(",") for r in rows[1:]]  # a header and data rows
    steps = [float(row["step"]) for row in _csv(out / "train_log.csv")]
    assert steps == [2, 3, 4, 5] and (out / "loss_curves.png").is_file()
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    assert checkpoint["step"] == 5
    second = MotionTokenizer.from_pretrained(out / "tokenizer")
    assert not torch.equal(first.encoder.conv_in.weight, second.encoder.conv_in.weight)

    pytest.importorskip("moscale.motion.features")
    pytest.importorskip("moscale.motion.preview")
    assert main(["eval", "tokenizer", "--tokenizer", str(out / "tokenizer"), "--data", str(data),
                 "--figure-frames", "2"]) == 0
    metrics = json.loads((out / "eval_test" / "metrics.json").read_text())
    assert len(metrics["mpjpe_mm"]) == 4 and all(np.isfinite(metrics["mpjpe_mm"]))
    assert 0 < metrics["codebook_usage"] <= 1 and metrics["clips"] == 2
    assert 0 < metrics["mpjpe_true_yaw_mm"] and np.isfinite(metrics["mpjpe_true_yaw_mm"])
    assert Path(metrics["figure"]).is_file()
    # The per-source MPJPE (point-weighted) recombines into the total; the figure shows the median clip.
    by_source = metrics["mpjpe_mm_by_source"]
    assert sorted(by_source) == ["other", "src"] and sorted(metrics["clip_mpjpe_mm"]) == ["other_0010", "src_0011"]
    weights = {"other": 48 + 8 * (10 % 4), "src": 48 + 8 * (11 % 4)}
    total = sum(weights[k] * np.array(by_source[k]["mpjpe_mm"]) for k in weights) / sum(weights.values())
    np.testing.assert_allclose(total, metrics["mpjpe_mm"], rtol=1e-6)
    assert metrics["median_clip"] in metrics["clip_mpjpe_mm"] and metrics["median_clip"] in metrics["figure"]


def test_fine_tune_starts_from_a_release_folder(model, tmp_path):
    from moscale.cli import main

    data = _corpus(tmp_path / "corpus")
    model.set_normalization(np.zeros(263), np.ones(263))
    model.save_pretrained(tmp_path / "base")
    tuned_config = tmp_path / "tuned.json"
    tuned_config.write_text(json.dumps(dataclasses.replace(TINY, pose_weight=1.5).to_dict()))
    out = tmp_path / "tuned"
    args = ["train", "tokenizer", "--data", str(data), "--out", str(out), "--init", str(tmp_path / "base"),
            "--config", str(tuned_config), "--batch-size", "4", "--crop-frames", "32", "--warmup", "1", "--iters", "1",
            "--lr", "0", "--threads", "1", "--no-progress", "--device", "cpu", "--val-clips", "0"]
    assert main(args) == 0
    tuned = MotionTokenizer.from_pretrained(out / "tokenizer")
    assert tuned.config.pose_weight == 1.5
    # lr 0: the weights are the base's. One EMA step moved the codebook (on this tiny corpus most codes are dead and
    # reset), but the live codes stay within 2% of the base's instead of being re-initialised from data.
    for name, weight in model.release_state_dict().items():
        if not name.startswith("quantizer."):
            torch.testing.assert_close(tuned.release_state_dict()[name], weight, msg=name)
    drift = (tuned.quantizer.codebook - model.quantizer.codebook).norm(dim=-1)
    assert (drift < 0.02 * model.quantizer.codebook.norm(dim=-1)).any()
    assert main(args[:-2] + ["--val-clips", "0", "--oversample", "src=3", "--out", str(tmp_path / "over")]) == 0
    moving = tmp_path / "moving"
    assert main(args + ["--velocity-weight", "2.5", "--out", str(moving)]) == 0
    assert MotionTokenizer.from_pretrained(moving / "tokenizer").config.velocity_weight == 2.5
    assert main(args + ["--velocity-weight", "-1", "--out", str(tmp_path / "negative")]) == 2
    assert main(args + ["--oversample", "nosuch=3", "--out", str(tmp_path / "typo")]) == 2
    whole = args[:-2] + ["--val-clips", "0", "--crop-frames", "0", "--out", str(tmp_path / "whole")]
    assert main(whole) == 0  # whole clips (48-72 frames here) instead of crops
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(dataclasses.replace(TINY, width=48).to_dict()))
    assert main(args[:-1] + ["0", "--config", str(wrong), "--out", str(tmp_path / "bad")]) == 2


def test_decoder_only_fine_tune_keeps_every_token_and_the_normalisation(model, tmp_path):
    from moscale.cli import main

    data = _corpus(tmp_path / "corpus")
    np.save(data / "Std.npy", np.full(263, 2.0, np.float32))  # the corpus's own statistics differ from the release's
    model.set_normalization(np.zeros(263), np.ones(263))
    model.save_pretrained(tmp_path / "base")
    out = tmp_path / "decoder"
    args = ["train", "tokenizer", "--data", str(data), "--out", str(out), "--init", str(tmp_path / "base"),
            "--decoder-only", "--batch-size", "4", "--crop-frames", "32", "--warmup", "1", "--iters", "3",
            "--lr", "1e-3", "--threads", "1", "--no-progress", "--device", "cpu", "--val-clips", "2"]
    assert main(args) == 0
    tuned = MotionTokenizer.from_pretrained(out / "tokenizer")
    torch.testing.assert_close(tuned.feature_std, model.feature_std)  # the release's, not the corpus's
    before, after = model.release_state_dict(), tuned.release_state_dict()
    for name, weight in before.items():
        if name.startswith("decoder."):
            continue
        torch.testing.assert_close(after[name], weight, rtol=0, atol=0, msg=name)  # encoder and codebook as they were
    assert any(not torch.equal(after[name], weight) for name, weight in before.items() if name.startswith("decoder."))
    features, lengths = _batch(torch.Generator().manual_seed(5), [64, 40])
    tokens = [t.tolist() for t in model.eval().encode(features, lengths)]
    assert [t.tolist() for t in tuned.eval().encode(features, lengths)] == tokens
    assert main(args[:6] + args[8:] + ["--out", str(tmp_path / "no_init")]) == 2  # nothing to keep the codes of
    # --root-only: only the root channels' output trains; every other channel decodes bit for bit as before
    root = tmp_path / "root"
    assert main(args + ["--root-only", "--root-weight", "1.0", "--out", str(root)]) == 0
    rooted = MotionTokenizer.from_pretrained(root / "tokenizer").eval()
    with torch.no_grad():
        old, new = (t.decode(t.encode(features, lengths), lengths) for t in (model, rooted))
    assert torch.equal(old[..., 4:], new[..., 4:]) and not torch.equal(old[..., :4], new[..., :4])
    assert main(args[:8] + args[9:] + ["--root-only", "--out", str(tmp_path / "alone")]) == 2  # needs --decoder-only


def _csv(path: Path) -> list[dict]:
    import csv

    with path.open() as handle:
        return list(csv.DictReader(handle))


WORKER = """
import sys
import torch
from moscale.train import common, tokenizer
parser = __import__("argparse").ArgumentParser()
tokenizer.configure_parser(parser)
args = tokenizer.resolve_settings(parser.parse_args(sys.argv[1:]))
runtime = common.setup_runtime("cpu", 1)
model = tokenizer.train(args, runtime)
torch.save(model.state_dict(), args.out / f"rank{runtime.rank}.pt")
common.teardown_runtime()
"""


def test_torchrun_two_processes_keep_replicas_identical(tmp_path):
    data = _corpus(tmp_path / "corpus", clips=16)
    out = tmp_path / "ddp"
    out.mkdir()
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(worker),
               "--data", str(data), "--out", str(out), "--config", str(data / "tiny.json"), "--iters", "4",
               "--batch-size", "4", "--crop-frames", "32", "--save-every", "4", "--log-every", "2", "--no-progress"]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=environment)
    assert result.returncode == 0, result.stderr[-3000:]
    states = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert set(states[0]) == set(states[1])
    for name in states[0]:
        if "recent" in name:  # the reset pool is each rank's own data; only rank 0 draws from it
            continue
        assert torch.equal(states[0][name], states[1][name]), name
    assert bool(states[0]["quantizer.initialized"])
    assert (out / "tokenizer" / WEIGHTS_FILE).is_file()
