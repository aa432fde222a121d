"""The panel's values go through the checks the command line and the Python API share (moscale.pipeline.checks):
a prompt of invisible characters, a NaN or infinite guidance, numbers set out of range from Python and the CPU
Threads preference are refused before a job starts, with the shared checks' words, and change nothing; a non-English
prompt gets the command line's warning in the panel before Generate and after it. Before, each was refused by the
job after loading the model, went through silently (inf became 3.4e38, 100 variations made 100 takes) or had no
warning until Generate."""
from __future__ import annotations

import math
import time

import bpy
import pytest
import torch
from moscale.motion import Motion
from moscale.pipeline import checks

from blender_helpers import ADDON, apply_motion, draw, scene_state
from moscale_blender import character, jobs, operators, panels, takes, timeline

ARABIC = "شخص يمشي إلى الأمام"


class Driver:
    """An operator's own execute/_finish on a plain object, so the test reads its reports word for word."""

    def __init__(self, operator):
        self.plan, self.make_job = operator.plan.__get__(self), operator.make_job.__get__(self)
        self.reports = []

    def report(self, kind, message):
        self.reports.append((set(kind), message))

    def run(self) -> set[str]:
        return operators._JobOperator.execute(self, bpy.context)

    _prepare = operators._JobOperator._prepare
    _finish = operators._JobOperator._finish


def words(check, *args, **kwargs) -> str:
    """What the shared check says about a value."""
    with pytest.raises(ValueError) as error:
        check(*args, **kwargs)
    return str(error.value)


def refused(operator, message: str) -> None:
    driver = Driver(operator)
    assert driver.run() == {'CANCELLED'}
    assert driver.reports == [({'ERROR'}, message)]


def _panel_text() -> str:
    """The panel's labels as one text (a warning is drawn in short lines: joined, its words are back in order)."""
    return " ".join(text for kind, text in draw(panels.MOSCALE_PT_main).log if kind == "label")


def _panel_shows(text: str, timeout_s: float = 60.0) -> bool:
    """Whether the panel shows ``text`` within ``timeout_s`` (the prompt's checks load in the background: a timer
    redraws the panel when they are in)."""
    deadline = time.monotonic() + timeout_s
    while text not in _panel_text():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _clear_job_warnings() -> None:
    """Start and finish a job without warnings: the panel stops showing the last job's."""
    job = jobs.start_job("generate", lambda progress, cancel: [])
    assert job.wait(60) and jobs.poll_job(job) == jobs.DONE and not jobs.last_warnings()


def test_a_prompt_of_invisible_characters_is_refused_with_the_apis_words(scene, use_model, no_job, clip_joints):
    settings = scene.moscale
    settings.target, settings.seconds = 'SMPL', 1.0
    state = scene_state(scene)
    for prompt in ("\u200b\u200b\u200b", "\u200b \u200c\u200d\ufeff", "\u2066\u200f"):
        settings.prompt = prompt
        said = words(checks.check_prompt, prompt, "Prompt")
        assert "only invisible characters" in said
        refused(operators.MOSCALE_OT_generate, said)
        assert said in _panel_text()  # said under the prompt before Generate is pressed
    assert scene_state(scene) == state

    apply_motion(character.create_smpl_character(bpy.context), Motion(clip_joints[:40]))
    settings.edit_prompt, settings.edit_range, settings.edit_start, settings.edit_end = "\u200b", 'FRAMES', 5, 10
    state = scene_state(scene)
    refused(operators.MOSCALE_OT_edit, words(checks.check_prompt, "\u200b", "Edit Prompt"))
    segments = scene.moscale_timeline.segments
    segments.add().prompt, segments.add().prompt = "walks forward", "\u200b\u200b"
    refused(timeline.MOSCALE_OT_timeline_generate, words(checks.check_prompt, "\u200b\u200b", "Segment 2"))
    assert scene_state(scene) == state


def test_a_non_english_prompt_warns_in_the_panel_before_and_after_generate(scene, use_model):
    _clear_job_warnings()  # an earlier test's job may have warned
    settings = scene.moscale
    settings.target, settings.seconds = 'SMPL', 1.0
    settings.prompt = ARABIC
    (warning,) = checks.prompt_warnings(ARABIC)  # what `moscale generate` prints
    assert "does not look English" in warning
    assert _panel_shows(warning)  # before Generate

    driver = Driver(operators.MOSCALE_OT_generate)
    assert driver.run() == {'FINISHED'}
    assert ({'WARNING'}, f"MoScale: {warning}") in driver.reports  # the operator's report
    assert warning in jobs.last_warnings()
    assert _panel_text().count(warning) == 1  # after Generate: shown once, not once per source

    _clear_job_warnings()
    settings.prompt = "a person walks forward and waves"
    assert not _panel_shows("does not look English", timeout_s=1.0)


