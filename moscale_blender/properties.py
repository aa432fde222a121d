"""Scene settings (``Scene.moscale``) and the take records they hold."""
from __future__ import annotations

import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty, FloatVectorProperty, IntProperty,
                       PointerProperty, StringProperty)

from . import jobs, takes
from .preferences import QUALITY_ITEMS


def _is_armature(_self, obj: bpy.types.Object) -> bool:
    return obj.type == 'ARMATURE'


def _is_path(_self, obj: bpy.types.Object) -> bool:
    return obj.type in ('CURVE', 'GREASEPENCIL')  # controls.PATH_TYPES (not imported: it imports the backend)


def _on_take_renamed(self: "MOSCALE_PG_take", _context) -> None:
    # the user's own action keeps its name: only actions MoScale made follow their take's name
    if self.action is not None and self.name and self.kind != 'ORIGINAL':
        self.action.name = f"MoScale {self.name}"


def _on_prompt(self: "MOSCALE_PG_settings", context) -> None:
    """Check the new prompt against what the model knows, in the background; the panel shows the warning when the
    check is done (a timer redraws it). The command line's text checks (not English, ...) need no model."""
    load_checks_later()
    try:
        folder, device = takes.model_of(context)
    except takes.TakeError:
        return  # no model: Generate says so
    thread = jobs.check_prompt_later(folder, device, self.prompt)
    if thread is not None:
        bpy.app.timers.register(_redraw_when_done(thread), first_interval=0.5)


def load_checks_later() -> None:
    """Load the prompt's text checks (``jobs.text_warnings``) in the background; redraw the panel once they are in."""
    thread = jobs.load_checks_later()
    if thread is not None:
        bpy.app.timers.register(_redraw_when_done(thread), first_interval=0.5)


def _redraw_when_done(thread, timeout_s: float = 60.0):
    waited = [0.0]

    def poll() -> float | None:
        waited[0] += 0.5
        if thread.is_alive() and waited[0] < timeout_s:
            return 0.5
        for window in getattr(bpy.context.window_manager, "windows", ()):
            for area in window.screen.areas:
                if area.type == 'VIEW_3D':
                    area.tag_redraw()
        return None

    return poll


def _on_active_take(self: "MOSCALE_PG_settings", _context) -> None:
    takes.activate(self, self.active_take_index)


class MOSCALE_PG_take(bpy.types.PropertyGroup):
    """One generated or edited action with the settings that made it."""

    name: StringProperty(name="Name", update=_on_take_renamed)
    action: PointerProperty(name="Action", type=bpy.types.Action)
    armature: PointerProperty(name="Armature", type=bpy.types.Object, poll=_is_armature)
    kind: EnumProperty(name="Kind", items=[("GENERATE", "Generated", ""), ("EDIT", "Edited", ""),
                                           ("DUPLICATE", "Duplicate", ""), ("IMPORT", "Imported", ""),
                                           ("ORIGINAL", "Original",
                                            "The action the armature had before MoScale's first take on it")])
    prompt: StringProperty(name="Prompt")
    seconds: FloatProperty(name="Seconds")
    seed: IntProperty(name="Seed")
    guidance: FloatProperty(name="Guidance")
    quality: StringProperty(name="Quality")
    bone_map_path: StringProperty(name="Bone Map", subtype='FILE_PATH', description="Custom bone map used, if any")
    source_take: StringProperty(name="Source Take", description="The take this one was edited from or copied from")
    edit_start: IntProperty(name="Edit Start")
    edit_end: IntProperty(name="Edit End")
    frame_start: IntProperty(name="First Frame")
    frame_count: IntProperty(name="Frames")
    fps: FloatProperty(name="Scene FPS", description="Scene frame rate the keys were written at")
    rig_state: StringProperty(name="Rig State", description="JSON: the rig's switch values (IK/FK) and unkeyed pose "
                                                          "to restore with this take (ORIGINAL takes)")


