"""Generator training: teacher forcing with HR/TR, a few optimisation steps, the CLI, resume, and 2-process DDP."""
import json
import os
import socket

import numpy as np
import pytest
import torch

from moscale.model import scales
from moscale.model.text import save_random_encoder
from moscale.model.tokenizer import MotionTokenizer, TokenizerConfig
from moscale.train import generator as train_generator
from moscale.train.token_batches import TrainOptions, cosine_mask, loss_and_stats, next_scale_batch, next_token_batch
from moscale.model.transformer import MotionTransformer, TransformerConfig
from training_data import generator_cli, write_random_corpus

pytestmark = pytest.mark.usefixtures("keep_thread_count")

CODES, CODE_DIM = 16, 8


def tiny_tokenizer(seed=0) -> MotionTokenizer:
    torch.manual_seed(seed)
    model = MotionTokenizer(TokenizerConfig(width=16, depth=1, codebook_size=CODES, code_dim=CODE_DIM)).eval()
    model.quantizer.codebook.normal_(0, 0.5)
    return model


def latents(tokenizer, lengths):
    generator = torch.Generator().manual_seed(3)
    lengths_B = torch.tensor(lengths)
    features = torch.randn(len(lengths), max(lengths), 263, generator=generator)
    with torch.no_grad():
        return tokenizer.encode_latent(features, lengths_B), lengths_B, features


def test_cosine_mask_counts():
    torch.manual_seed(0)
    counts_B = torch.tensor([1, 5, 12, 12, 3])
    for _ in range(20):
        mask = cosine_mask(counts_B, 12, "cpu")
        selected = mask.sum(1)
        assert (selected >= 1).all() and (selected <= counts_B).all()
        assert not (mask & (torch.arange(12)[None] >= counts_B[:, None])).any()


def test_without_refinements_targets_are_the_tokenizer_codes():
    tokenizer = tiny_tokenizer()
    f_BNC, lengths_B, features = latents(tokenizer, [52, 30, 9])
    batch = next_scale_batch(tokenizer, f_BNC, lengths_B, CODES,
                             TrainOptions(hierarchical_refinement=False, temporal_refinement=False))
    layout = batch["layout"]
    assert torch.equal(batch["loss_mask"], layout.valid_BL)
    assert (batch["tokens"][layout.valid_BL] == CODES).all()  # all MASK: plain next-scale prediction
    encoded = tokenizer.encode(features, lengths_B)
    for k, (begin, end) in enumerate(scales.begin_end(layout.lengths)):
        valid = layout.valid_BL[:, begin:end]
        assert torch.equal(batch["targets"][:, begin:end][valid], encoded[k][valid])
    teacher = tokenizer.teacher_forcing(encoded, lengths_B)
    torch.testing.assert_close(batch["fhat"], torch.cat(teacher, 1))


def test_hierarchical_refinement_requantises_later_scales():
    torch.manual_seed(0)
    tokenizer = tiny_tokenizer()
    f_BNC, lengths_B, features = latents(tokenizer, [52, 52, 52, 52])
    clean = tokenizer.encode(features, lengths_B)
    batch = next_scale_batch(tokenizer, f_BNC, lengths_B, CODES,
                             TrainOptions(hierarchical_refinement=True, gamma_max=0.6, temporal_refinement=False))
    spans = scales.begin_end(batch["layout"].lengths)
    assert torch.equal(batch["targets"][:, spans[0][0]:spans[0][1]], clean[0])  # scale 0 sees nothing corrupted
    later = [not torch.equal(batch["targets"][:, b:e], clean[k]) for k, (b, e) in enumerate(spans) if k > 0]
    assert any(later)


