"""The panel's values through the backend's checks (``moscale.pipeline.checks``) before a job starts, and the state
of the armature a take goes on: what the user can get wrong is refused here, with the words the command line and the
Python API use, so a bad value computes nothing and changes nothing.

    check_settings(settings, prompt, "Prompt", GENERATE_NUMBERS)  # raises TakeError
    check_armature(obj)                                           # Edit Mode, or linked from another file
    check_threads(16)                                             # the CPU Threads preference

Labels are the panel's own field names ("Guidance", "Length"), as the command line's are its flags.
"""
from __future__ import annotations

import math

from . import jobs

# Blender stores an infinity given to a FloatProperty as float32's largest value: no one types this number
FLT_MAX = 3.4028234663852886e38
GENERATE_NUMBERS = ("seconds", "seed", "guidance", "variations")
SAMPLING_NUMBERS = ("seed", "guidance")  # an edit's, a timeline's (its segments have their own lengths)


class TakeError(ValueError):
    """A problem the user can fix, worded for a report."""


def _shared(check, *args, **kwargs):
    """``check(*args, **kwargs)`` from ``moscale.pipeline.checks``, its ValueError or TypeError as a TakeError."""
    try:
        return check(*args, **kwargs)
    except (TypeError, ValueError) as error:
        raise TakeError(str(error)) from None


def _number(settings, name: str) -> None:
    """One numeric setting in the range its property declares (a script, an ID property or an old file can put
    any value there: Blender clamps only what is set through the property, and never a NaN)."""
    checks = jobs.pipeline_checks()
    prop = settings.bl_rna.properties[name]
    value, label = getattr(settings, name), prop.name
    if isinstance(value, float) and abs(value) >= FLT_MAX:
        value = math.copysign(math.inf, value)
    if name == "guidance":
        _shared(checks.check_guidance, value, label)
    elif name == "seed":
        _shared(checks.check_seed, value, label)
    elif name == "seconds":
        _shared(checks.check_seconds, value, label, prop.hard_min, prop.hard_max, inclusive_low=True)
    else:
        _shared(checks.check_whole, value, label, prop.hard_min, prop.hard_max)


def check_prompt(prompt: str, label: str) -> None:
    """Refuse what the text encoder cannot read: only invisible characters (zero-width spaces), bytes that are not
    UTF-8. Raises TakeError (BackendError when the backend is not installed)."""
    _shared(jobs.pipeline_checks().check_prompt, prompt, label)


def check_settings(settings, prompt: str, label: str, numbers: tuple[str, ...]) -> None:
    """``prompt`` (the panel's field ``label``) and the numeric ``settings`` named in ``numbers``, checked as the
    command line checks them; raises TakeError (BackendError when the backend is not installed)."""
    check_prompt(prompt, label)
    for name in numbers:
        _number(settings, name)


def check_threads(threads: int) -> int:
    """The CPU Threads preference (not 0, its automatic value): at most 4 per core, as ``--threads``."""
    try:
        return jobs.pipeline_checks().check_threads(threads, "CPU Threads")
    except ValueError as error:
        raise TakeError(f"{error}: set it in Preferences > Add-ons > MoScale") from None


def check_armature(obj) -> None:
    """Refuse an armature a take cannot go on: one in Edit Mode (its bones are being edited; the pose, which the
    keys drive, only plays in Object or Pose Mode) or one linked from another .blend (its animation is read from
    that file again on reopening, so the take's action would be dropped). Raises TakeError."""
    if obj.library is not None:
        raise TakeError(f"Armature '{obj.name}' is linked from library '{obj.library.name}': a take on it would be "
                        "lost when the file is reopened. Make it a library override (Object > Library Override > "
                        "Make) or local (Object > Relations > Make Local), then try again.")
    if not obj.is_editable:  # a system override, made with another one the user edits
        raise TakeError(f"Armature '{obj.name}' is a library override that is not editable: make it editable "
                        "(Object > Library Override > Make), then try again.")
    if obj.mode == 'EDIT':
        raise TakeError(f"Armature '{obj.name}' is in Edit Mode: switch it to Object or Pose Mode (Tab), then try "
                        "again.")


def check_betas(betas) -> None:
    """The SMPL character's shape (Blender clamps it to -10..10, but not a NaN)."""
    for number, value in enumerate(betas, start=1):
        _shared(jobs.pipeline_checks().check_finite, value, f"Shape {number}")
