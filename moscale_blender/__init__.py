"""MoScale for Blender: type what a character does, get keyframes; edit a frame range; keep every take.

Modules, one concern each: ``properties`` (Scene.moscale), ``preferences``, ``operators``, ``panels``, ``jobs``
(backend off the main thread), ``takes``, ``keyframes`` (actions, slots, channelbags), ``rig`` (rest poses and bone
maps), ``character`` (the SMPL character: mannequin or the real SMPL body), ``export`` (FBX/BVH/AMASS .npz),
``torch_install`` (PyTorch for the light build), ``timeline`` (segments generated as one take). Model math and
retargeting live in the ``moscale`` backend package.
"""
from __future__ import annotations

from . import export, jobs, operators, panels, preferences, properties, timeline, torch_install

_MODULES = (properties, preferences, torch_install, operators, export, panels, timeline)


def register() -> None:
    for module in _MODULES:
        module.register()


def unregister() -> None:
    jobs.shutdown()
    for module in reversed(_MODULES):
        module.unregister()
