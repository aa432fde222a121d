"""The text-motion evaluator (ours and Guo et al.'s checkpoint format), its training script and `moscale eval`."""
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from moscale.evaluation import generation
from moscale.evaluation.evaluator import EvaluatorConfig, TextMotionEvaluator
from moscale.evaluation.load import load_evaluator
from moscale.evaluation.guo import (POS_CATEGORIES, GloveVectors, GuoConfig, GuoEvaluator, GuoMotionEncoder,
                                    GuoMovementEncoder, GuoTextEncoder, load_guo_checkpoint)
from moscale.model.text import TextEncoder, save_random_encoder

FIXTURES = Path(__file__).parent / "fixtures" / "humanml3d"
ACTIONS = ["walks forward", "jumps up and down", "waves the right hand", "turns around", "kicks with the left leg",
           "sits down"]


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    return save_random_encoder(tmp_path_factory.mktemp("text") / "encoder", "bert", dim=16)


def tiny_config(encoder_dir, **overrides):
    values = dict(text_dim=16, embed_dim=8, motion_width=16, motion_layers=1, text_width=16, text_layers=1, heads=2,
                  text_encoder=str(encoder_dir), max_text_tokens=16)
    return EvaluatorConfig(**{**values, **overrides})


def random_motions(count, seed=0, low=8, high=40):
    generator = np.random.default_rng(seed)
    mean, std = np.load(FIXTURES / "Mean.npy"), np.load(FIXTURES / "Std.npy")
    return [(mean + std * generator.normal(size=(int(n), 263))).astype(np.float32)
            for n in generator.integers(low, high, size=count)]


@pytest.fixture(scope="module")
def evaluator(encoder_dir):
    torch.manual_seed(0)
    model = TextMotionEvaluator(tiny_config(encoder_dir)).eval()
    model.set_normalization(np.load(FIXTURES / "Mean.npy"), np.load(FIXTURES / "Std.npy"))
    return model


# --- our evaluator


def test_save_load_gives_identical_embeddings(evaluator, tmp_path):
    motions = random_motions(5)
    captions = ["a person walks forward", "someone jumps", "a man waves"]
    before_m, before_t = evaluator.embed_motions(motions), evaluator.embed_texts(captions)
    assert before_m.shape == (5, 8) and before_t.shape == (3, 8)
    torch.testing.assert_close(before_m.norm(dim=-1), torch.ones(5))
    evaluator.save_pretrained(tmp_path / "ev", training={"step": 1})
    assert sorted(p.name for p in (tmp_path / "ev").iterdir()) == ["config.json", "evaluator.safetensors",
                                                                  "normalization.json"]
    loaded = load_evaluator(tmp_path / "ev")
    assert isinstance(loaded, TextMotionEvaluator) and loaded.config == evaluator.config
    assert torch.equal(loaded.embed_motions(motions), before_m)
    assert torch.equal(loaded.embed_texts(captions), before_t)


def test_motion_embedding_ignores_padding_and_batching(evaluator):
    motions = random_motions(6, seed=1)
    together = evaluator.embed_motions(motions, batch_size=4)
    alone = torch.cat([evaluator.embed_motions([m]) for m in motions])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)
    # The same as a padded array with lengths.
    lengths = [len(m) for m in motions]
    padded = np.zeros((6, max(lengths), 263), dtype=np.float32)
    for i, m in enumerate(motions):
        padded[i, :len(m)] = m
    torch.testing.assert_close(evaluator.embed_motions(padded, lengths), together, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="at least 4 frames"):
        evaluator.embed_motions([motions[0][:3]])


