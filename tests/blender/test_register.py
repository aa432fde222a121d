"""Enabling registers everything, disabling removes everything; the extension zip installs; undo flags."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import addon_utils
import bpy
import pytest

from blender_helpers import ADDON, REPO, raise_error

OPERATORS = ("generate", "edit", "cancel", "random_seed", "create_smpl_character", "import_amass", "take_activate",
             "take_duplicate", "take_rename", "take_delete", "export_fbx", "export_bvh", "export_amass", "install_torch",
             "timeline_generate", "segment_add", "segment_remove", "segment_move")
# bpy.types lists UI lists, panels and operators; property groups and preferences answer `is_registered`
TYPES = ("MOSCALE_UL_takes", "MOSCALE_PT_main", "MOSCALE_PT_edit", "MOSCALE_PT_takes", "MOSCALE_PT_export",
         "MOSCALE_UL_segments", "MOSCALE_PT_timeline") + tuple(
    f"MOSCALE_OT_{name}" for name in OPERATORS)
CLASS_MODULES = ("properties", "preferences", "torch_install", "operators", "export", "panels", "timeline")
# operators that change nothing in the file (exports write files; Install PyTorch writes outside the .blend)
NO_UNDO = {"cancel", "export_fbx", "export_bvh", "export_amass", "install_torch"}


def addon_classes(package: str = ADDON) -> list[type]:
    return [cls for name in CLASS_MODULES for cls in sys.modules[f"{package}.{name}"].classes]


def registered_operators() -> set[str]:
    return {name for name in dir(bpy.ops.moscale) if hasattr(bpy.types, f"MOSCALE_OT_{name}")}


def test_enable_registers_everything(addon):
    assert hasattr(bpy.types.Scene, "moscale")
    assert isinstance(bpy.context.scene.moscale, bpy.types.PropertyGroup)
    for name in TYPES:
        assert hasattr(bpy.types, name), name
    assert all(cls.is_registered for cls in addon_classes())
    assert {cls.__name__ for cls in addon_classes()} >= {"MOSCALE_PG_take", "MOSCALE_PG_settings", "MOSCALE_Preferences"}
    assert registered_operators() == set(OPERATORS)
    assert bpy.context.preferences.addons[ADDON].preferences.device == "AUTO"
    panel = bpy.types.MOSCALE_PT_main
    assert (panel.bl_space_type, panel.bl_region_type, panel.bl_category) == ('VIEW_3D', 'UI', "MoScale")


def test_disable_removes_everything_and_enable_restores(addon):
    addon_utils.disable(ADDON, default_set=True, handle_error=raise_error)
    try:
        assert not hasattr(bpy.types.Scene, "moscale")
        for name in TYPES:
            assert not hasattr(bpy.types, name), name
        assert not any(cls.is_registered for cls in addon_classes())
        assert registered_operators() == set()
        assert bpy.context.preferences.addons.get(ADDON) is None
    finally:
        addon_utils.enable(ADDON, default_set=True, handle_error=raise_error)
    assert hasattr(bpy.types.Scene, "moscale") and registered_operators() == set(OPERATORS)


def test_guidance_default_is_the_backends(addon):
    from moscale.model.sampling import DEFAULT_GUIDANCE

    assert bpy.context.scene.moscale.guidance == pytest.approx(DEFAULT_GUIDANCE)


def test_data_changing_operators_support_undo(addon):
    for name in OPERATORS:
        options = getattr(bpy.types, f"MOSCALE_OT_{name}").bl_options
        if name in NO_UNDO:
            assert 'UNDO' not in options
        else:
            assert {'REGISTER', 'UNDO'} <= options, name


def test_undo_and_redo_of_generate_and_edit(scene, use_model):
    """Headless bpy starts with an empty undo stack ('Undo disabled at startup in background-mode'); two pushes give
    it a base and a step to return to, after which undo and redo work as in the UI. Python calls skip the undo push
    unless asked (the `undo=True` positional argument), which is how a button press in the UI runs it. Redo proves
    Generate pushed its own step: without one, redo would land on the manual push's state, from before generating."""
    from blender_helpers import scene_state

    scene.moscale.target = 'SMPL'
    bpy.ops.ed.undo_push(message="base")
    bpy.ops.ed.undo_push(message="before generate")
    if not bpy.ops.ed.undo.poll():
        pytest.skip("this bpy build keeps no undo stack in background mode")
    before = scene_state(bpy.context.scene)
    assert bpy.ops.moscale.generate('EXEC_DEFAULT', True) == {'FINISHED'}
    after = scene_state(bpy.context.scene)
    assert after != before and len(after["takes"]) == len(before["takes"]) + 1
    assert bpy.ops.ed.undo() == {'FINISHED'}
    assert scene_state(bpy.context.scene) == before
    assert bpy.ops.ed.redo() == {'FINISHED'}
    assert scene_state(bpy.context.scene) == after
    # An edit is one undo step too: undo brings back exactly the generated take, redo the edited one.
    settings = bpy.context.scene.moscale
    settings.edit_range, settings.edit_start, settings.edit_end = 'FRAMES', 21, 40
    settings.edit_prompt = "the person jumps"
    assert bpy.ops.moscale.edit('EXEC_DEFAULT', True) == {'FINISHED'}
    edited = scene_state(bpy.context.scene)
    assert len(edited["takes"]) == len(after["takes"]) + 1
    assert bpy.ops.ed.undo() == {'FINISHED'}
    assert scene_state(bpy.context.scene) == after
    assert bpy.ops.ed.redo() == {'FINISHED'}
    assert scene_state(bpy.context.scene) == edited


def test_extension_zip_builds_and_installs(addon, tmp_path):
    """Stage the add-on with the manifest, build it with Blender's own tool, install it like a user would."""
    stage = tmp_path / "moscale"
    shutil.copytree(REPO / "moscale_blender", stage, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "blender_manifest.toml", stage / "blender_manifest.toml")
    tool = Path(bpy.utils.system_resource('SCRIPTS')) / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"
    built = subprocess.run([sys.executable, str(tool), "build", "--source-dir", str(stage), "--output-dir",
                            str(tmp_path)], capture_output=True, text=True)
    assert built.returncode == 0, built.stdout + built.stderr
    (package,) = tmp_path.glob("moscale-*.zip")

    # the source-tree add-on and the extension register the same classes: only one may be enabled at a time
    addon_utils.disable(ADDON, default_set=True, handle_error=raise_error)
    module = "bl_ext.user_default.moscale"
    try:
        bpy.ops.extensions.package_install_files(filepath=str(package), repo='user_default', enable_on_install=True)
        assert addon_utils.check(module)[1], "extension not enabled"
        assert hasattr(bpy.types.Scene, "moscale") and registered_operators() == set(OPERATORS)
        assert all(cls.is_registered for cls in addon_classes(module))
        prefs = bpy.context.preferences.addons[module].preferences
        assert type(prefs).bl_idname == module and prefs.device == "AUTO"
        assert Path(sys.modules[module].__file__).is_relative_to(os.environ["BLENDER_USER_RESOURCES"])
        addon_utils.disable(module, default_set=True, handle_error=raise_error)
        assert not hasattr(bpy.types.Scene, "moscale") and registered_operators() == set()
        assert not any(cls.is_registered for cls in addon_classes(module))
    finally:
        if addon_utils.check(module)[1]:
            addon_utils.disable(module, default_set=True)
        addon_utils.enable(ADDON, default_set=True, handle_error=raise_error)