def test_hierarchical_refinement_shows_clean_tokens_and_corrupts_only_f_hat():
    """The paper's HR: visible tokens within a scale are the (re-quantised) targets, never the corrupted codes;
    the corruption reaches the model only through the next scales' f_hat inputs."""
    torch.manual_seed(0)
    tokenizer = tiny_tokenizer()
    f_BNC, lengths_B, features = latents(tokenizer, [52] * 16)
    batch = next_scale_batch(tokenizer, f_BNC, lengths_B, CODES,
                             TrainOptions(hierarchical_refinement=True, gamma_max=0.6, temporal_refinement=True,
                                          token_noise_max=0.0))
    valid, selected = batch["layout"].valid_BL, batch["loss_mask"]
    visible = valid & ~selected
    assert visible.any()
    assert torch.equal(batch["tokens"][visible], batch["targets"][visible])
    # f_hat seen by scales >= 1 is built from corrupted codes, so it differs from clean teacher forcing of the targets
    spans = scales.begin_end(batch["layout"].lengths)
    targets = [batch["targets"][:, b:e] for b, e in spans]
    teacher = torch.cat(tokenizer.teacher_forcing(targets, lengths_B), 1)
    later = torch.arange(valid.shape[1]) >= spans[1][0]
    assert (batch["fhat"][:, later] - teacher[:, later]).abs().amax() > 1e-3


def test_temporal_refinement_inputs():
    torch.manual_seed(0)
    tokenizer = tiny_tokenizer()
    f_BNC, lengths_B, _ = latents(tokenizer, [52] * 64)
    batch = next_scale_batch(tokenizer, f_BNC, lengths_B, CODES,
                             TrainOptions(hierarchical_refinement=False, temporal_refinement=True, token_noise_max=0.0))
    selected = batch["loss_mask"]
    tokens, targets = batch["tokens"], batch["targets"]
    assert torch.equal(tokens[~selected & batch["layout"].valid_BL], targets[~selected & batch["layout"].valid_BL])
    masked = (tokens[selected] == CODES).float().mean()
    kept = (tokens[selected] == targets[selected]).float().mean()
    assert 0.75 < masked < 0.85 and 0.08 < kept < 0.2  # 10% kept + random draws that hit the target
    assert 0.2 < selected.float().sum() / batch["layout"].valid_BL.float().sum() < 0.8


def test_next_token_batch_targets():
    tokenizer = tiny_tokenizer()
    f_BNC, lengths_B, _ = latents(tokenizer, [20, 12])
    batch = next_token_batch(tokenizer, f_BNC, lengths_B, num_queries=2, end_id=CODES)
    assert batch["tokens"].shape == (2, 5) and batch["targets"].shape == (2, 7)
    assert batch["loss_mask"].sum(1).tolist() == [6, 4]  # n tokens + END
    assert batch["targets"][0, 6] == CODES and batch["targets"][1, 4] == CODES
    assert torch.equal(batch["targets"][0, 1:6], batch["tokens"][0])


