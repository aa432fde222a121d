"""The modal flow (invoke -> timer polls -> finish, Esc -> cancel) driven by hand: headless Blender never fires
timers and cannot invoke modal operators, so a stand-in window manager and events replace its event loop."""
from __future__ import annotations

import time
from types import SimpleNamespace

import bpy

from blender_helpers import scene_state
from moscale_blender import character, jobs, operators


class FakeWindowManager:
    def __init__(self):
        self.timers, self.handlers = [], []

    def event_timer_add(self, seconds, window=None):
        self.timers.append(object())
        return self.timers[-1]

    def event_timer_remove(self, timer):
        self.timers.remove(timer)

    def modal_handler_add(self, operator):
        self.handlers.append(operator)


class FakeContext:
    """bpy.context with the window-level parts the modal operator uses replaced."""

    def __init__(self):
        self.window_manager = FakeWindowManager()
        self.status = ["unset"]
        self.workspace = SimpleNamespace(status_text_set=self.status.append)
        self.window, self.screen = None, None

    def __getattr__(self, name):
        return getattr(bpy.context, name)


class GenerateDriver(operators._JobOperator):
    """The operator's own invoke/modal/_finish, on a plain object (bpy operators cannot be made headless)."""

    plan = operators.MOSCALE_OT_generate.plan
    make_job = operators.MOSCALE_OT_generate.make_job

    def __init__(self):
        self.reports = []

    def report(self, kind, message):
        self.reports.append((set(kind), message))


TIMER = SimpleNamespace(type='TIMER', value='NOTHING')
ESC = SimpleNamespace(type='ESC', value='PRESS')
MOUSE = SimpleNamespace(type='MOUSEMOVE', value='NOTHING')


def test_invoke_polls_until_the_take_is_written(scene, use_model):
    character.create_smpl_character(bpy.context)
    scene.moscale.prompt, scene.moscale.seconds = "a person waves", 1.0
    context, driver = FakeContext(), GenerateDriver()
    assert driver.invoke(context, None) == {'RUNNING_MODAL'}
    assert context.window_manager.handlers == [driver] and len(context.window_manager.timers) == 1
    assert driver.modal(context, MOUSE) == {'PASS_THROUGH'}
    result, deadline = {'RUNNING_MODAL'}, time.monotonic() + 120
    while result == {'RUNNING_MODAL'} and time.monotonic() < deadline:
        time.sleep(0.01)
        result = driver.modal(context, TIMER)
    assert result == {'FINISHED'}, driver.reports
    assert len(scene.moscale.takes) == 1 and scene.moscale.takes[0].frame_count == 20
    assert context.window_manager.timers == [] and context.status[-1] is None
    assert any("MoScale:" in text for text in context.status[1:-1])  # progress reached the status bar
    assert jobs.active_job() is None


def test_escape_cancels_and_leaves_the_scene_unchanged(scene, use_model):
    character.create_smpl_character(bpy.context)
    scene.moscale.prompt, scene.moscale.quality = "a person dances", 'BEST'
    state = scene_state(scene)
    context, driver = FakeContext(), GenerateDriver()
    assert driver.invoke(context, None) == {'RUNNING_MODAL'}
    job = driver._job
    assert driver.modal(context, ESC) == {'CANCELLED'}
    assert job.wait(120) and jobs.poll_job(job) == jobs.CANCELLED
    assert scene_state(scene) == state
    assert context.window_manager.timers == [] and context.status[-1] is None
    assert driver.reports[-1][0] == {'WARNING'} and "unchanged" in driver.reports[-1][1]


def test_invoke_with_bad_input_reports_and_starts_nothing(scene, use_model):
    scene.moscale.prompt = "   "  # (an empty scene is fine: the first Generate makes the SMPL character)
    context, driver = FakeContext(), GenerateDriver()
    assert driver.invoke(context, None) == {'CANCELLED'}
    assert driver.reports[-1][0] == {'ERROR'} and "Empty prompt" in driver.reports[-1][1]
    assert context.window_manager.timers == [] and jobs.active_job() is None
