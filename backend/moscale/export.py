"""Headless scene export through the `bpy` module: the SMPL character carrying a motion, as FBX or .blend.

    from moscale.export import write_scene
    write_scene(motion, "walk.fbx", preset="unity")          # or "unreal"; ".blend" too; needs `pip install bpy`

    moscale export walk.npz -o walk.fbx -o walk.blend -o walk.bvh -o walk.gif [--preset unreal] [--fps 30]
    moscale export walk.npz -o walk.fbx --smpl-model ~/smpl --gender female --betas 0.5,-1   # the real SMPL body
    python -m moscale.export walk.npz -o walk.fbx            # the same without the `moscale` script

The one backend module that touches Blender, and only when called: bpy is imported lazily (Python 3.11, the
`bpy` wheel), and the scene is built by the add-on's own code (`moscale_blender`: the SMPL character and its
mannequin, retargeting onto it, keyframes, a take, the FBX presets), so a file written here is the file the
panel's Export button writes. A .blend holds the take with its stored motion: open it in Blender with the
extension enabled and Edit works on it. `render_filmstrip` renders frames of the take with Cycles on the CPU.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

SCENE_SUFFIXES = (".fbx", ".blend")  # written through bpy
MOTION_SUFFIXES = (".bvh", ".npy", ".npz")  # written by Motion.save (no Blender needed)
PREVIEW_SUFFIXES = (".gif", ".png")  # stick-figure preview (matplotlib)
PRESETS = ("unity", "unreal")
ADDON = "moscale_blender"


@dataclass(frozen=True)
class SmplBody:
    """The real SMPL body for the character (the user's model files; see ``moscale.body_model``)."""

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
            f"writing .fbx or .blend needs Blender's Python module ({error}): `pip install bpy==5.0.1` on Python "
            "3.11 (`python build.py setup` installs it), or export from Blender with the MoScale extension") from error
    return bpy


def _find_addon() -> None:
    """Make the add-on package importable: installed, or the source checkout's `moscale_blender/` next to `backend/`.
    (Not imported here: addon_utils.enable imports it, and would reload a package imported before.)"""
    if importlib.util.find_spec(ADDON) is not None:
        return
    root = Path(__file__).resolve().parents[2]
    if not (root / ADDON / "__init__.py").is_file():
        raise BlenderUnavailable(
            f"writing .fbx or .blend needs the MoScale add-on code ({ADDON}), which is not installed: run from a "
            "source checkout, or export from Blender with the MoScale extension")
    sys.path.insert(0, str(root))


def new_session():
    """Reset bpy to an empty factory scene and enable the add-on; returns the add-on package.

    Factory settings: the user's startup file and installed extensions cannot leak into the output."""
    bpy = require_bpy()
    import addon_utils

    bpy.ops.wm.read_factory_settings(use_empty=True)
    _find_addon()
    if not addon_utils.check(ADDON)[1]:
        addon_utils.enable(ADDON, default_set=False, handle_error=_raise)
    return sys.modules[ADDON]


def _raise(error: BaseException) -> None:
    raise error


def build_scene(motion, fps: float | None = None, name: str = "", body: SmplBody | None = None):
    """Put the SMPL character with ``motion`` as a take into the current scene; returns the export target.

    fps: the scene's frame rate (keys resampled to it); default the motion's own. The take starts at frame 1.
    body: build the character with the real SMPL body from those model files (ValueError when they are unusable)."""
    bpy = require_bpy()
    from moscale_blender import export, takes

    scene = bpy.context.scene
    rate = float(fps or motion.fps)
    if rate != round(rate):
        raise ValueError(f"fps must be a whole number of frames per second, got {rate}")
    scene.render.fps, scene.render.fps_base = int(round(rate)), 1.0
    scene.frame_start = scene.frame_current = 1
    scene.moscale.target = 'SMPL'
    if body is not None:
        _use_body(bpy, scene, body)
    meta = motion.metadata or {}
    schedule = meta.get("schedule", "")
    plan = takes.GeneratePlan(target="", bone_map_path="", prompt=motion.prompt or name, seconds=float(motion.seconds),
                              seed=int(meta.get("seed", 0) or 0), guidance=float(meta.get("guidance", 0.0) or 0.0),
                              quality=",".join(map(str, schedule)) if isinstance(schedule, list) else str(schedule))
    (take,) = takes.apply_generate(bpy.context, plan, [motion])
    if name:
        take.name = name
    scene.frame_end = take.frame_start + take.frame_count - 1
    return export.export_target(bpy.context)