class MOSCALE_PG_settings(bpy.types.PropertyGroup):
    """Everything the MoScale panel and the scripted operators use."""

    prompt: StringProperty(name="Prompt", description="What the person does",
                           default="a person walks forward, stops and waves with the right hand", update=_on_prompt)
    seconds: FloatProperty(name="Length", description="Length of the motion in seconds",
                           default=4.0, min=0.2, soft_max=10.0, max=60.0, subtype='TIME_ABSOLUTE', unit='TIME_ABSOLUTE')
    seed: IntProperty(name="Seed", description="Random seed (same seed and settings give the same motion)",
                      default=0, min=0)
    # default: moscale.model.sampling.DEFAULT_GUIDANCE (not imported here: registering must not import torch)
    guidance: FloatProperty(name="Guidance", description="How strongly the motion follows the prompt",
                            default=2.0, min=0.0, soft_max=10.0)
    quality: EnumProperty(name="Quality", items=[("PREFERENCES", "Preferences", "Use the add-on preference")]
                          + QUALITY_ITEMS, default="PREFERENCES")
    variations: IntProperty(name="Variations", description="How many takes one Generate makes",
                            default=1, min=1, max=8)
    foot_lock: BoolProperty(name="Foot Lock", default=True,
                            description="Pin each foot while the model says it is on the floor, re-planting it "
                                        "in quick steps where it would glide (no sliding); edits only touch the "
                                        "feet inside their range")
    path_object: PointerProperty(
        name="Path", type=bpy.types.Object, poll=_is_path,
        description="A curve (Bezier or poly) or Grease Pencil stroke on the floor: the pelvis travels along it from "
                    "its first point to its last, facing along it (several splines or strokes: one after the other, "
                    "joined by straight lines)")
    length_from_path: BoolProperty(
        name="Length From Path", default=True,
        description="With a path: the take lasts as long as the prompt's pace ('walks', 'runs') takes to cover it "
                    "(off: the Length above)")
    keyed_poses: BoolProperty(
        name="Keyed Poses", default=False,
        description="The take passes through the poses keyed on the armature inside its frames, and keeps the keyed "
                    "values at those frames exactly")
    loop: BoolProperty(name="Loop", default=False,
                       description="The last frame flows into the first; the take's F-curves cycle (Cycles modifiers) "
                                   "and its FBX holds one cycle")
    in_place: BoolProperty(name="In Place", default=False,
                           description="No travel: the pelvis stays over its start on the floor (game cycles)")
    target: EnumProperty(
        name="Target",
        items=[("ACTIVE", "Active Armature", "Animate the active armature (Mixamo, Rigify, Unreal, SMPL or a custom map)"),
               ("SMPL", "SMPL Character", "Animate the scene's SMPL character, creating it when missing")],
        default="ACTIVE")
    smpl_character: PointerProperty(name="SMPL Character", type=bpy.types.Object, poll=_is_armature)
    bone_map_path: StringProperty(name="Bone Map", subtype='FILE_PATH',
                                  description="Optional custom bone map JSON (SMPL joint name -> your bone name); "
                                              "empty: detect Mixamo, Rigify, Unreal or SMPL from the bone names")
    smpl_model_type: EnumProperty(
        name="Body Model", description="Which model files build the SMPL character's body (with a SMPL Model Folder)",
        items=[("AUTO", "Auto", "SMPL, else SMPL-H, else SMPL-X: the first the folder has"),
               ("SMPL", "SMPL", "SMPL_<GENDER>.npz / .pkl"),
               ("SMPLH", "SMPL-H", "SMPLH_<GENDER>.npz, smplh/<gender>/model.npz"),
               ("SMPLX", "SMPL-X", "SMPLX_<GENDER>.npz")],
        default="AUTO")
    smpl_gender: EnumProperty(name="Gender", description="Which model file of the folder builds the body",
                              items=[("NEUTRAL", "Neutral", ""), ("FEMALE", "Female", ""), ("MALE", "Male", "")],
                              default="NEUTRAL")
    smpl_betas: FloatVectorProperty(name="Shape", description="SMPL shape coefficients (betas) of the body",
                                    size=10, default=(0.0,) * 10, soft_min=-3.0, soft_max=3.0, min=-10.0, max=10.0)

    edit_prompt: StringProperty(name="Edit Prompt", description="What the person does inside the edit range",
                                default="jumps instead")
    edit_range: EnumProperty(name="Range", items=[("PREVIEW", "Preview Range", "The scene's preview range"),
                                                  ("FRAMES", "Frames", "The two frame fields below")],
                             default="PREVIEW")
    edit_start: IntProperty(name="Start", default=60)
    edit_end: IntProperty(name="End", default=100)

    takes: CollectionProperty(type=MOSCALE_PG_take)
    active_take_index: IntProperty(name="Active Take", default=-1, update=_on_active_take)
    take_counter: IntProperty(name="Takes Made", default=0, description="Numbers new takes; never decreases")
    show_details: BoolProperty(name="Show Take Details", default=False)


classes = (MOSCALE_PG_take, MOSCALE_PG_settings)
_register_classes, _unregister_classes = bpy.utils.register_classes_factory(classes)


def register() -> None:
    _register_classes()
    bpy.types.Scene.moscale = PointerProperty(type=MOSCALE_PG_settings)


def unregister() -> None:
    del bpy.types.Scene.moscale
    _unregister_classes()