def test_identical_captions_are_not_negatives(evaluator):
    from moscale.train.evaluator import same_text_mask

    motion, text = F.normalize(torch.randn(4, 8), dim=-1), F.normalize(torch.randn(4, 8), dim=-1)
    pooled = torch.randn(4, 5)
    same = same_text_mask(["a walk", "a  walk", "a jump", "a run"], pooled, threshold=0.999)
    assert same[0, 1] and same[1, 0] and not same[0, 2]
    loss, stats = evaluator.contrastive_loss(motion, text, same)
    logits = motion @ text.T / evaluator.config.temperature
    masked = logits.clone()
    masked[0, 1] = masked[1, 0] = float("-inf")
    target = torch.arange(4)
    expected = (F.cross_entropy(masked, target) + F.cross_entropy(masked.T, target)) / 2
    torch.testing.assert_close(loss, expected)
    assert 0 <= stats["accuracy"] <= 1


def test_config_checks(encoder_dir):
    with pytest.raises(ValueError, match="downsample"):
        tiny_config(encoder_dir, downsample=3)
    with pytest.raises(ValueError, match="unknown"):
        EvaluatorConfig.from_dict({"width": 3})
    for factor in (1, 2):
        model = TextMotionEvaluator(tiny_config(encoder_dir, downsample=factor))
        assert model.embed_motions(random_motions(2, low=5, high=9)).shape == (2, 8)


# --- Guo et al.'s checkpoint format


def guo_shapes(c: GuoConfig) -> dict:
    """Parameter names and shapes of Guo et al.'s text_mot_match checkpoint, per part."""
    def gru(hidden, inputs):
        shapes = {}
        for suffix in ("", "_reverse"):
            shapes.update({f"gru.weight_ih_l0{suffix}": (3 * hidden, inputs),
                           f"gru.weight_hh_l0{suffix}": (3 * hidden, hidden),
                           f"gru.bias_ih_l0{suffix}": (3 * hidden,), f"gru.bias_hh_l0{suffix}": (3 * hidden,)})
        return shapes

    def head(hidden, out):
        return {"output_net.0.weight": (hidden, 2 * hidden), "output_net.0.bias": (hidden,),
                "output_net.1.weight": (hidden,), "output_net.1.bias": (hidden,),
                "output_net.3.weight": (out, hidden), "output_net.3.bias": (out,)}

    movement = {"main.0.weight": (c.movement_hidden, c.feature_dim - 4, 4), "main.0.bias": (c.movement_hidden,),
                "main.3.weight": (c.movement_latent, c.movement_hidden, 4), "main.3.bias": (c.movement_latent,),
                "out_net.weight": (c.movement_latent, c.movement_latent), "out_net.bias": (c.movement_latent,)}
    motion = {"input_emb.weight": (c.motion_hidden, c.movement_latent), "input_emb.bias": (c.motion_hidden,),
              "hidden": (2, 1, c.motion_hidden), **gru(c.motion_hidden, c.motion_hidden),
              **head(c.motion_hidden, c.embed_dim)}
    text = {"pos_emb.weight": (c.word_dim, c.pos_dim), "pos_emb.bias": (c.word_dim,),
            "input_emb.weight": (c.text_hidden, c.word_dim), "input_emb.bias": (c.text_hidden,),
            "hidden": (2, 1, c.text_hidden), **gru(c.text_hidden, c.text_hidden), **head(c.text_hidden, c.embed_dim)}
    return {"movement_encoder": movement, "motion_encoder": motion, "text_encoder": text}


def test_guo_modules_have_the_published_names_and_shapes():
    config = GuoConfig()
    expected = guo_shapes(config)
    assert expected["movement_encoder"]["main.0.weight"] == (512, 259, 4)
    assert expected["motion_encoder"]["gru.weight_ih_l0"] == (3072, 1024)
    assert expected["text_encoder"]["pos_emb.weight"] == (300, 15)
    for part, module in (("movement_encoder", GuoMovementEncoder(config)), ("motion_encoder", GuoMotionEncoder(config)),
                         ("text_encoder", GuoTextEncoder(config))):
        actual = {k: tuple(v.shape) for k, v in module.state_dict().items()}
        assert actual == expected[part], part


