"""Panels, the takes list and the preferences draw without errors and only show properties and operators that
exist (headless Blender has no regions to draw into, so a recording layout stands in for UILayout)."""
from __future__ import annotations

import bpy
from moscale.motion import Motion

from blender_helpers import RecordingLayout, draw
from moscale_blender import character, jobs, panels, preferences, takes


def test_panels_draw_in_every_state(scene, clip_joints):
    for target in ('ACTIVE', 'SMPL'):
        scene.moscale.target = target
        log = draw(panels.MOSCALE_PT_main).log
        assert ("operator", "moscale.generate") in log and ("label", "= 80 frames at 20 fps") in log
    for edit_range in ('PREVIEW', 'FRAMES'):
        scene.moscale.edit_range = edit_range
        assert ("operator", "moscale.edit") in draw(panels.MOSCALE_PT_edit).log
    assert ("list", "takes") in draw(panels.MOSCALE_PT_takes).log

    rig = character.create_smpl_character(bpy.context, clip_joints)
    plan = takes.GeneratePlan(rig.name, "", "walk", 2.0, 0, 5.0, "fast")
    takes.apply_result(bpy.context, jobs.Job("generate", lambda p, c: [Motion(clip_joints[:40])], plan).run())
    scene.moscale.show_details = True
    assert ("label", "Prompt: walk") in draw(panels.MOSCALE_PT_takes).log
    item = RecordingLayout()
    take = scene.moscale.takes[0]
    panels.MOSCALE_UL_takes.draw_item(None, bpy.context, item, scene.moscale, take, 0, scene.moscale,
                                      "active_take_index")
    assert ("prop", "name") in item.log


def test_panel_shows_progress_and_cancel_while_a_job_runs(scene):
    import threading

    release = threading.Event()
    job = jobs.start_job("generate", lambda progress, cancel: (progress(0.25, "scale 1"), release.wait(5), [])[-1])
    try:
        while job.progress == 0.0:
            jobs.poll_job(job)
        log = draw(panels.MOSCALE_PT_main).log
        assert ("progress", 0.25) in log and ("operator", "moscale.cancel") in log
        assert ("operator", "moscale.generate") not in log
        assert bpy.ops.moscale.cancel() == {'FINISHED'} and job.state == jobs.CANCELLED
    finally:
        release.set()
        job.wait(5)
    assert ("operator", "moscale.generate") in draw(panels.MOSCALE_PT_main).log


def test_preferences_draw_and_show_detected_devices(scene):
    prefs = bpy.context.preferences.addons["moscale_blender"].preferences
    log = draw(preferences.MOSCALE_Preferences, prefs).log
    labels = [text for kind, text in log if kind == "label"]
    assert any(text.startswith("Detected: ") and ("CPU" in text or "CUDA" in text) for text in labels)
    assert any(text.endswith(str(preferences.default_model_folder())) for text in labels)
    assert preferences.resolved_quality(bpy.context, "PREFERENCES") == "fast"
    prefs.quality = "BEST"
    assert preferences.resolved_quality(bpy.context, "PREFERENCES") == "best"
    assert preferences.resolved_quality(bpy.context, "FAST") == "fast"
