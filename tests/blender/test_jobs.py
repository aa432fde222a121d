"""Generate and Edit through the real backend (a tiny random-weight release folder): synchronous EXEC, the
threaded job functions, cancel, and every bad input refused with a clear report and no scene change."""
from __future__ import annotations

import json
import time

import bpy
import numpy as np
import pytest
from moscale.motion import Motion

from blender_helpers import build_armature, scene_state
from moscale_blender import character, jobs, keyframes, takes
from retarget_rigs import mixamo_like_bones


def wait_for(job: jobs.Job, timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    while jobs.poll_job(job) not in jobs.FINAL_STATES:
        assert time.monotonic() < deadline, "job did not finish"
        time.sleep(0.01)
    return job.state


def refused(operator, match: str) -> None:
    with pytest.raises(RuntimeError, match=match):
        operator()


def test_scripted_generate_runs_synchronously_on_the_smpl_character(scene, use_model):
    scene.render.fps = 24
    settings = scene.moscale
    settings.target, settings.prompt, settings.seconds, settings.seed = 'SMPL', "a person jumps twice", 2.0, 7
    assert bpy.ops.moscale.generate() == {'FINISHED'}
    (take,) = settings.takes
    rig = settings.smpl_character
    assert rig is not None and rig.animation_data.action == take.action
    assert take.frame_count == 48 and take.seed == 7 and take.prompt == "a person jumps twice" and take.quality == "fast"
    for fcurve in keyframes.action_fcurves(take.action):
        assert len(fcurve.keyframe_points) == 48
    assert scene.frame_end >= scene.frame_start + 47
    objects = len(bpy.data.objects)
    assert bpy.ops.moscale.generate() == {'FINISHED'}  # the SMPL character is reused, the first take kept
    assert len(bpy.data.objects) == objects and len(settings.takes) == 2
    assert settings.takes[0].action != settings.takes[1].action


def test_job_functions_generate_variations_with_a_cached_model(scene, use_model):
    rig = character.create_smpl_character(bpy.context)
    settings = scene.moscale
    settings.target, settings.prompt, settings.seconds, settings.variations = 'ACTIVE', "a person waves", 1.5, 2
    settings.quality = 'BEST'
    request, plan = takes.plan_generate(bpy.context)
    assert (request.quality, request.num_samples, request.device, plan.target) == ("best", 2, "cpu", rig.name)
    job = jobs.start_generate_job(request, plan)
    assert jobs.active_job() is job
    assert wait_for(job) == jobs.DONE, job.error
    assert job.progress == 1.0 and len(job.result) == 2 and jobs.active_job() is None
    new = takes.apply_result(bpy.context, job)
    assert [t.frame_count for t in new] == [30, 30] and rig.animation_data.action == new[0].action
    assert len({t.action.name for t in settings.takes}) == 2
    loaded = jobs.get_pipeline(request.model_folder, request.device)
    second = jobs.start_generate_job(request, plan)
    assert wait_for(second) == jobs.DONE
    assert jobs.get_pipeline(request.model_folder, request.device) is loaded  # stays loaded between jobs


def test_cancel_leaves_the_scene_unchanged(scene, use_model):
    character.create_smpl_character(bpy.context)
    scene.moscale.prompt, scene.moscale.quality = "a person runs in a circle", 'BEST'
    state = scene_state(scene)
    request, plan = takes.plan_generate(bpy.context)
    job = jobs.start_generate_job(request, plan)
    job.cancel()
    assert job.wait(120)
    assert jobs.poll_job(job) == jobs.CANCELLED and jobs.active_job() is None
    assert scene_state(scene) == state


def test_bad_inputs_are_reported_and_change_nothing(scene, use_model, tmp_path):
    settings = scene.moscale
    odd = build_armature("Odd", ["root", "spine", "arm"], [-1, 0, 1], np.eye(3), np.eye(3) + 0.1, np.zeros(3))
    state = scene_state(scene)
    refused(bpy.ops.moscale.generate, "Unknown rig.*missing.*custom bone map")
    settings.bone_map_path = str(tmp_path / "missing.json")
    refused(bpy.ops.moscale.generate, "cannot read bone map")
    settings.bone_map_path = ""
    assert scene_state(scene) == state and odd.animation_data is None
    odd.select_set(False)
    bpy.context.view_layer.objects.active = None
    refused(bpy.ops.moscale.generate, "No armature selected")  # an armature in the scene, none selected
    assert scene_state(scene) == state  # (an empty scene gets the SMPL character: tests/blender/test_rigs_takes.py)

    character.create_smpl_character(bpy.context)
    state = scene_state(scene)
    settings.prompt = "   "
    refused(bpy.ops.moscale.generate, "Empty prompt")
    settings.prompt = "a person walks"
    bpy.context.preferences.addons["moscale_blender"].preferences.model_folder = str(tmp_path / "no_model")
    refused(bpy.ops.moscale.generate, "model folder not found.*Preferences")
    (tmp_path / "not_a_model").mkdir()
    bpy.context.preferences.addons["moscale_blender"].preferences.model_folder = str(tmp_path / "not_a_model")
    refused(bpy.ops.moscale.generate, "not a MoScale model folder")
    assert scene_state(scene) == state


def test_bad_edit_inputs_are_reported_and_change_nothing(scene, use_model, clip_joints):
    settings = scene.moscale
    refused(bpy.ops.moscale.edit, "No take to edit")
    rig = character.create_smpl_character(bpy.context, clip_joints)
    plan = takes.GeneratePlan(rig.name, "", "walk", 3.0, 0, 5.0, "fast")
    takes.apply_result(bpy.context, jobs.Job("generate", lambda p, c: [Motion(clip_joints[:60])], plan).run())
    state = scene_state(scene)
    settings.edit_range = 'PREVIEW'
    scene.use_preview_range = False
    refused(bpy.ops.moscale.edit, "No preview range")
    scene.use_preview_range, scene.frame_preview_start, scene.frame_preview_end = True, 50, 90
    refused(bpy.ops.moscale.edit, "outside take")
    settings.edit_range, settings.edit_start, settings.edit_end = 'FRAMES', 30, 20
    refused(bpy.ops.moscale.edit, "empty")
    settings.edit_start, settings.edit_end = 10, 20
    settings.edit_prompt = ""
    refused(bpy.ops.moscale.edit, "Empty edit prompt")
    assert scene_state(scene) == state


def test_edit_with_the_real_backend(scene, use_model, clip_joints):
    """The Edit button against the installed pipeline: a new take, or a clear report when edit() is missing."""
    from moscale.pipeline import MoScalePipeline

    settings = scene.moscale
    settings.target, settings.prompt, settings.seconds = 'SMPL', "a person walks", 3.0
    assert bpy.ops.moscale.generate() == {'FINISHED'}
    (take,) = settings.takes
    source = take.action
    settings.edit_range, settings.edit_start, settings.edit_end = 'FRAMES', 21, 40
    state = scene_state(scene)
    if not hasattr(MoScalePipeline, "edit"):
        refused(bpy.ops.moscale.edit, "Editing needs a newer MoScale backend")
        assert scene_state(scene) == state
        return
    assert bpy.ops.moscale.edit() == {'FINISHED'}
    edited = settings.takes[1]
    assert edited.kind == 'EDIT' and edited.frame_count == take.frame_count
    for fcurve in keyframes.action_fcurves(source):
        old = keyframes.read_channel(source, fcurve.data_path, fcurve.array_index)
        new = keyframes.read_channel(edited.action, fcurve.data_path, fcurve.array_index)
        outside = (old[:, 0] < 21) | (old[:, 0] > 40)
        assert np.array_equal(new[outside], old[outside])


def test_custom_bone_map_file(scene, use_model, tmp_path):
    names, parents, heads, tails, rolls = mixamo_like_bones("")
    custom = [f"b{i:02d}_{name.lower()}" for i, name in enumerate(names)]
    rig = build_armature("Custom", custom, parents, heads, tails, rolls, scale=0.01)
    from moscale.motion.skeleton import JOINT_NAMES

    path = tmp_path / "custom.json"
    path.write_text(json.dumps({"name": "custom", "bones": dict(zip(JOINT_NAMES, custom[:22]))}))
    settings = scene.moscale
    settings.prompt, settings.seconds = "a person kicks", 1.0
    refused(bpy.ops.moscale.generate, "Unknown rig")
    settings.bone_map_path = str(path)
    assert bpy.ops.moscale.generate() == {'FINISHED'}
    assert rig.animation_data.action == settings.takes[0].action
    assert {fc.group.name for fc in keyframes.action_fcurves(settings.takes[0].action)} == set(custom[:22])


def test_selected_body_mesh_targets_its_armature(scene, use_model, tmp_path):
    rig = character.create_smpl_character(bpy.context)
    (body,) = rig.children
    bpy.context.view_layer.objects.active = body
    settings = scene.moscale
    settings.bone_map_path = str(tmp_path / "unused.json")  # the SMPL target never uses a custom map
    settings.target = 'SMPL'
    settings.smpl_character = rig
    _, plan = takes.plan_generate(bpy.context)
    assert plan.target == "" and plan.bone_map_path == ""
    settings.bone_map_path, settings.target = "", 'ACTIVE'
    _, plan = takes.plan_generate(bpy.context)
    assert plan.target == rig.name