NUMBERS = [  # (property, value, set through the property or as an ID property as a script or an old file can)
    ("guidance", math.nan, True), ("guidance", math.inf, True), ("guidance", -5.0, False),
    ("seconds", math.nan, True), ("seconds", 1000.0, False), ("seed", -5, False), ("variations", 100, False),
]


def _shared_words(name: str, value) -> str:
    checks_of = {"guidance": lambda: checks.check_guidance(value, "Guidance"),
                 "seconds": lambda: checks.check_seconds(value, "Length", 0.2, 60.0, inclusive_low=True),
                 "seed": lambda: checks.check_seed(value, "Seed"),
                 "variations": lambda: checks.check_whole(value, "Variations", 1, 8)}
    return words(checks_of[name])


@pytest.mark.parametrize("name, value, as_property", NUMBERS)
def test_numbers_out_of_range_are_refused_with_the_shared_words(scene, use_model, no_job, clip_joints, name, value,
                                                                 as_property):
    settings = scene.moscale
    settings.target, settings.prompt = 'SMPL', "a person walks"
    if as_property:
        setattr(settings, name, value)
    else:  # Blender clamps what goes through the property; an ID property keeps anything
        settings[name] = value
    state = scene_state(scene)
    refused(operators.MOSCALE_OT_generate, _shared_words(name, value))
    assert scene_state(scene) == state
    if name in ("guidance", "seed"):  # Edit Range uses them too
        apply_motion(character.create_smpl_character(bpy.context), Motion(clip_joints[:40]))
        settings.edit_range, settings.edit_start, settings.edit_end = 'FRAMES', 5, 10
        state = scene_state(scene)
        refused(operators.MOSCALE_OT_edit, _shared_words(name, value))
        assert scene_state(scene) == state


def test_the_words_name_the_panels_fields():
    assert _shared_words("guidance", math.inf) == \
        "Guidance inf: give a finite number >= 0 (0 turns guidance off; default 2)"
    assert _shared_words("seconds", math.nan) == "Length nan: give a finite number"
    assert _shared_words("variations", 100) == "Variations 100: give a whole number from 1 to 8"


def test_cpu_threads_go_through_the_shared_thread_check(scene, use_model, no_job):
    prefs = bpy.context.preferences.addons[ADDON].preferences
    too_many = checks.max_threads() + 1
    before = torch.get_num_threads()
    settings = scene.moscale
    settings.target, settings.prompt, settings.seconds = 'SMPL', "a person walks", 1.0
    state = scene_state(scene)
    try:
        prefs.cpu_threads = too_many
        said = words(checks.check_threads, too_many, "CPU Threads")
        refused(operators.MOSCALE_OT_generate, f"{said}: set it in Preferences > Add-ons > MoScale")
        assert scene_state(scene) == state and torch.get_num_threads() == before
    finally:
        prefs.cpu_threads = 0


def test_a_scripts_request_with_too_many_threads_fails_with_the_shared_words(scene, use_model):
    import dataclasses

    scene.moscale.target, scene.moscale.prompt, scene.moscale.seconds = 'SMPL', "a person walks", 1.0
    request, plan = takes.plan_generate(bpy.context)
    too_many = checks.max_threads() + 1
    before = torch.get_num_threads()
    try:
        job = jobs.Job("generate", jobs.generate_work(dataclasses.replace(request, threads=too_many)), plan).run()
        assert job.state == jobs.FAILED and job.error == f"ValueError: {words(checks.check_threads, too_many)}"
        assert torch.get_num_threads() == before
    finally:
        torch.set_num_threads(before)


def test_a_nan_body_shape_is_refused_before_the_job(scene, use_model, no_job, tmp_path):
    prefs = bpy.context.preferences.addons[ADDON].preferences
    settings = scene.moscale
    settings.target, settings.prompt = 'SMPL', "a person walks"
    settings.smpl_betas[2] = math.nan  # Blender clamps the shape to -10..10, but not a NaN
    state = scene_state(scene)
    try:
        prefs.smpl_model_folder = str(tmp_path)  # the character's body would be built from these files
        refused(operators.MOSCALE_OT_generate, words(checks.check_finite, math.nan, "Shape 3"))
    finally:
        prefs.smpl_model_folder = ""
    assert scene_state(scene) == state
