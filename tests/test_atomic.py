"""Atomic saves: a save that fails half way (an exception, a full disk, a kill) keeps the file that was there.

The "full disk" is real: a child process lowers RLIMIT_FSIZE, so the kernel refuses (EFBIG) the writes of the real
writers (np.savez, the BVH writer, Pillow, matplotlib) once they pass the limit, part way through the file."""
from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from moscale.utils import atomic
from moscale.motion import Motion

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO / "tests" / "fixtures" / "humanml3d" / "new_joints" / "012314.npy"
OLD = b"the good file that was there\n" * 40


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_writer_that_fails_half_way_keeps_the_old_file(tmp_path):
    path = tmp_path / "clip.bvh"
    path.write_bytes(OLD)
    with pytest.raises(RuntimeError, match="half way"):
        with atomic.open_for_write(path, text=True) as handle:
            handle.write("HIERARCHY\n" * 1000)
            handle.flush()
            raise RuntimeError("disk gone half way")
    assert path.read_bytes() == OLD
    assert leftovers(tmp_path) == []


def test_a_writer_that_writes_nothing_keeps_the_old_file(tmp_path):
    # e.g. an exporter that returns without writing (bpy reports CANCELLED): the empty temporary file is not kept
    path = tmp_path / "take.fbx"
    path.write_bytes(OLD)
    with pytest.raises(OSError, match="produced no file"):
        with atomic.replacing(path):
            pass
    assert path.read_bytes() == OLD and leftovers(tmp_path) == []


def test_success_replaces_and_keeps_the_permissions(tmp_path):
    path = tmp_path / "walk.npy"
    path.write_bytes(OLD)
    path.chmod(0o640)
    Motion(np.load(CLIP)).save(path)
    assert np.array_equal(np.load(path), np.load(CLIP).astype(np.float32))
    assert path.stat().st_mode & 0o777 == 0o640 and leftovers(tmp_path) == []
    fresh = tmp_path / "new" / "walk.bvh"  # a missing folder is made; a new file gets the umask's mode, not 0600
    Motion(np.load(CLIP)).save(fresh)
    mask = os.umask(0)
    os.umask(mask)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory"):
        with atomic.replacing(tmp_path):
            pass
    with pytest.raises(ValueError, match="is a directory"):
        atomic.check_writable(tmp_path)


def test_a_release_folder_is_replaced_whole_or_not_at_all(tmp_path):
    release = tmp_path / "release"
    release.mkdir()
    (release / "config.json").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic.replacing_folder(release) as folder:
            (folder / "config.json").write_text("new")
            raise RuntimeError("weights failed")
    assert [p.name for p in release.iterdir()] == ["config.json"] and (release / "config.json").read_text() == "old"
    with atomic.replacing_folder(release) as folder:
        (folder / "config.json").write_text("new")
    assert (release / "config.json").read_text() == "new" and leftovers(tmp_path) == []


FULL_DISK = textwrap.dedent("""
    import resource, signal, sys
    import numpy as np
    from moscale.motion import Motion
    from moscale.motion.preview import render_preview
    from moscale.cli.export import write_scene
    path, limit = sys.argv[1], int(sys.argv[2])
    motion = Motion(np.load(sys.argv[3]))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead of killing us
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    try:
        if path.endswith((".gif", ".png")):
            render_preview(motion.joints[:20], path, size_px=120)
        elif path.endswith(".safetensors"):  # model weights (releases, the text cache)
            import torch
            from moscale.utils import atomic
            atomic.save_safetensors(path, {"weight": torch.zeros(100_000)})
        elif path.endswith((".fbx", ".blend")):
            write_scene(Motion(motion.joints[:20]), [path])
        else:
            motion.save(path)
    except (OSError, RuntimeError) as error:  # RuntimeError: a bpy operator that failed (FBX)
        print("refused:", error)
        sys.exit(0)
    sys.exit("the write was expected to fail")
""")


BPY = pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="needs Blender's Python module")


# .blend: Blender itself reports success ("Saved copy") for a save the full disk cut short, and leaves a file
# without its DNA block; export.write_scene reads it back before it may replace the old one.
@pytest.mark.parametrize("suffix", [".npz", ".npy", ".bvh", ".gif", ".png", ".safetensors",
                                    pytest.param(".fbx", marks=BPY), pytest.param(".blend", marks=BPY)])
def test_a_full_disk_half_way_keeps_the_old_file(tmp_path, suffix):
    path = tmp_path / f"walk{suffix}"
    path.write_bytes(OLD)
    limit = 4096 if suffix not in (".fbx", ".blend") else 10_000  # every file is bigger: the writer gets part way
    done = subprocess.run([sys.executable, "-c", FULL_DISK, str(path), str(limit), str(CLIP)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr + done.stdout
    assert "refused:" in done.stdout
    assert path.read_bytes() == OLD
    assert leftovers(tmp_path) == []


KILLED = textwrap.dedent("""
    import sys, time
    from moscale.utils import atomic
    with atomic.open_for_write(sys.argv[1]) as handle:
        handle.write(b"half a file")
        handle.flush()
        print("writing", flush=True)
        time.sleep(60)
""")


def test_a_kill_half_way_keeps_the_old_file(tmp_path):
    path = tmp_path / "walk.npz"
    path.write_bytes(OLD)
    child = subprocess.Popen([sys.executable, "-c", KILLED, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "writing"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert path.read_bytes() == OLD
    # a kill leaves the hidden scratch folder (nothing could remove it), never a damaged file under the real name
    assert all(name.startswith(".walk.npz.") for name in leftovers(tmp_path))


def test_a_release_save_is_all_or_nothing_and_keeps_other_files(tmp_path, monkeypatch):
    """save_release builds the release beside the folder: a failure half way leaves the old release whole, and
    files that are not part of a release (a model card) survive a successful save."""
    import numpy as np

    from moscale.utils import atomic as atomic_module
    from moscale.pipeline import MoScalePipeline, save_random_release, save_release
    from moscale.model.text import TextEncoder, save_random_encoder
    from moscale.model.tokenizer import TokenizerConfig
    from moscale.model.transformer import TransformerConfig

    encoder = TextEncoder.load(str(save_random_encoder(tmp_path / "encoder", "bert", dim=16)), max_tokens=16)
    folder = tmp_path / "model"
    transformer = TransformerConfig(n_layer=1, n_head=2, n_embd=32, num_codes=32, code_dim=8, text_dim=16,
                                    max_latent=13, num_queries=2)
    save_random_release(folder, transformer, TokenizerConfig(width=16, depth=1, codebook_size=32, code_dim=8),
                        encoder.config, seed=0)
    (folder / "MODEL_CARD.md").write_text("card")
    before = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    pipe = MoScalePipeline.from_pretrained(folder, device="cpu", load_text_encoder=False)
    real_write = atomic_module.write_text

    def failing(path, text, encoding="utf-8"):
        raise OSError("disk full")

    monkeypatch.setattr(atomic_module, "write_text", failing)
    with pytest.raises(OSError, match="disk full"):
        save_release(folder, pipe.model, pipe.tokenizer, encoder.config, training={"step": 2})
    assert {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    monkeypatch.setattr(atomic_module, "write_text", real_write)
    save_release(folder, pipe.model, pipe.tokenizer, encoder.config, training={"step": 2})
    assert (folder / "MODEL_CARD.md").read_text() == "card"
    assert '"step": 2' in (folder / "config.json").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".model")]  # no scratch left behind
    assert np.isfinite(MoScalePipeline.from_pretrained(folder, device="cpu", load_text_encoder=False)
                       .model.head.weight.detach().numpy()).all()