TINY_GUO = GuoConfig(movement_hidden=16, movement_latent=12, motion_hidden=10, word_dim=6, text_hidden=8, embed_dim=5)
VOCABULARY = ["unk", "sos", "eos", "a", "person", "walk", "left", "hand", "slowly", "wave", "the"]


@pytest.fixture(scope="module")
def guo_files(tmp_path_factory):
    """Random weights saved like Guo et al.'s finest.tar, and a small GloVe folder in their file layout."""
    folder = tmp_path_factory.mktemp("guo")
    generator = torch.Generator().manual_seed(0)
    state = {part: {name: torch.randn(shape, generator=generator) * 0.3 for name, shape in shapes.items()}
             for part, shapes in guo_shapes(TINY_GUO).items()}
    state.update(epoch=7, iter=1234)
    checkpoint = folder / "t2m" / "text_mot_match" / "model" / "finest.tar"
    checkpoint.parent.mkdir(parents=True)
    torch.save(state, checkpoint)
    glove = folder / "glove"
    glove.mkdir()
    np.save(glove / "our_vab_data.npy", np.random.default_rng(0).normal(size=(len(VOCABULARY), 6)).astype(np.float32))
    (glove / "our_vab_words.pkl").write_bytes(pickle.dumps(VOCABULARY))
    (glove / "our_vab_idx.pkl").write_bytes(pickle.dumps({w: i for i, w in enumerate(VOCABULARY)}))
    return folder, checkpoint, glove, state


def reference_gru(x_TC, state, prefix_hidden, hidden):
    """Bidirectional GRU final states by the textbook equations (PyTorch gate order r, z, n)."""
    def run(sequence, suffix, h):
        w_ih, w_hh = state[f"gru.weight_ih_l0{suffix}"], state[f"gru.weight_hh_l0{suffix}"]
        b_ih, b_hh = state[f"gru.bias_ih_l0{suffix}"], state[f"gru.bias_hh_l0{suffix}"]
        for x in sequence:
            gi, gh = w_ih @ x + b_ih, w_hh @ h + b_hh
            r = torch.sigmoid(gi[:hidden] + gh[:hidden])
            z = torch.sigmoid(gi[hidden:2 * hidden] + gh[hidden:2 * hidden])
            n = torch.tanh(gi[2 * hidden:] + r * gh[2 * hidden:])
            h = (1 - z) * n + z * h
        return h

    forward = run(x_TC, "", prefix_hidden[0, 0])
    backward = run(x_TC.flip(0), "_reverse", prefix_hidden[1, 0])
    return torch.cat([forward, backward])


def reference_head(x, state):
    x = F.linear(x, state["output_net.0.weight"], state["output_net.0.bias"])
    x = F.layer_norm(x, x.shape[-1:], state["output_net.1.weight"], state["output_net.1.bias"])
    return F.linear(F.leaky_relu(x, 0.2), state["output_net.3.weight"], state["output_net.3.bias"])