def _use_body(bpy, scene, body: SmplBody) -> None:
    """Make the scene's SMPL character with the real body (files checked and read before anything is added)."""
    from moscale_blender import character

    if len(body.betas) > 10:
        raise ValueError(f"at most 10 betas, got {len(body.betas)}")
    mesh = character.load_body(str(Path(body.folder).expanduser()), body.model_type, body.gender, list(body.betas))
    scene.moscale.smpl_character = character.create_smpl_character(bpy.context, body=mesh)


def write_scene(motion, paths: str | Path | Sequence[str | Path], preset: str = "unity",
                fps: float | None = None, name: str = "", body: SmplBody | None = None) -> list[Path]:
    """Write ``motion`` on the SMPL character to each .fbx / .blend path (one scene built for all of them)."""
    paths = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    bad = [str(p) for p in paths if p.suffix.lower() not in SCENE_SUFFIXES]
    if bad:
        raise ValueError(f"{', '.join(bad)}: write_scene writes {' or '.join(SCENE_SUFFIXES)}")
    if preset.lower() not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; use {' or '.join(PRESETS)}")
    bpy = require_bpy()
    new_session()
    from moscale_blender import export

    from moscale import atomic

    target = build_scene(motion, fps, name, body)
    written = []
    for path in paths:
        path = path.resolve()
        if path.suffix.lower() == ".fbx":
            written.append(export.export_fbx(bpy.context, target, path, preset.upper()))  # atomic
        else:
            with atomic.replacing(path) as temporary:  # a save cut off half way keeps the previous .blend
                bpy.ops.wm.save_as_mainfile(filepath=str(temporary), check_existing=False, copy=True)
                _check_blend(bpy, temporary, path)
            written.append(path)
    return written


def _check_blend(bpy, written: Path, destination: Path) -> None:
    """OSError unless ``written`` is a whole .blend. Blender reports success for a save that a full disk cut short
    (measured: "Saved copy", a 10 kB file without its DNA block), so the file is read back before it replaces the
    previous one."""
    libraries = set(bpy.data.libraries)
    try:
        with bpy.data.libraries.load(str(written)) as (_available, _linked):
            pass  # reading the block index is the check; nothing is linked
    except OSError as error:
        raise OSError(f"writing {destination} failed (a full disk?): Blender wrote an unreadable file "
                      f"({str(error).strip()}); the previous file was kept") from None
    for library in set(bpy.data.libraries) - libraries:
        bpy.data.libraries.remove(library)


# ----------------------------------------------------------------------------------------------- filmstrip


def _look_at(obj, target) -> None:
    from mathutils import Vector

    direction = Vector(target) - obj.location
    obj.rotation_euler = direction.to_track_quat('-Z', 'Y').to_euler()


def _studio(bpy, rig):
    """Floor, sun, sky colour and a camera for the current scene (the character faces -Y)."""
    scene = bpy.context.scene
    world = bpy.data.worlds.new("MoScale studio")
    if world.node_tree is None:  # Blender < 5 makes node trees on request
        world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.8, 0.82, 0.86, 1.0)
    world.node_tree.nodes["Background"].inputs["Strength"].default_value = 0.8
    scene.world = world
    floor_mesh = bpy.data.meshes.new("Floor")
    size = 50.0
    floor_mesh.from_pydata([(-size, -size, 0), (size, -size, 0), (size, size, 0), (-size, size, 0)], [],
                           [(0, 1, 2, 3)])
    floor = bpy.data.objects.new("Floor", floor_mesh)
    scene.collection.objects.link(floor)
    floor.data.materials.append(_material(bpy, "Floor", (0.55, 0.56, 0.58, 1.0)))
    sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", 'SUN'))
    sun.data.energy = 3.0
    sun.rotation_euler = (0.7, 0.2, 0.6)
    scene.collection.objects.link(sun)
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    camera.data.lens = 50.0
    scene.collection.objects.link(camera)
    scene.camera = camera
    for mesh in (obj for obj in bpy.data.objects if obj.type == 'MESH' and obj.parent == rig):
        mesh.data.materials.append(_material(bpy, "Mannequin", (0.25, 0.45, 0.75, 1.0)))
    return camera