@pytest.mark.parametrize("mode", ["next-scale", "next-token"])
def test_a_few_steps_fit_a_batch(mode):
    torch.manual_seed(0)
    tokenizer = tiny_tokenizer()
    f_BNC, lengths_B, _ = latents(tokenizer, [52, 40, 24, 52])
    config = TransformerConfig(n_layer=2, n_head=2, n_embd=32, num_codes=CODES, code_dim=CODE_DIM, text_dim=12,
                               max_latent=13, num_queries=3 if mode == "next-token" else 2, mode=mode)
    model = MotionTransformer(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    text = (torch.randn(4, 3, 12), torch.ones(4, 3, dtype=torch.bool))
    options = TrainOptions(temporal_refinement=False, hierarchical_refinement=False)
    losses = []
    for _ in range(30):
        if mode == "next-scale":
            batch = next_scale_batch(tokenizer, f_BNC, lengths_B, model.mask_id, options)
        else:
            batch = next_token_batch(tokenizer, f_BNC, lengths_B, config.num_queries, model.end_id)
        loss, stats = loss_and_stats(model, batch, text, torch.zeros(4, dtype=torch.bool))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(stats["loss"])
    assert losses[-1] < 0.6 * losses[0]


# ---------------------------------------------------------------------------------------------------------------------
# the command line on a tiny corpus


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    captions = ["a person walks forward", "someone jumps up", "a person waves the right hand", "a man runs"]
    write_random_corpus(root / "data", 12, (40, 80), val=2, caption=lambda i: (
        f"{captions[i % 4]}#x#0.0#0.0\nthe same, said otherwise {i % 3}#x#0.0#0.0"))
    tokenizer = tiny_tokenizer()
    tokenizer.set_normalization(np.zeros(263), np.full(263, 5.0))
    tokenizer.save_pretrained(root / "tokenizer")
    save_random_encoder(root / "text", "bert", dim=16)
    return root


def cli_args(workspace, out, *extra):
    return generator_cli(workspace, out, *extra, log_every=2, save_every=3, val_clips=4)


def test_cli_trains_resumes_and_releases(workspace, tmp_path):
    from moscale.pipeline import MoScalePipeline

    out = tmp_path / "run"
    assert train_generator.run(cli_args(workspace, out, "--iters", "3", "--snapshot-every", "2")) == 0
    for name in ("checkpoint.pt", "train_log.csv", "loss_curves.png", "text_cache.safetensors",
                 "release/config.json", "release/generator.safetensors", "release/tokenizer/tokenizer.safetensors"):
        assert (out / name).is_file(), name
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 3
    assert train_generator.run(cli_args(workspace, out, "--iters", "5", "--resume", "--snapshot-every", "2")) == 0
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 5
    import csv

    rows = list(csv.DictReader((out / "train_log.csv").open()))
    assert [int(float(r["step"])) for r in rows] == [2, 3, 4, 5] and rows[-1]["val_loss"]
    # Training time keeps counting across the resume; snapshots hold the release folder of their step.
    elapsed = [float(r["elapsed_s"]) for r in rows]
    assert all(b > a > 0 for a, b in zip(elapsed, elapsed[1:]))
    assert sorted(p.name for p in (out / "snapshots").iterdir()) == ["step-000002", "step-000004"]
    snapshot = json.loads((out / "snapshots/step-000004/config.json").read_text())["training"]
    assert snapshot["step"] == 4 and 0 < snapshot["elapsed_s"] <= elapsed[-1]
    pipe = MoScalePipeline.from_pretrained(out / "release", device="cpu")
    motion = pipe.generate("a person walks forward", frames=40, seed=0)
    assert motion.joints.shape == (40, 22, 3)


def test_init_starts_from_a_release_and_checks_its_tokenizer(workspace, tmp_path):
    from moscale.pipeline import MoScalePipeline

    first = tmp_path / "first"
    assert train_generator.run(cli_args(workspace, first, "--iters", "2", "--val-clips", "0")) == 0
    out = tmp_path / "tuned"
    # lr 0: a fine-tune that cannot move the weights gives back exactly the release it started from
    assert train_generator.run(cli_args(workspace, out, "--iters", "1", "--val-clips", "0", "--lr", "0",
                                        "--init", str(first / "release"))) == 0
    before = MoScalePipeline.from_pretrained(first / "release", device="cpu").model.state_dict()
    after = MoScalePipeline.from_pretrained(out / "release", device="cpu").model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    with pytest.raises(SystemExit, match="no generator.safetensors"):
        train_generator.run(cli_args(workspace, tmp_path / "bad", "--iters", "1", "--init", str(tmp_path)))


def test_cli_ablation_and_next_token(workspace, tmp_path):
    out = tmp_path / "nt"
    assert train_generator.run(cli_args(workspace, out, "--iters", "2", "--mode", "next-token", "--val-clips", "0")) == 0
    out2 = tmp_path / "ablation"
    assert train_generator.run(cli_args(workspace, out2, "--iters", "2", "--no-hr", "--no-tr", "--val-clips", "0")) == 0
    options = torch.load(out2 / "checkpoint.pt", weights_only=True)["options"]
    assert options["hierarchical_refinement"] is False and options["temporal_refinement"] is False
    from moscale.pipeline import MoScalePipeline

    motion = MoScalePipeline.from_pretrained(out / "release", device="cpu").generate("a man runs", frames=48, seed=1)
    assert motion.num_frames == 48 and motion.metadata["mode"] == "next-token"


def _ddp_worker(rank, world, port, workspace, out, result_dir):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    code = train_generator.run(cli_args(workspace, out, "--iters", "3", "--val-clips", "0", "--device", "cpu"))
    (result_dir / f"rank{rank}").write_text(str(code))


def test_two_process_gloo_ddp(workspace, tmp_path):
    import torch.multiprocessing as mp

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "ddp"
    mp.spawn(_ddp_worker, args=(2, port, workspace, out, tmp_path), nprocs=2, join=True)
    assert (tmp_path / "rank0").read_text() == "0" and (tmp_path / "rank1").read_text() == "0"
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 3
    assert (out / "release" / "generator.safetensors").is_file()


def test_init_takes_the_window_from_max_frames(workspace, tmp_path):
    from moscale.pipeline import MoScalePipeline

    first = tmp_path / "first"
    assert train_generator.run(cli_args(workspace, first, "--iters", "1", "--val-clips", "0")) == 0
    longer = tmp_path / "longer"  # 64 -> 72 frames: rotary positions, so the same weights serve the longer window
    assert train_generator.run(cli_args(workspace, longer, "--iters", "1", "--val-clips", "0", "--lr", "0",
                                        "--init", str(first / "release"), "--max-frames", "72")) == 0
    before = MoScalePipeline.from_pretrained(first / "release", device="cpu")
    after = MoScalePipeline.from_pretrained(longer / "release", device="cpu")
    assert (before.window_frames, after.window_frames) == (64, 72)
    assert all(torch.equal(before.model.state_dict()[k], v) for k, v in after.model.state_dict().items())
    with pytest.raises(SystemExit, match="does not fit the --init model"):
        train_generator.run(cli_args(workspace, tmp_path / "too_long", "--iters", "1", "--val-clips", "0",
                                     "--init", str(first / "release"), "--max-frames", "400"))


def test_oversample_visits_a_source_more_often_and_refuses_a_typo(workspace, tmp_path, capsys):
    assert train_generator.run(cli_args(workspace, tmp_path / "plain", "--iters", "1", "--val-clips", "0")) == 0
    plain = int(capsys.readouterr().out.split(" training items")[0].rsplit("\n", 1)[-1])
    assert train_generator.run(cli_args(workspace, tmp_path / "over", "--iters", "1", "--val-clips", "0",
                                        "--oversample", "clip00=5")) == 0
    assert f"{plain + 4} visits per epoch: --oversample clip00=5" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no clips of source"):
        train_generator.run(cli_args(workspace, tmp_path / "typo", "--iters", "1", "--oversample", "nosuch=3"))


def test_balance_visits_a_rare_action_more_often_and_needs_the_manifest(workspace, tmp_path, capsys):
    import json
    import shutil

    data = tmp_path / "data"
    shutil.copytree(workspace / "data", data)
    names = (data / "train.txt").read_text().split()  # 10 windows: one of a rare action, nine of a common one
    manifest = [dict(name=name, source="src", action="hop" if name == names[0] else "walk", windows=[name])
                for name in names]
    (data / "manifest.json").write_text(json.dumps(manifest))
    args = cli_args(workspace, tmp_path / "balanced", "--iters", "1", "--val-clips", "0", "--balance", "1")
    args.data = data
    assert train_generator.run(args) == 0
    out = capsys.readouterr().out
    assert "walk 9 -> 9, hop 1 -> 9" in out and f"{len(names) + 8} visits per epoch: --balance 1.0" in out
    with pytest.raises(SystemExit, match="manifest.json"):  # the fixture's corpus has none
        train_generator.run(cli_args(workspace, tmp_path / "none", "--iters", "1", "--balance", "0.5"))
