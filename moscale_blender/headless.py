"""Headless scene writing: the SMPL character carrying a motion, as FBX or .blend, and a rendered filmstrip.

`moscale export` / `moscale generate -o x.fbx` reach this module through `moscale.cli.scene`, which starts a
factory-settings session with this add-on enabled; then the file written here is the file the panel's Export button
writes (the same character, retargeting, keyframes, take and FBX presets). A .blend holds the take with its stored
motion: open it in Blender with the extension enabled and Edit works on it.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Sequence

import bpy
import numpy as np
from moscale.utils import atomic

from . import character, export, takes


def build_scene(motion, fps: float | None = None, name: str = "", body=None):
    """Put the SMPL character with ``motion`` as a take into the current scene; returns the export target.

    fps: the scene's frame rate (keys resampled to it); default the motion's own. The take starts at frame 1.
    body: build the character with the real SMPL body from those model files (``folder``, ``gender``,
    ``model_type``, ``betas``: moscale.cli.scene.SmplBody); ValueError when they are unusable."""
    scene = bpy.context.scene
    rate = float(fps or motion.fps)
    if rate != round(rate):
        raise ValueError(f"fps must be a whole number of frames per second, got {rate}")
    scene.render.fps, scene.render.fps_base = int(round(rate)), 1.0
    scene.frame_start = scene.frame_current = 1
    scene.moscale.target = 'SMPL'
    if body is not None:
        _use_body(scene, body)
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


def _use_body(scene, body) -> None:
    """Make the scene's SMPL character with the real body (files checked and read before anything is added)."""
    if len(body.betas) > 10:
        raise ValueError(f"at most 10 betas, got {len(body.betas)}")
    mesh = character.load_body(str(Path(body.folder).expanduser()), body.model_type, body.gender, list(body.betas))
    scene.moscale.smpl_character = character.create_smpl_character(bpy.context, body=mesh)


def write_files(target, paths: Sequence[Path], preset: str) -> list[Path]:
    """Write the built scene's ``target`` to each .fbx (``preset`` 'unity' or 'unreal') and .blend path, atomically."""
    written = []
    for path in paths:
        path = Path(path).resolve()
        if path.suffix.lower() == ".fbx":
            written.append(export.export_fbx(bpy.context, target, path, preset.upper()))  # atomic
        else:
            with atomic.replacing(path) as temporary:  # a save cut off half way keeps the previous .blend
                bpy.ops.wm.save_as_mainfile(filepath=str(temporary), check_existing=False, copy=True)
                _check_blend(temporary, path)
            written.append(path)
    return written


def _check_blend(written: Path, destination: Path) -> None:
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


def _studio(rig):
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
    floor.data.materials.append(_material("Floor", (0.55, 0.56, 0.58, 1.0)))
    sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", 'SUN'))
    sun.data.energy = 3.0
    sun.rotation_euler = (0.7, 0.2, 0.6)
    scene.collection.objects.link(sun)
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    camera.data.lens = 50.0
    scene.collection.objects.link(camera)
    scene.camera = camera
    for mesh in (obj for obj in bpy.data.objects if obj.type == 'MESH' and obj.parent == rig):
        mesh.data.materials.append(_material("Mannequin", (0.25, 0.45, 0.75, 1.0)))
    return camera


def _material(name: str, color):
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
    target = export.export_target(bpy.context)
    rig, scene = target.armature, bpy.context.scene
    camera = _studio(rig)
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
