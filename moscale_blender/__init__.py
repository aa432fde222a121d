"""MoScale for Blender: type what a character does, get keyframes; edit a frame range; keep every take.

Modules, one concern each: ``properties`` (Scene.moscale), ``preferences``, ``operators``, ``panels``, ``jobs``
(backend off the main thread), ``takes``, ``keyframes`` (actions, slots, channelbags), ``rig`` (rest poses and bone
maps), ``character`` (the SMPL character). Model math and retargeting live in the ``moscale`` backend package.
"""
from __future__ import annotations

from . import jobs, operators, panels, preferences, properties

_MODULES = (properties, preferences, operators, panels)


def register() -> None:
    for module in _MODULES:
        module.register()


def unregister() -> None:
    jobs.shutdown()
    for module in reversed(_MODULES):
        module.unregister()