def _material(bpy, name: str, color):
    material = bpy.data.materials.new(name)
    if material.node_tree is None:
        material.use_nodes = True
    material.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = color
    return material


def render_filmstrip(path: str | Path, frames: int = 6, width: int = 200, height: int = 300, samples: int = 16,
                     threads: int | None = None) -> Path:
    """Render ``frames`` evenly spaced frames of the current scene's take with Cycles on the CPU and put them side
    by side in one PNG. The camera follows the pelvis from the character's front-left. Call after build_scene.
    threads: Cycles' CPU threads (default: Blender's, all cores)."""
    bpy = require_bpy()
    from moscale_blender import export

    target = export.export_target(bpy.context)
    rig, scene = target.armature, bpy.context.scene
    camera = _studio(bpy, rig)
    scene.render.engine = 'CYCLES'
    scene.cycles.device = 'CPU'
    scene.cycles.samples = samples
    if threads is not None:
        scene.render.threads_mode, scene.render.threads = 'FIXED', int(threads)
    scene.cycles.use_denoising = True
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = width, height, 100
    scene.render.image_settings.file_format = 'PNG'
    scene.render.film_transparent = False
    picks = np.linspace(target.frame_start, target.frame_end, frames).round().astype(int)
    strip = np.zeros((height, width * frames, 4), dtype=np.float32)
    with tempfile.TemporaryDirectory(prefix="moscale-filmstrip-") as folder:
        for i, frame in enumerate(picks):
            scene.frame_set(int(frame))
            pelvis = rig.matrix_world @ rig.pose.bones[0].head  # the SMPL character's first bone
            aim = (pelvis.x, pelvis.y, 0.85)
            camera.location = (pelvis.x - 2.0, pelvis.y - 3.3, 1.4)
            _look_at(camera, aim)
            scene.render.filepath = str(Path(folder) / f"frame_{i}.png")
            try:
                bpy.ops.render.render(write_still=True)
            except RuntimeError:  # a bpy build without OpenImageDenoise
                scene.cycles.use_denoising = False
                bpy.ops.render.render(write_still=True)
            image = bpy.data.images.load(scene.render.filepath)
            pixels = np.empty(width * height * 4, dtype=np.float32)
            image.pixels.foreach_get(pixels)
            strip[:, i * width:(i + 1) * width] = pixels.reshape(height, width, 4)
            bpy.data.images.remove(image)
    from moscale import atomic

    out = Path(path).resolve()
    result = bpy.data.images.new("MoScale filmstrip", width * frames, height, alpha=True)
    result.pixels.foreach_set(strip.ravel())
    with atomic.replacing(out) as temporary:
        result.filepath_raw, result.file_format = str(temporary), 'PNG'
        result.save()
        from PIL import Image

        try:  # like .blend saves, Blender's image save may not say when the disk was full
            with Image.open(temporary) as image:
                image.load()
        except OSError as error:
            raise OSError(f"writing {out} failed (a full disk?): {str(error).strip()}; the previous file was kept") \
                from None
    bpy.data.images.remove(result)
    return out


# ----------------------------------------------------------------------------------------------- command line


def add_scene_options(parser: argparse.ArgumentParser) -> None:
    """--preset and --fps, for every command that can write .fbx / .blend (`moscale generate` too)."""
    parser.add_argument("--preset", choices=PRESETS, default="unity",
                        help="FBX axes and scale for the engine (default unity)")
    parser.add_argument("--fps", type=float, help="frame rate of .fbx/.blend keys (default: the motion's, 20)")


