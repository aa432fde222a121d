"""bf16 autocast as a pipeline option: the model passes run in bfloat16, the motion comes back as fp32, fp32 stays the
default and is unchanged by the option's existence."""
import argparse

import numpy as np
import pytest
import torch

from moscale.cli import generate as pipeline_module
from moscale.pipeline import MoScalePipeline, save_random_release
from moscale.model.text import TextEncoder, save_random_encoder
from moscale.model.tokenizer import TokenizerConfig
from moscale.model.transformer import TransformerConfig

FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures" / "humanml3d"


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    encoder_dir = save_random_encoder(tmp_path_factory.mktemp("text") / "encoder", "bert", dim=16)
    folder = tmp_path_factory.mktemp("release") / "model"
    tokenizer = TokenizerConfig(width=16, depth=1, codebook_size=32, code_dim=8)
    transformer = TransformerConfig(n_layer=2, n_head=2, n_embd=32, num_codes=32, code_dim=8, text_dim=16,
                                    max_latent=13, num_queries=2)
    encoder = TextEncoder.load(str(encoder_dir), max_tokens=16)
    save_random_release(folder, transformer, tokenizer, encoder.config, seed=0,
                        mean=np.load(FIXTURES / "Mean.npy"), std=np.load(FIXTURES / "Std.npy"))
    return folder


def head_dtypes(pipe):
    seen = []
    hook = pipe.model.head.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    return seen, hook


def test_bf16_runs_the_model_in_bfloat16(release):
    pipe = MoScalePipeline.from_pretrained(release, device="cpu", precision="bf16")
    seen, hook = head_dtypes(pipe)
    motion = pipe.generate("a person walks", seconds=2, seed=1, schedule="best")
    hook.remove()
    assert seen and set(seen) == {torch.bfloat16}
    assert motion.joints.dtype == np.float32 and np.isfinite(motion.joints).all()
    assert motion.joints.shape == (40, 22, 3)


def test_fp32_is_the_default_and_unchanged(release):
    pipe = MoScalePipeline.from_pretrained(release, device="cpu")
    assert pipe.precision == "fp32"
    seen, hook = head_dtypes(pipe)
    a = pipe.generate("a person walks", seconds=2, seed=1)
    hook.remove()
    assert set(seen) == {torch.float32}
    pipe.precision = "bf16"
    pipe.precision = "fp32"
    b = pipe.generate("a person walks", seconds=2, seed=1)
    assert np.array_equal(a.joints, b.joints)


def test_precision_is_checked_and_parsed(release):
    with pytest.raises(ValueError, match="precision"):
        MoScalePipeline.from_pretrained(release, device="cpu", precision="fp8")
    parser = argparse.ArgumentParser()
    pipeline_module.configure_parser(parser)
    assert parser.parse_args(["walk"]).precision == "fp32"
    assert parser.parse_args(["walk", "--precision", "bf16"]).precision == "bf16"
    with pytest.raises(SystemExit):
        parser.parse_args(["walk", "--precision", "fp16"])


def test_bf16_decodes_in_fp32(release):
    """Only the transformer runs in bf16: the tokenizer's decoder sees fp32 inside the autocast region."""
    pipe = MoScalePipeline.from_pretrained(release, device="cpu", precision="bf16")
    seen = []
    modules = [m for m in pipe.tokenizer.modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.Linear))]
    hooks = [m.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype)) for m in modules]
    pipe.generate("a person walks", seconds=2, seed=1)
    for hook in hooks:
        hook.remove()
    assert seen and set(seen) == {torch.float32}