def reference_motion_embedding(raw_TD, state, mean, std):
    c = TINY_GUO
    padded = torch.zeros(c.max_motion_frames, 263)
    padded[:len(raw_TD)] = (torch.as_tensor(raw_TD) - torch.as_tensor(mean)) / torch.as_tensor(std)
    m = state["movement_encoder"]
    x = padded[:, :-4].T[None]
    x = F.leaky_relu(F.conv1d(x, m["main.0.weight"], m["main.0.bias"], stride=2, padding=1), 0.2)
    x = F.leaky_relu(F.conv1d(x, m["main.3.weight"], m["main.3.bias"], stride=2, padding=1), 0.2)
    movements = F.linear(x[0].T, m["out_net.weight"], m["out_net.bias"])
    e = state["motion_encoder"]
    steps = F.linear(movements[: len(raw_TD) // 4], e["input_emb.weight"], e["input_emb.bias"])
    return reference_head(reference_gru(steps, e, e["hidden"], c.motion_hidden), e)


def reference_text_embedding(tokens, state, glove_folder):
    vectors = np.load(glove_folder / "our_vab_data.npy")
    row = {w: i for i, w in enumerate(VOCABULARY)}
    key_words = {"left": "Loc_VIP", "hand": "Body_VIP", "walk": "Act_VIP", "slowly": "Desc_VIP"}
    inputs = []
    for token in ["sos/OTHER", *tokens[:20], "eos/OTHER"]:
        word, pos = token.split("/")
        one_hot = torch.zeros(15)
        if word in row:
            category = key_words.get(word, pos)
            one_hot[POS_CATEGORIES.index(category if category in POS_CATEGORIES else "OTHER")] = 1
            vector = vectors[row[word]]
        else:
            one_hot[POS_CATEGORIES.index("OTHER")] = 1
            vector = vectors[row["unk"]]
        inputs.append(torch.as_tensor(vector) + F.linear(one_hot, state["pos_emb.weight"], state["pos_emb.bias"]))
    steps = F.linear(torch.stack(inputs), state["input_emb.weight"], state["input_emb.bias"])
    return reference_head(reference_gru(steps, state, state["hidden"], TINY_GUO.text_hidden), state)


def test_guo_checkpoint_loads_and_matches_the_reference_computation(guo_files):
    folder, checkpoint, glove, state = guo_files
    mean, std = np.load(FIXTURES / "Mean.npy"), np.load(FIXTURES / "Std.npy")
    assert load_guo_checkpoint(checkpoint)["epoch"] == 7
    evaluator = GuoEvaluator.from_files(checkpoint, glove, mean, std, config=TINY_GUO)
    motions = random_motions(4, seed=2, low=40, high=196)
    embedded = evaluator.embed_motions(motions)
    assert embedded.shape == (4, 5)
    for i, motion in enumerate(motions):
        torch.testing.assert_close(embedded[i], reference_motion_embedding(motion, state, mean, std),
                                   atol=1e-4, rtol=1e-4)
    tokens = [["a/DET", "person/NOUN", "walk/VERB", "left/ADV"], ["the/DET", "person/NOUN", "wave/VERB", "hand/NOUN",
              "slowly/ADV", "zebra/NOUN"] * 4]
    texts = evaluator.embed_texts(["a person walks left", "long"], tokens=tokens)
    for i, sentence in enumerate(tokens):
        torch.testing.assert_close(texts[i], reference_text_embedding(sentence, state["text_encoder"], glove),
                                   atol=1e-4, rtol=1e-4)
    # Registered tokens are used for captions; the dispatcher finds the checkpoint inside the folder.
    evaluator.set_caption_tokens({"a person walks left": " ".join(tokens[0])})
    torch.testing.assert_close(evaluator.embed_texts(["a person walks left"])[0], texts[0])
    with pytest.raises(ValueError, match="GloVe"):
        load_evaluator(folder)


def test_guo_loader_rejects_wrong_files(guo_files, tmp_path):
    _, _, glove, state = guo_files
    vectors = GloveVectors.load(glove)
    with pytest.raises(ValueError, match="movement_encoder"):
        GuoEvaluator.from_state({"text_encoder": {}}, vectors, np.zeros(263), np.ones(263), TINY_GUO)
    with pytest.raises(ValueError, match="does not match"):
        GuoEvaluator.from_state(state, vectors, np.zeros(263), np.ones(263), GuoConfig())
    # Vocabulary pickles may not load classes.
    bad = tmp_path / "glove"
    shutil.copytree(glove, bad)
    (bad / "our_vab_words.pkl").write_bytes(pickle.dumps(Path("x")))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        GloveVectors.load(bad)


# --- training and `moscale eval` on a synthetic corpus


def make_corpus(root: Path, clips: int = 36, seed: int = 0) -> Path:
    """A HumanML3D-layout folder whose motions depend on their action (so an evaluator can learn something)."""
    generator = np.random.default_rng(seed)
    mean, std = np.load(FIXTURES / "Mean.npy"), np.load(FIXTURES / "Std.npy")
    (root / "new_joint_vecs").mkdir(parents=True)
    (root / "texts").mkdir()
    patterns = generator.normal(size=(len(ACTIONS), 263))
    names = []
    for i in range(clips):
        action = i % len(ACTIONS)
        frames = int(generator.integers(44, 90))
        t = np.arange(frames)[:, None]
        normalised = patterns[action] * np.sin(0.2 * t + action) + 0.3 * generator.normal(size=(frames, 263))
        name = f"clip{i:03d}"
        np.save(root / "new_joint_vecs" / f"{name}.npy", (mean + std * normalised).astype(np.float32))
        words = ACTIONS[action].split()
        tokens = " ".join(["a/DET", "person/NOUN"] + [f"{w}/OTHER" for w in words] + [f"{i}/NUM"])
        lines = [f"a person {ACTIONS[action]}, take {i}#{tokens}#0.0#0.0",
                 f"someone {ACTIONS[action]} (clip {i})#{tokens}#0.0#0.0"]
        (root / "texts" / f"{name}.txt").write_text("\n".join(lines) + "\n")
        names.append(name)
    (root / "train.txt").write_text("\n".join(names[:24]) + "\n")
    (root / "val.txt").write_text("\n".join(names[24:28]) + "\n")
    (root / "test.txt").write_text("\n".join(names[28:]) + "\n")
    shutil.copy(FIXTURES / "Mean.npy", root / "Mean.npy")
    shutil.copy(FIXTURES / "Std.npy", root / "Std.npy")
    return root


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus") / "data")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, corpus, encoder_dir):
    from moscale.train import evaluator as train_evaluator

    out = tmp_path_factory.mktemp("evaluator_run")
    code = train_evaluator.main(["--data", str(corpus), "--out", str(out), "--iters", "6", "--batch-size", "8",
                                 "--width", "16", "--embed-dim", "8", "--heads", "2", "--motion-layers", "1",
                                 "--text-encoder", str(encoder_dir), "--max-text-tokens", "16", "--repeats", "3",
                                 "--log-every", "2", "--save-every", "3", "--device", "cpu", "--threads", "1",
                                 "--no-progress"])
    assert code == 0
    return out


def test_training_writes_a_release_folder_and_scores(trained, corpus):
    assert (trained / "evaluator" / "config.json").is_file() and (trained / "checkpoint.pt").is_file()
    assert (trained / "train_log.csv").is_file() and (trained / "text_cache.safetensors").is_file()
    scores = json.loads((trained / "metrics.json").read_text())
    assert scores["split"] == "test" and scores["items"] == 8 and scores["repeats"] == 3
    assert set(scores["ground_truth"]) == {"top1", "top2", "top3", "fid", "mm_dist", "diversity"}
    assert 0 <= scores["ground_truth"]["top1"]["mean"] <= 1 and scores["fid_test_vs_train"] >= 0
    model = TextMotionEvaluator.from_pretrained(trained / "evaluator")
    np.testing.assert_allclose(model.feature_mean.numpy(), np.load(corpus / "Mean.npy"), rtol=1e-6)
    header = (trained / "train_log.csv").read_text().splitlines()[0]
    assert "val_top1" in header and "elapsed_s" in header


def test_eval_set_groups_captions_per_sample(corpus):
    items = generation.load_eval_set(corpus, "test")
    assert len(items) == 8 and all(len(c) == 2 for c in items.captions)
    assert (items.lengths % 4 == 0).all()
    assert items.tokens["a person walks forward, take 30"].startswith("a/DET person/NOUN")
    assert len(items.subset(3)) == 3 and items.subset(3).names == items.subset(3).names


def test_ground_truth_as_generator_scores_like_ground_truth(trained, corpus):
    model = TextMotionEvaluator.from_pretrained(trained / "evaluator")
    items = generation.load_eval_set(corpus, "test")
    context = generation.EvalContext(model, items)
    by_caption = {c: f for caps, f in zip(items.captions, items.features) for c in caps}

    def copy_ground_truth(caption, frames, seed, num_samples):
        return np.stack([by_caption[caption]] * num_samples)

    gt = generation.evaluate_ground_truth(context, repeats=3)
    copied = generation.evaluate_generator(copy_ground_truth, context, repeats=3, mm_texts=4, mm_samples=3)
    for key in ("top1", "top2", "top3", "mm_dist", "diversity"):
        np.testing.assert_allclose(copied["metrics"][key]["values"], gt["metrics"][key]["values"], atol=1e-6)
    assert copied["metrics"]["fid"]["mean"] == pytest.approx(0.0, abs=1e-6)
    assert copied["metrics"]["multimodality"]["mean"] == pytest.approx(0.0, abs=1e-6)
    assert copied["clips"] == 3 * 8 and copied["seconds_per_clip"] >= 0
    table = generation.results_table([gt, copied])
    assert table.count("\n") == 3 and "| ground truth |" in table


def make_release(folder, encoder_dir, mode="next-scale", seed=0):
    from moscale.pipeline import save_random_release
    from moscale.model.tokenizer import TokenizerConfig
    from moscale.model.transformer import TransformerConfig

    tokenizer = TokenizerConfig(width=16, depth=1, codebook_size=32, code_dim=8)
    transformer = TransformerConfig(n_layer=1, n_head=2, n_embd=32, num_codes=32, code_dim=8, text_dim=16,
                                    max_latent=25, num_queries=4, mode=mode)
    return save_random_release(folder, transformer, tokenizer, TextEncoder.load(str(encoder_dir), 16).config,
                               seed=seed, mean=np.load(FIXTURES / "Mean.npy"), std=np.load(FIXTURES / "Std.npy"))


def test_eval_generator_command_on_a_random_release(trained, corpus, encoder_dir, tmp_path):
    release = make_release(tmp_path / "release", encoder_dir)
    out = tmp_path / "eval"
    code = generation.main(["--model", str(release), "--evaluator", str(trained / "evaluator"), "--data", str(corpus),
                            "--repeats", "2", "--mm-texts", "3", "--mm-samples", "2", "--max-items", "6",
                            "--out", str(out), "--no-progress", "--name", "random"])
    assert code == 0
    result = json.loads((out / "metrics.json").read_text())
    assert [row["name"] for row in result["rows"]] == ["ground truth", "random"]
    row = result["rows"][1]
    assert all(np.isfinite(row["metrics"][k]["mean"]) for k in ("top1", "fid", "mm_dist", "diversity",
                                                               "multimodality"))
    assert row["seconds_per_clip"] > 0 and result["items"] == 6
    assert "| random |" in (out / "results.md").read_text()
    # feet: the first repeat's clips against the real ones; ground truth sits at its own percentiles
    truth = result["rows"][0]["contact"]["skating_cm_s"]
    assert truth["median"] == truth["real_median"] and truth["above_real_p95"] <= 0.2
    assert set(row["contact"]) == {"skating_cm_s", "penetration_cm", "floating_cm", "jerk", "claimed_skating_cm_s"}
    assert "Foot skating (cm/s)" in (out / "results.md").read_text()


def test_training_time_from_logs(tmp_path):
    from moscale.evaluation.comparison import minutes_at, training_seconds

    log = tmp_path / "train_log.csv"
    log.write_text("step,loss,samples_per_s,val_loss\n10,1,64,\n20,1,32,\n20,,,0.5\n")
    points = training_seconds(log, batch_size=64)
    assert points == [(10, 10.0), (20, 30.0)]
    assert minutes_at(points, 15) == pytest.approx(20 / 60) and minutes_at(points, 30) == pytest.approx(50 / 60)
    log.write_text("step,loss,elapsed_s\n5,1,7.5\n")
    assert training_seconds(log) == [(5, 7.5)]


def test_compare_command_writes_tables_and_figures(trained, corpus, encoder_dir, tmp_path, monkeypatch):
    from moscale.evaluation import comparison

    run = tmp_path / "runs" / "scale"
    make_release(run / "release", encoder_dir)
    make_release(tmp_path / "runs" / "token" / "release", encoder_dir, mode="next-token", seed=1)
    snapshot = run / "snapshots" / "step_10"
    shutil.copytree(run / "release", snapshot)
    for folder, step in ((snapshot, 10), (run / "release", 20)):
        config = json.loads((folder / "config.json").read_text())
        config["training"] = {"step": step}
        (folder / "config.json").write_text(json.dumps(config))
    (run / "train_log.csv").write_text("step,loss,samples_per_s\n10,2.0,8\n20,1.5,8\n")
    config = {"data": str(corpus), "evaluator": str(trained / "evaluator"), "out": "docs", "repeats": 2,
              "mm_repeats": 1, "mm_texts": 2, "mm_samples": 2, "max_items": 5,
              "models": [{"name": "MoScale", "folder": "runs/scale/release", "run": "runs/scale",
                          "snapshots": "runs/scale/snapshots/*", "batch_size": 4},
                         {"name": "next-token", "folder": "runs/token/release"}],
              "guidance_sweep": {"models": ["MoScale", "next-token"], "values": [1, 3], "repeats": 1},
              "schedule_sweep": {"models": ["MoScale", "next-token"], "values": ["1,1,1,1", "1,2,2,3"], "repeats": 1},
              "training_curve": {"repeats": 1}, "timing": {"frames": 40, "runs": 2}, "notes": "notes.md"}
    (tmp_path / "compare.json").write_text(json.dumps(config))
    (tmp_path / "notes.md").write_text("Reading: next-scale wins.\n")
    assert comparison.main(["--config", str(tmp_path / "compare.json")]) == 0
    docs = tmp_path / "docs"
    text = (docs / "results.md").read_text()
    for expected in ("| ground truth |", "| MoScale |", "| next-token |", "Reading: next-scale wins.",
                     "## Quality against training time",
                     "## Guidance scale", "## Refinement schedules", "## Generation time"):
        assert expected in text
    assert sorted(p.name for p in docs.glob("*.png")) == ["results_guidance.png", "results_schedules.png",
                                                          "results_training.png"]
    result = json.loads((docs / "results.json").read_text())
    curve = result["training_curve"][0]["points"]
    assert [p["step"] for p in curve] == [10, 20] and curve[1]["minutes"] == pytest.approx(20 * 4 / 8 / 60)
    assert {e["name"] for e in result["schedule_sweep"]} == {"MoScale"}  # next-token has no schedules
    assert [e["passes"] for e in result["schedule_sweep"]] == [4, 8]
    facts = {m["name"]: m for m in result["models"]}
    assert facts["MoScale"]["mode"] == "next-scale" and facts["next-token"]["mode"] == "next-token"
    assert facts["MoScale"]["step"] == 20 and facts["MoScale"]["minutes"] == pytest.approx(20 * 4 / 8 / 60)
    from moscale.model.transformer import MotionTransformer, TransformerConfig

    config = json.loads((run / "release" / "config.json").read_text())["transformer"]
    assert facts["MoScale"]["parameters"] == MotionTransformer(TransformerConfig.from_dict(config)).num_parameters()
    # A second run reuses every cached evaluation.
    monkeypatch.setattr(comparison, "evaluate_generator", lambda *a, **k: pytest.fail("not cached"))
    assert comparison.main(["--config", str(tmp_path / "compare.json")]) == 0
