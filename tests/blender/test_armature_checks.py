"""The armature and bone map a take goes on are checked before any job starts, each with one line that says what to
do: a bone map of binary junk ("not a JSON text file", not a UTF-8 decoder's error), a 22-joint map onto a one-bone
armature (the missing bones; a map naming one bone for every joint, which used to make a take, is refused), an
armature in Edit Mode (it used to be blamed on constraints) and an armature linked from another .blend (whose take
was lost on reopening; a library override of it keeps its take)."""
from __future__ import annotations

import json

import bpy
import numpy as np
import pytest
from moscale.motion import Motion
from moscale.motion.rigs import BoneMap
from moscale.motion.skeleton import JOINT_NAMES

from blender_helpers import ADDON, apply_motion, build_armature, scene_state
from moscale_blender import character, jobs, takes


def refused(operator, message: str) -> None:
    """The operator refuses with exactly one error line, ``message``."""
    with pytest.raises(RuntimeError) as error:
        operator()
    assert str(error.value).strip() == f"Error: {message}"


def one_bone() -> bpy.types.Object:
    return build_armature("One", ["root"], [-1], np.zeros((1, 3)), np.array([[0.0, 0.0, 1.0]]), np.zeros(1))


JUNK = {"random.json": np.random.default_rng(0).bytes(512),
        "image.json": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + np.random.default_rng(1).bytes(256),
        "zeros.json": bytes(256)}


def test_a_bone_map_of_binary_junk_is_not_a_json_text_file(scene, use_model, no_job, tmp_path):
    one_bone()
    scene.moscale.prompt = "a person walks"
    state = scene_state(scene)
    for name, junk in JUNK.items():
        path = tmp_path / name
        path.write_bytes(junk)
        with pytest.raises(ValueError, match="not a JSON text file"):
            BoneMap.from_json(path)
        scene.moscale.bone_map_path = str(path)
        refused(bpy.ops.moscale.generate, f"cannot read bone map {path}: not a JSON text file")
    assert scene_state(scene) == state


def test_a_full_bone_map_onto_a_one_bone_armature_names_the_missing_bones(scene, use_model, no_job, tmp_path):
    one_bone()
    settings = scene.moscale
    settings.prompt = "a person walks"
    state = scene_state(scene)
    full = tmp_path / "full.json"
    full.write_text(json.dumps({"name": "full", "bones": {joint: f"mixamorig:{joint}" for joint in JOINT_NAMES}}))
    settings.bone_map_path = str(full)
    refused(bpy.ops.moscale.generate, "Armature 'One': Bone map 'full' does not fit armature 'One': missing bones "
                                      + ", ".join(f"mixamorig:{joint}" for joint in JOINT_NAMES) + ".")
    same = tmp_path / "same.json"  # every joint on the one bone there is: it "fits", and made a take
    same.write_text(json.dumps({"name": "same", "bones": {joint: "root" for joint in JOINT_NAMES}}))
    settings.bone_map_path = str(same)
    refused(bpy.ops.moscale.generate, f"bone map 'same': joints {', '.join(JOINT_NAMES)} all name bone 'root'; "
                                      "each joint needs a bone of its own (leave out a hand, toe or head the rig has "
                                      "no bone for)")
    assert scene_state(scene) == state


def in_edit_mode(rig) -> str:
    bpy.context.view_layer.objects.active = rig
    rig.select_set(True)
    bpy.ops.object.mode_set(mode='EDIT')
    return f"Armature '{rig.name}' is in Edit Mode: switch it to Object or Pose Mode (Tab), then try again."


def test_an_armature_in_edit_mode_is_refused_before_generate_and_edit_range(scene, use_model, no_job, clip_joints):
    rig = character.create_smpl_character(bpy.context, clip_joints)
    apply_motion(rig, Motion(clip_joints[:60]))
    settings = scene.moscale
    settings.smpl_character = rig  # the scene's SMPL character: Target 'SMPL Character' animates it
    settings.prompt, settings.edit_range, settings.edit_start, settings.edit_end = "a person walks", 'FRAMES', 10, 20
    message = in_edit_mode(rig)
    state = scene_state(scene)
    for target in ('ACTIVE', 'SMPL'):
        settings.target = target
        refused(bpy.ops.moscale.generate, message)
    refused(bpy.ops.moscale.edit, message)
    assert scene_state(scene) == state and rig.mode == 'EDIT'  # left as the user had it
    bpy.ops.object.mode_set(mode='OBJECT')


def test_entering_edit_mode_while_the_job_runs_is_refused_when_it_ends(scene, clip_joints):
    rig = character.create_smpl_character(bpy.context, clip_joints)
    plan = takes.GeneratePlan(rig.name, "", "a person walks", 2.0, 0, 2.0, "fast")
    job = jobs.Job("generate", lambda progress, cancel: [Motion(clip_joints[:40])], plan).run()
    message = in_edit_mode(rig)
    state = scene_state(scene)
    with pytest.raises(takes.TakeError) as error:
        takes.apply_result(bpy.context, job)
    assert str(error.value) == message and scene_state(scene) == state
    bpy.ops.object.mode_set(mode='OBJECT')


def test_a_linked_armature_is_refused_and_its_library_override_keeps_the_take(scene, use_model, clip_joints,
                                                                             tmp_path, monkeypatch):
    name = character.create_smpl_character(bpy.context, clip_joints).name
    library = tmp_path / "character.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(library))
    bpy.ops.wm.read_homefile(use_empty=True)  # a new shot that links the character in
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base, scene.frame_start = 20, 1.0, 1
    prefs = bpy.context.preferences.addons[ADDON].preferences
    prefs.model_folder, prefs.device = str(use_model), "CPU"
    with bpy.data.libraries.load(str(library), link=True) as (_, linked):
        linked.objects = [name]
    (rig,) = linked.objects
    scene.collection.objects.link(rig)
    bpy.context.view_layer.objects.active = rig
    settings = scene.moscale
    settings.prompt, settings.seconds = "a person walks", 1.0
    state = scene_state(scene)
    with monkeypatch.context() as patched:
        patched.setattr(jobs, "generate_work", lambda request: pytest.fail("a job was made"))
        refused(bpy.ops.moscale.generate, f"Armature '{name}' is linked from library 'character.blend': a take on it "
                                          "would be lost when the file is reopened. Make it a library override "
                                          "(Object > Library Override > Make) or local (Object > Relations > Make "
                                          "Local), then try again.")
    assert scene_state(scene) == state and rig.animation_data is None

    override = rig.override_create(remap_local_usages=True)  # what the message says to do
    bpy.context.view_layer.objects.active = override
    assert bpy.ops.moscale.generate() == {'FINISHED'}
    (take,) = settings.takes
    action = take.action.name
    shot = tmp_path / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(shot))
    bpy.ops.wm.open_mainfile(filepath=str(shot))
    (take,) = bpy.context.scene.moscale.takes
    assert take.action.name == action and take.armature.override_library is not None
    assert take.armature.library is None and take.armature.animation_data.action == take.action
