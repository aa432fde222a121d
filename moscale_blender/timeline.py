"""The Timeline sub-panel: a list of segments (prompt + seconds) generated as one take, each segment continuing the
one before (the backend's moscale.pipeline.timeline). The take is an ordinary Generate take, so Edit Range re-makes any
segment's frames alone: Generate Timeline reports each segment's scene frames for that."""
from __future__ import annotations

import dataclasses

import bpy
from bpy.props import CollectionProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from . import checks, jobs, takes
from .operators import _JobOperator

MIN_SECONDS, MAX_SECONDS = 0.5, 60.0


class MOSCALE_PG_segment(bpy.types.PropertyGroup):
    prompt: StringProperty(name="Prompt", description="What happens in this segment, e.g. 'walks forward'")
    seconds: FloatProperty(name="Seconds", default=2.0, min=MIN_SECONDS, max=MAX_SECONDS, precision=1,
                           description="Length of this segment")


class MOSCALE_PG_timeline(bpy.types.PropertyGroup):
    segments: CollectionProperty(type=MOSCALE_PG_segment)
    active: IntProperty(name="Active Segment", default=0)


class MOSCALE_UL_segments(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_property, index=0, flt_flag=0):
        row = layout.row(align=True)
        row.label(text=f"{index + 1}.")
        row.prop(item, "prompt", text="", emboss=False)
        row.prop(item, "seconds", text="")


def timeline_of(context) -> MOSCALE_PG_timeline:
    return context.scene.moscale_timeline


def plan_sequence(context) -> tuple[jobs.GenerateRequest, takes.GeneratePlan]:
    """The Generate plan (target, model, seed, guidance, quality from the main panel) with the timeline's segments;
    raises TakeError with what to fix."""
    segments = [(s.prompt.strip(), float(s.seconds)) for s in timeline_of(context).segments]
    if not segments:
        raise takes.TakeError("The timeline is empty: add a segment (+) with a prompt and its seconds.")
    for number, (prompt, seconds) in enumerate(segments, start=1):
        if not prompt:
            raise takes.TakeError(f"Segment {number} has no prompt: type what happens in it, e.g. 'walks forward'.")
        checks.check_prompt(prompt, f"Segment {number}")
        if not MIN_SECONDS <= seconds <= MAX_SECONDS:
            raise takes.TakeError(f"Segment {number} is {seconds:g} s; use {MIN_SECONDS:g} to {MAX_SECONDS:g} s.")
    total = sum(seconds for _, seconds in segments)
    if total > MAX_SECONDS:
        raise takes.TakeError(f"The timeline is {total:.1f} s long; at most {MAX_SECONDS:g} s in one take.")
    # the main panel's checks and choices (target armature, model, quality), with the timeline as the prompt
    request, plan = takes.plan_generate(context, " | ".join(prompt for prompt, _ in segments))
    request = dataclasses.replace(request, seconds=total, num_samples=1, segments=tuple(segments))
    plan = dataclasses.replace(plan, seconds=total)
    return request, plan


def segment_scene_frames(take, motion) -> list[tuple[int, int]]:
    """(first, last) scene frames of each timeline segment of `motion` as keyed on `take`: the segments are in the
    model's 20 fps frames, the take at the scene's rate; each ends where the next begins, the last with the take."""
    segments = motion.metadata.get("segments", [])
    scale = take.fps / motion.fps
    starts = [take.frame_start + round(segment["start"] * scale) for segment in segments]
    return list(zip(starts, [start - 1 for start in starts[1:]] + [take.frame_start + take.frame_count - 1]))


