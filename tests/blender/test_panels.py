"""Panels, the takes list and the preferences draw without errors and only show properties and operators that
exist (headless Blender has no regions to draw into, so a recording layout stands in for UILayout)."""
from __future__ import annotations

import bpy
import numpy as np
from moscale.motion import Motion

from moscale_blender import character, jobs, panels, preferences, takes


class RecordingLayout:
    """Accepts the UILayout calls the add-on makes; checks every property path and operator id."""

    def __init__(self, log: list):
        self.log = log

    def _child(self, *args, **kwargs):
        return RecordingLayout(self.log)

    row = column = box = split = _child

    def prop(self, data, name, **kwargs):
        assert name in data.bl_rna.properties, f"{type(data).__name__} has no property {name!r}"
        self.log.append(("prop", name))

    def operator(self, idname, **kwargs):
        category, name = idname.split(".")
        assert hasattr(getattr(bpy.ops, category), name) and getattr(getattr(bpy.ops, category), name).get_rna_type()
        self.log.append(("operator", idname))

    def label(self, text="", **kwargs):
        self.log.append(("label", text))

    def progress(self, factor=0.0, type='BAR', text=""):
        self.log.append(("progress", factor))

    def template_list(self, list_type, list_id, data, prop, active_data, active_prop, **kwargs):
        assert hasattr(bpy.types, list_type) and prop in data.bl_rna.properties and active_prop in active_data.bl_rna.properties
        self.log.append(("list", prop))


class Drawer:
    def __init__(self, source=None):
        self.log = []
        self.layout = RecordingLayout(self.log)
        self._source = source

    def __getattr__(self, name):
        return getattr(self._source, name)


def draw(panel) -> list:
    drawer = Drawer()
    panel.draw(drawer, bpy.context)
    return drawer.log


def test_panels_draw_in_every_state(scene, clip_joints):
    for target in ('ACTIVE', 'SMPL'):
        scene.moscale.target = target
        log = draw(panels.MOSCALE_PT_main)
        assert ("operator", "moscale.generate") in log and ("label", "= 80 frames at 20 fps") in log
    for edit_range in ('PREVIEW', 'FRAMES'):
        scene.moscale.edit_range = edit_range
        assert ("operator", "moscale.edit") in draw(panels.MOSCALE_PT_edit)
    assert ("list", "takes") in draw(panels.MOSCALE_PT_takes)

    rig = character.create_smpl_character(bpy.context, clip_joints)
    plan = takes.GeneratePlan(rig.name, "", "walk", 2.0, 0, 5.0, "fast")
    jobs.apply_result(bpy.context, jobs.Job("generate", lambda p, c: [Motion(clip_joints[:40])], plan).run())
    scene.moscale.show_details = True
    log = draw(panels.MOSCALE_PT_takes)
    assert ("label", "Prompt: walk") in log
    item_log = []
    take = scene.moscale.takes[0]
    panels.MOSCALE_UL_takes.draw_item(None, bpy.context, RecordingLayout(item_log), scene.moscale, take, 0,
                                      scene.moscale, "active_take_index")
    assert ("prop", "name") in item_log


def test_panel_shows_progress_and_cancel_while_a_job_runs(scene):
    import threading

    release = threading.Event()
    job = jobs.start_job("generate", lambda progress, cancel: (progress(0.25, "scale 1"), release.wait(5), [])[-1])
    try:
        while job.progress == 0.0:
            jobs.poll_job(job)
        log = draw(panels.MOSCALE_PT_main)
        assert ("progress", 0.25) in log and ("operator", "moscale.cancel") in log
        assert ("operator", "moscale.generate") not in log
        assert bpy.ops.moscale.cancel() == {'FINISHED'} and job.state == jobs.CANCELLED
    finally:
        release.set()
        job.wait(5)
    assert ("operator", "moscale.generate") in draw(panels.MOSCALE_PT_main)


def test_preferences_draw_and_show_detected_devices(scene):
    prefs = bpy.context.preferences.addons["moscale_blender"].preferences
    drawer = Drawer(prefs)
    preferences.MOSCALE_Preferences.draw(drawer, bpy.context)
    labels = [text for kind, text in drawer.log if kind == "label"]
    assert any(text.startswith("Detected: ") and ("CPU" in text or "CUDA" in text) for text in labels)
    assert any(text.endswith(str(preferences.default_model_folder())) for text in labels)
    assert preferences.resolved_quality(bpy.context, "PREFERENCES") == "fast"
    prefs.quality = "BEST"
    assert preferences.resolved_quality(bpy.context, "PREFERENCES") == "best"
    assert preferences.resolved_quality(bpy.context, "FAST") == "fast"
