"""The README's command-line examples run as written, in order, in one folder: each reads what the one before wrote
(they used to start from files nothing had made: `generate -o walk.fbx`, then `edit walk.npz`)."""
from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def readme_commands() -> list[list[str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Command line"):]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL).group(1)
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]


def test_readme_examples_name_files_the_earlier_ones_wrote():
    written: set[str] = set()
    for words in readme_commands():
        assert words[0] == ".venv/bin/moscale"
        inputs = [words[2]] if words[1] in ("edit", "export", "preview", "convert") else []
        assert all(name in written for name in inputs), f"{' '.join(words)} reads {inputs}, written: {sorted(written)}"
        written |= {words[i + 1] for i, w in enumerate(words) if w in ("-o", "--output", "--figure")}


@pytest.mark.slow  # ~30 s: six commands, each a fresh process with torch (and bpy for the .fbx)
@pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="the README's export writes .fbx through bpy")
def test_readme_examples_run_in_order(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for words in readme_commands():
        done = subprocess.run([sys.executable, "-m", "moscale.cli", *words[1:]], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{' '.join(words)}\n{done.stdout}\n{done.stderr}"
        for i, word in enumerate(words):
            if word in ("-o", "--figure"):
                assert (tmp_path / words[i + 1]).stat().st_size > 0, words[i + 1]