class MOSCALE_OT_timeline_generate(_JobOperator, bpy.types.Operator):
    """Generate the timeline's segments as one new take, each continuing the one before"""

    bl_idname = "moscale.timeline_generate"
    bl_label = "Generate Timeline"
    bl_options = {'REGISTER', 'UNDO'}

    def plan(self, context) -> tuple:
        return plan_sequence(context)

    def make_job(self, request, plan, start: bool) -> jobs.Job:
        if start:
            return jobs.start_generate_job(request, plan)
        return jobs.Job("generate", jobs.generate_work(request), plan)

    def _finish(self, context, job: jobs.Job) -> set[str]:
        result = super()._finish(context, job)
        if result == {'FINISHED'}:
            take = context.scene.moscale.takes[-1]  # the take just made
            ranges = ", ".join(f"{n}: {first}-{last}" for n, (first, last)
                               in enumerate(segment_scene_frames(take, job.result[0]), start=1))
            self.report({'INFO'}, f"MoScale timeline segments (frames): {ranges}")
        return result


class MOSCALE_OT_segment_add(bpy.types.Operator):
    """Add a segment after the active one"""

    bl_idname = "moscale.segment_add"
    bl_label = "Add Segment"
    bl_options = {'REGISTER', 'UNDO'}

    def execute(self, context) -> set[str]:
        timeline = timeline_of(context)
        segment = timeline.segments.add()
        segment.seconds = 2.0
        index = min(timeline.active + 1, len(timeline.segments) - 1) if len(timeline.segments) > 1 else 0
        timeline.segments.move(len(timeline.segments) - 1, index)
        timeline.active = index
        return {'FINISHED'}


class MOSCALE_OT_segment_remove(bpy.types.Operator):
    """Remove the active segment"""

    bl_idname = "moscale.segment_remove"
    bl_label = "Remove Segment"
    bl_options = {'REGISTER', 'UNDO'}

    @classmethod
    def poll(cls, context) -> bool:
        return context.scene is not None and len(timeline_of(context).segments) > 0

    def execute(self, context) -> set[str]:
        timeline = timeline_of(context)
        timeline.segments.remove(timeline.active)
        timeline.active = max(0, min(timeline.active, len(timeline.segments) - 1))
        return {'FINISHED'}


class MOSCALE_OT_segment_move(bpy.types.Operator):
    """Move the active segment up or down"""

    bl_idname = "moscale.segment_move"
    bl_label = "Move Segment"
    bl_options = {'REGISTER', 'UNDO'}

    direction: IntProperty(default=-1)

    def execute(self, context) -> set[str]:
        timeline = timeline_of(context)
        target = timeline.active + self.direction
        if 0 <= target < len(timeline.segments):
            timeline.segments.move(timeline.active, target)
            timeline.active = target
        return {'FINISHED'}


class MOSCALE_PT_timeline(bpy.types.Panel):
    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = "MoScale"
    bl_parent_id = "MOSCALE_PT_main"
    bl_label = "Timeline"
    bl_options = {'DEFAULT_CLOSED'}

    def draw(self, context) -> None:
        layout = self.layout
        timeline = timeline_of(context)
        row = layout.row()
        row.template_list("MOSCALE_UL_segments", "", timeline, "segments", timeline, "active", rows=3)
        column = row.column(align=True)
        column.operator("moscale.segment_add", text="", icon='ADD')
        column.operator("moscale.segment_remove", text="", icon='REMOVE')
        column.separator()
        column.operator("moscale.segment_move", text="", icon='TRIA_UP').direction = -1
        column.operator("moscale.segment_move", text="", icon='TRIA_DOWN').direction = 1
        total = sum(s.seconds for s in timeline.segments)
        layout.label(text=f"{len(timeline.segments)} segments, {total:.1f} s (target, seed, quality: above)")
        layout.operator("moscale.timeline_generate", icon='SEQ_SEQUENCER')


classes = (MOSCALE_PG_segment, MOSCALE_PG_timeline, MOSCALE_UL_segments, MOSCALE_OT_timeline_generate,
           MOSCALE_OT_segment_add, MOSCALE_OT_segment_remove, MOSCALE_OT_segment_move, MOSCALE_PT_timeline)
_register_classes, _unregister_classes = bpy.utils.register_classes_factory(classes)


def register() -> None:
    _register_classes()
    bpy.types.Scene.moscale_timeline = PointerProperty(type=MOSCALE_PG_timeline)


def unregister() -> None:
    del bpy.types.Scene.moscale_timeline
    _unregister_classes()
