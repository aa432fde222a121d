"""Add-on tests against the real `bpy` package, headless.

Blender reads its user resources (preferences, extensions) from BLENDER_USER_RESOURCES, which must point at a
temporary folder before bpy is imported. The add-on is enabled once per session from the source tree (the repo
root on sys.path, `addon_utils.enable("moscale_blender")`); each test starts from an empty home file, which keeps
the add-on registered. test_register.py also builds the extension zip and installs it the way users do.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="moscale-blender-user-")
sys.path.insert(0, str(REPO))
sys.path[:0] = [str(REPO / "tests"), str(Path(__file__).resolve().parent)]

bpy = pytest.importorskip("bpy")
import addon_utils  # noqa: E402  (bpy must come first)

from blender_helpers import ADDON, raise_error  # noqa: E402


# Enabled at import, before test modules import moscale_blender (else addon_utils reloads the package).
_MODULE = addon_utils.enable(ADDON, default_set=True, handle_error=raise_error)


@pytest.fixture(scope="session")
def addon():
    yield _MODULE
    if addon_utils.check(ADDON)[1]:
        addon_utils.disable(ADDON, default_set=True, handle_error=raise_error)


@pytest.fixture
def scene(addon):
    """An empty scene at 20 fps (the motion's rate unless a test changes it)."""
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 20, 1.0
    scene.frame_start = 1
    prefs = bpy.context.preferences.addons[ADDON].preferences
    prefs.model_folder, prefs.device, prefs.quality = "", "AUTO", "FAST"
    return scene


@pytest.fixture(scope="session")
def clip_joints() -> np.ndarray:
    """HumanML3D clip 012314, (170, 22, 3), metres, Y up, 20 fps."""
    return np.load(REPO / "tests" / "fixtures" / "humanml3d" / "new_joints" / "012314.npy")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A random-weight release folder with the real layout (as moscale.pipeline.save_random_release writes it)."""
    pipeline = pytest.importorskip("moscale.pipeline")
    from moscale.model.text import TextEncoderConfig
    from moscale.model.tokenizer import TokenizerConfig
    from moscale.model.transformer import TransformerConfig

    fixtures = REPO / "tests" / "fixtures" / "humanml3d"
    folder = tmp_path_factory.mktemp("tiny_release")
    pipeline.save_random_release(
        folder, TransformerConfig(n_layer=1, n_head=2, n_embd=32, num_codes=32, code_dim=16),
        TokenizerConfig(width=16, depth=1, codebook_size=32, code_dim=16), TextEncoderConfig(),
        mean=np.load(fixtures / "Mean.npy"), std=np.load(fixtures / "Std.npy"))
    return folder


@pytest.fixture
def use_model(scene, tiny_model):
    bpy.context.preferences.addons[ADDON].preferences.model_folder = str(tiny_model)
    bpy.context.preferences.addons[ADDON].preferences.device = "CPU"
    return tiny_model


@pytest.fixture(scope="session")
def rigify_file(tmp_path_factory, addon) -> Path:
    """A Rigify Human rig made by Rigify's Generate (as an animator makes one), saved once for the session."""
    bpy.ops.wm.read_homefile(use_empty=True)
    addon_utils.enable("rigify", default_set=True)
    bpy.ops.object.armature_human_metarig_add()
    bpy.ops.pose.rigify_generate()
    path = tmp_path_factory.mktemp("rigify") / "rigify_human.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return path


@pytest.fixture
def rigify_rig(rigify_file, scene):
    """The Rigify rig ("rig"), opened from its file at 20 fps, active and the only object selected."""
    bpy.ops.wm.open_mainfile(filepath=str(rigify_file))
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base, scene.frame_start = 20, 1.0, 1
    rig = bpy.data.objects["rig"]
    for obj in bpy.context.view_layer.objects:
        obj.select_set(False)
    bpy.context.view_layer.objects.active = rig
    rig.select_set(True)
    return rig


@pytest.fixture
def no_job(monkeypatch):
    """Fails the test when any Generate or Edit job is made: refused means nothing is computed."""
    from moscale_blender import jobs  # not at import: the add-on is enabled by this conftest first

    def started(request):
        raise AssertionError(f"a job was made for {request}")

    monkeypatch.setattr(jobs, "generate_work", started)
    monkeypatch.setattr(jobs, "edit_work", started)