def add_body_options(parser: argparse.ArgumentParser) -> None:
    """--smpl-model, --gender, --body-model, --betas: the real SMPL body on .fbx / .blend characters."""
    parser.add_argument("--smpl-model", type=Path, metavar="FOLDER",
                        help="your SMPL / SMPL-H / SMPL-X model files (licensed separately, .npz preferred): .fbx and "
                             ".blend get the real body instead of the mannequin")
    parser.add_argument("--gender", choices=("neutral", "female", "male"), default="neutral")
    parser.add_argument("--body-model", choices=("auto", "smpl", "smplh", "smplx"), default="auto")
    parser.add_argument("--betas", default="", help="comma-separated shape coefficients, e.g. 0.5,-1 (up to 10)")


def body_from_args(args: argparse.Namespace) -> SmplBody | None:
    if getattr(args, "smpl_model", None) is None:
        return None
    try:
        betas = tuple(float(value) for value in args.betas.split(",") if value.strip())
    except ValueError as error:
        raise ValueError(f"--betas {args.betas!r}: give comma-separated numbers, e.g. 0.5,-1") from error
    return SmplBody(args.smpl_model, args.gender, args.body_model, betas)


def write_outputs(motion, outputs: Sequence[Path], preset: str = "unity", fps: float | None = None,
                  title: str = "", body: SmplBody | None = None) -> list[Path]:
    """Every output by suffix: .fbx/.blend through bpy (one scene), .bvh/.npy/.npz, .gif/.png previews."""
    outputs = [Path(p) for p in outputs]
    known = SCENE_SUFFIXES + MOTION_SUFFIXES + PREVIEW_SUFFIXES
    unknown = [str(p) for p in outputs if p.suffix.lower() not in known]
    if unknown:
        raise ValueError(f"{', '.join(unknown)}: unknown output type; use {', '.join(known)}")
    written = []
    for path in outputs:  # every writer below is atomic (moscale.atomic)
        if path.suffix.lower() in MOTION_SUFFIXES:
            motion.save(path)
            written.append(path)
        elif path.suffix.lower() in PREVIEW_SUFFIXES:
            from moscale.preview import render_preview

            written.append(render_preview(motion.joints, path, fps=motion.fps, title=title or motion.prompt))
    scenes = [p for p in outputs if p.suffix.lower() in SCENE_SUFFIXES]
    if scenes:
        written += write_scene(motion, scenes, preset, fps, body=body)
    return written


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("motion", type=Path,
                        help="a motion file: .npz (as `moscale generate` writes it, or AMASS), .npy joints, .bvh")
    parser.add_argument("-o", "--output", type=Path, action="append", required=True,
                        help="output file, repeatable: .fbx, .blend (through bpy), .bvh, .npy, .npz, .gif/.png preview")
    add_scene_options(parser)
    add_body_options(parser)
    parser.add_argument("--filmstrip", type=Path, help="also render a filmstrip PNG with Cycles on the CPU")
    parser.add_argument("--filmstrip-frames", type=int, default=6)
    parser.add_argument("--samples", type=int, default=16, help="Cycles samples per filmstrip frame")


def command_status(work: Callable[[], None]) -> int:
    """Run a file-writing command's body; errors a user can act on become one line and an exit status
    (2: bad input, 3: bpy missing for .fbx/.blend) instead of a traceback."""
    try:
        work()
    except BlenderUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def run(args: argparse.Namespace) -> int:
    from moscale.motion import Motion

    def work() -> None:
        motion = Motion.load(args.motion)
        body = body_from_args(args)
        for path in write_outputs(motion, args.output, args.preset, args.fps, body=body):
            print(f"wrote {path}")
        if args.filmstrip is not None:
            if not any(p.suffix.lower() in SCENE_SUFFIXES for p in args.output):
                new_session()
                build_scene(motion, args.fps, body=body)
            strip = render_filmstrip(args.filmstrip, frames=args.filmstrip_frames, samples=args.samples,
                                     threads=getattr(args, "threads", None))
            print(f"wrote {strip}")

    return command_status(work)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="moscale export", description="write a motion as FBX, .blend, BVH, preview")
    configure_parser(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
