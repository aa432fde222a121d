"""The CPU Threads preference: automatic is one thread (measured fastest on a busy machine), a number is used as
given, applied to the backend's CPU work whether the job runs threaded or synchronously."""
from __future__ import annotations

import bpy
import torch

from blender_helpers import ADDON
from moscale_blender import preferences, takes


def test_threads_preference_reaches_the_backend(scene, use_model):
    prefs = bpy.context.preferences.addons[ADDON].preferences
    before = torch.get_num_threads()
    try:
        scene.moscale.target, scene.moscale.seconds = 'SMPL', 1.0
        prefs.cpu_threads = 0
        assert preferences.resolved_threads(bpy.context) == preferences.AUTO_THREADS == 1
        torch.set_num_threads(2)
        assert bpy.ops.moscale.generate() == {'FINISHED'}
        assert torch.get_num_threads() == 1
        prefs.cpu_threads = 2
        assert takes.plan_generate(bpy.context)[0].threads == 2  # the request carries it to the worker
        assert bpy.ops.moscale.generate() == {'FINISHED'}
        assert torch.get_num_threads() == 2 and len(scene.moscale.takes) == 2
    finally:
        prefs.cpu_threads = 0
        torch.set_num_threads(before)
