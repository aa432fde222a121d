"""A user's first sessions with a built MoScale zip, each in a fresh Python (run by test_extension_install.py), with
BLENDER_USER_RESOURCES pointing at an empty temporary folder:

    python extension_session.py install ZIP           install into the user repository, enabled; save preferences
    python extension_session.py use MODEL WORK_DIR    "restart Blender": generate a take on the SMPL character,
                                                      export FBX (Unity, Unreal) and BVH with the add-on's operators,
                                                      re-import each file into an empty scene, measure

The second session starts like Blender does after an install: the extension's wheels folder comes before every
other site-packages, so the backend, and the libraries the zip bundles, are imported from the zip's wheels.
Each prints one line `RESULT {json}`; the test asserts on it.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import bpy  # first: it puts Blender's script modules (addon_utils) on sys.path
import addon_utils
import numpy as np

MODULE = "bl_ext.user_default.moscale"
SECONDS = 2.0


def empty_scene(fps: int = 20):
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base, scene.frame_start = fps, 1.0, 1
    return scene


def heads(obj, frames, names) -> np.ndarray:
    """(frames, bones, 3) evaluated world-space bone heads."""
    scene, out = bpy.context.scene, []
    for frame in frames:
        scene.frame_set(int(frame))
        evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
        out.append([tuple(evaluated.matrix_world @ evaluated.pose.bones[name].head) for name in names])
    return np.array(out)


def reimport(path: Path, expected: np.ndarray, frames, names) -> dict:
    """Import into an empty scene and compare bone heads with ``expected`` frame by frame."""
    empty_scene()
    if path.suffix == ".fbx":  # the importer's defaults: the clip starts at time 0, played from frame 1
        bpy.ops.import_scene.fbx(filepath=str(path))
        frames = np.arange(len(frames)) + 1
    else:  # the add-on's BVH is Y up, like every BVH: Blender's importer defaults read it
        bpy.ops.import_anim.bvh(filepath=str(path), frame_start=int(frames[0]))
    (rig,) = [obj for obj in bpy.data.objects if obj.type == 'ARMATURE']
    action = rig.animation_data.action
    return {"bones": len(rig.data.bones), "frame_range": [round(v) for v in action.frame_range],
            "meshes": sum(obj.type == 'MESH' for obj in bpy.data.objects), "armature_name": rig.name,
            "max_error_m": float(np.abs(heads(rig, frames, names) - expected).max())}


def install(zip_path: str) -> dict:
    bpy.ops.extensions.package_install_files(filepath=zip_path, repo='user_default', enable_on_install=True)
    result = {"enabled": bool(addon_utils.check(MODULE)[1]), "addon_file": sys.modules[MODULE].__file__}
    bpy.ops.wm.save_userpref()
    return result


def use(model: str, work: str) -> dict:
    work_dir = Path(work)
    addon_utils.enable(MODULE, default_set=True)  # bpy as a module loads the preferences but enables no add-on
    result: dict = {"enabled": bool(addon_utils.check(MODULE)[1])}
    scene = empty_scene()
    prefs = bpy.context.preferences.addons[MODULE].preferences
    prefs.model_folder, prefs.device = model, "CPU"
    settings = scene.moscale
    settings.target, settings.prompt, settings.seconds, settings.seed = 'SMPL', "a person walks forward", SECONDS, 1
    result["generate"] = sorted(bpy.ops.moscale.generate())
    for name in ("moscale", "transformers", "tokenizers", "safetensors", "torch"):
        result[f"{name}_file"] = sys.modules[name].__file__
    take = settings.takes[settings.active_take_index]
    rig, names = take.armature, [bone.name for bone in take.armature.data.bones]
    frames = np.arange(take.frame_start, take.frame_start + take.frame_count)
    result["take_frames"] = [int(frames[0]), int(frames[-1])]
    expected = heads(rig, frames, names)

    exports = {"unity.fbx": dict(op=bpy.ops.moscale.export_fbx, preset='UNITY'),
               "unreal.fbx": dict(op=bpy.ops.moscale.export_fbx, preset='UNREAL'),
               "take.bvh": dict(op=bpy.ops.moscale.export_bvh)}
    for name, call in exports.items():
        operator = call.pop("op")
        result[f"export {name}"] = sorted(operator(filepath=str(work_dir / name), **call))
    # an existing file is kept unless the file browser (or check_existing=False) confirms
    before = (work_dir / "unity.fbx").stat().st_mtime_ns
    try:
        result["overwrite_refused"] = sorted(bpy.ops.moscale.export_fbx(filepath=str(work_dir / "unity.fbx")))
    except RuntimeError as error:  # background bpy turns the operator's ERROR report into an exception
        result["overwrite_refused"] = str(error).strip()
    result["kept_existing"] = (work_dir / "unity.fbx").stat().st_mtime_ns == before
    result["overwrite_confirmed"] = sorted(bpy.ops.moscale.export_fbx(filepath=str(work_dir / "unity.fbx"),
                                                                      check_existing=False))
    for name in exports:
        result[name] = reimport(work_dir / name, expected, frames, names)
    return result


if __name__ == "__main__":
    phase, *args = sys.argv[1:]
    outcome = install(*args) if phase == "install" else use(*args)
    print("RESULT " + json.dumps(outcome), flush=True)
