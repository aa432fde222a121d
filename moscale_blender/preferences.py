"""Add-on preferences: model folder, device, default quality, the user's SMPL model folder."""
from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import EnumProperty, IntProperty, StringProperty

from . import checks, jobs, torch_install

QUALITY_ITEMS = [
    ("FAST", "Fast", "4 refinement passes (1, 1, 1, 1 per scale)"),
    ("BEST", "Best", "18 refinement passes (1, 2, 5, 10 per scale)"),
]

ADDON_ID = __package__
MODEL_DIRNAME = "model"


def asset_folders() -> list[Path]:
    """Where bundled assets may live: inside the installed extension, then the source tree."""
    here = Path(__file__).resolve().parent
    return [here / "assets", here.parent / "assets"]


def default_model_folder() -> Path:
    """The bundled model folder (the first candidate that exists, else the source-tree location)."""
    for folder in asset_folders():
        if (folder / MODEL_DIRNAME).is_dir():
            return folder / MODEL_DIRNAME
    return asset_folders()[-1] / MODEL_DIRNAME


def bone_maps_folder() -> Path:
    for folder in asset_folders():
        if (folder / "rigs" / "targets").is_dir():
            return folder / "rigs" / "targets"
    return asset_folders()[-1] / "rigs" / "targets"


class MOSCALE_Preferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    model_folder: StringProperty(
        name="Model Folder", subtype='DIR_PATH', default="",
        description="A MoScale release folder (config.json + *.safetensors); empty: the bundled default model")
    device: EnumProperty(
        name="Device",
        items=[("AUTO", "Auto", "CUDA when available, else CPU"), ("CUDA", "CUDA", "NVIDIA GPU"),
               ("CPU", "CPU", "Processor only")],
        default="AUTO")
    cpu_threads: IntProperty(
        name="CPU Threads", default=0, min=0, max=256,
        description="Threads PyTorch may use on the CPU; 0: automatic (one: with Blender busy on the other cores, one "
                    "thread generated a 10 s clip in 0.3 s where two took 5-13 s)")
    quality: EnumProperty(name="Quality", items=QUALITY_ITEMS, default="FAST",
                          description="Refinement schedule used when the panel's Quality is 'Preferences'")
    smpl_model_folder: StringProperty(
        name="SMPL Model Folder", subtype='DIR_PATH', default="",
        description="Your SMPL / SMPL-H / SMPL-X model files (SMPL_NEUTRAL.npz, SMPLH_FEMALE.npz, SMPLX_MALE.npz, "
                    "...; .npz preferred). 'Create SMPL Character' then builds the real body; empty: the mannequin")

    def draw(self, context) -> None:
        layout = self.layout
        layout.prop(self, "model_folder")
        if not self.model_folder:
            layout.label(text=f"Bundled model: {default_model_folder()}", icon='INFO')
        row = layout.row()
        row.prop(self, "device", expand=True)
        layout.label(text=f"Detected: {jobs.detect_devices()}", icon='SETTINGS')
        layout.prop(self, "cpu_threads")
        layout.prop(self, "quality", expand=True)
        layout.prop(self, "smpl_model_folder")
        draw_smpl_help(layout, bool(self.smpl_model_folder))
        torch_install.draw_install(layout, context)  # the light build: Install PyTorch (CPU / CUDA)


def draw_smpl_help(layout, has_folder: bool) -> None:
    """Where SMPL bodies come from (licensed separately, never bundled)."""
    column = layout.column(align=True)
    if not has_folder:
        column.label(text="No SMPL model folder: the SMPL character gets the mannequin body.", icon='INFO')
    for line in SMPL_HELP:
        column.label(text=line)


SMPL_HELP = (
    "Real bodies need model files under their own licence (free registration):",
    "SMPL: https://smpl.is.tue.mpg.de/   SMPL-H: https://mano.is.tue.mpg.de/   SMPL-X: https://smpl-x.is.tue.mpg.de/",
    "Prefer the .npz files (.pkl files are unpickled, so only use ones from these sites).",
)


def get(context: bpy.types.Context) -> MOSCALE_Preferences | None:
    addon = context.preferences.addons.get(ADDON_ID)
    return addon.preferences if addon is not None else None


def resolved_model_folder(context: bpy.types.Context) -> Path:
    prefs = get(context)
    if prefs is not None and prefs.model_folder:
        return Path(bpy.path.abspath(prefs.model_folder))
    return default_model_folder()


def smpl_model_folder(context: bpy.types.Context) -> str:
    """The user's SMPL model folder (absolute), or "" when none is set."""
    prefs = get(context)
    if prefs is None or not prefs.smpl_model_folder.strip():
        return ""
    return bpy.path.abspath(prefs.smpl_model_folder.strip())


def resolved_device(context: bpy.types.Context) -> str:
    prefs = get(context)
    return (prefs.device if prefs is not None else "AUTO").lower()


# Automatic CPU threads: one. Measured (issue 16) on a 2-core machine with Blender or another job busy: a warm 10 s
# generate took 0.3 s with one torch thread and 5-13 s with two, which fight the busy core at every pass.
AUTO_THREADS = 1


def resolved_threads(context: bpy.types.Context) -> int:
    """The CPU Threads preference (0: ``AUTO_THREADS``) through the command line's ``--threads`` check; raises
    checks.TakeError beyond it (more than 4 threads per core)."""
    prefs = get(context)
    chosen = int(prefs.cpu_threads) if prefs is not None else 0
    return checks.check_threads(chosen) if chosen != 0 else AUTO_THREADS


def resolved_quality(context: bpy.types.Context, scene_quality: str) -> str:
    """'fast' or 'best': the scene's choice, or the preference when the scene says 'PREFERENCES'."""
    if scene_quality != "PREFERENCES":
        return scene_quality.lower()
    prefs = get(context)
    return (prefs.quality if prefs is not None else "FAST").lower()


classes = (MOSCALE_Preferences,)
register, unregister = bpy.utils.register_classes_factory(classes)
