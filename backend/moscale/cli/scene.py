"""The command line's bridge to Blender: .fbx and .blend are written, and animations in Blender files read
(``animation_reader``, for `moscale data extract`), by the add-on's own code, headless.

    from moscale.cli.scene import write_scene
    write_scene(motion, "walk.fbx", preset="unity")          # or "unreal"; ".blend" too; needs `pip install bpy`

The backend's library layers never import Blender code; the command line, above both, is where they meet: this
module imports bpy lazily (Python 3.11, the `bpy` wheel), starts a factory-settings session with the add-on
(`moscale_blender`) enabled, and hands the motion to its headless writer (`moscale_blender.headless`), so a file
written here is the file the panel's Export button writes.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from moscale.utils.paths import REPO_ROOT

SCENE_SUFFIXES = (".fbx", ".blend")  # written through bpy
PRESETS = ("unity", "unreal")
ADDON = "moscale_blender"


@dataclass(frozen=True)
class SmplBody:
    """The real SMPL body for the character (the user's model files; see ``moscale.motion.body_model``)."""

    folder: Path
    gender: str = "neutral"           # neutral | female | male
    model_type: str = "auto"          # auto | smpl | smplh | smplx
    betas: tuple[float, ...] = ()     # up to 10 shape coefficients


class BlenderUnavailable(RuntimeError):
    """bpy or the add-on code cannot be imported; the message says what to install."""


def require_bpy():
    try:
        import bpy
    except ImportError as error:
        raise BlenderUnavailable(
            f"writing .fbx or .blend, or reading animations from Blender files, needs Blender's Python module "
            f"({error}): `pip install bpy==5.0.1` on Python 3.11 (`python build.py setup` installs it), or export "
            "from Blender with the MoScale extension") from error
    return bpy


def _find_addon() -> None:
    """Make the add-on package importable: installed, or the source checkout's `moscale_blender/` next to `backend/`.
    (Not imported here: addon_utils.enable imports it, and would reload a package imported before.)"""
    if importlib.util.find_spec(ADDON) is not None:
        return
    if not (REPO_ROOT / ADDON / "__init__.py").is_file():
        raise BlenderUnavailable(
            f"writing .fbx or .blend, or reading animations from Blender files, needs the MoScale add-on code "
            f"({ADDON}), which is not installed: run from a source checkout, or export from Blender with the MoScale "
            "extension")
    sys.path.insert(0, str(REPO_ROOT))


def new_session():
    """Reset bpy to an empty factory scene and enable the add-on; returns its headless writer module.

    Factory settings: the user's startup file and installed extensions cannot leak into the output."""
    bpy = require_bpy()
    import addon_utils

    bpy.ops.wm.read_factory_settings(use_empty=True)
    _find_addon()
    if not addon_utils.check(ADDON)[1]:
        addon_utils.enable(ADDON, default_set=False, handle_error=_raise)
    return headless()


def _raise(error: BaseException) -> None:
    raise error


def headless():
    """The add-on's headless writer of the session new_session() started (its scene as the last call left it)."""
    return importlib.import_module(f"{ADDON}.headless")


def animation_reader():
    """The add-on's reader of animations in .blend / .glb / .gltf files (``animation_files.read_animations``), in a
    fresh factory-settings session (new_session())."""
    new_session()
    return importlib.import_module(f"{ADDON}.animation_files")


def write_scene(motion, paths: str | Path | Sequence[str | Path], preset: str = "unity",
                fps: float | None = None, name: str = "", body: SmplBody | None = None) -> list[Path]:
    """Write ``motion`` on the SMPL character to each .fbx / .blend path (one scene built for all of them)."""
    paths = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    bad = [str(p) for p in paths if p.suffix.lower() not in SCENE_SUFFIXES]
    if bad:
        raise ValueError(f"{', '.join(bad)}: write_scene writes {' or '.join(SCENE_SUFFIXES)}")
    if preset.lower() not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; use {' or '.join(PRESETS)}")
    writer = new_session()
    return writer.write_files(writer.build_scene(motion, fps, name, body), paths, preset)
