"""Operators. Generate and Edit run the backend in a worker thread and poll it from a modal timer (invoked from
the UI); called from a script (EXEC) they run synchronously and return once the keys are written."""
from __future__ import annotations

import random
from pathlib import Path

import bpy
from bpy.props import IntProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from . import character, jobs, takes

_POLL_SECONDS = 0.1


def _redraw_panels(context: bpy.types.Context) -> None:
    screen = context.screen
    for area in (screen.areas if screen is not None else ()):
        if area.type == 'VIEW_3D':
            area.tag_redraw()


class _JobOperator:
    """Shared modal/EXEC flow; subclasses say how to plan and start their job."""

    _job: jobs.Job | None = None
    _timer = None

    def plan(self, context) -> tuple:
        raise NotImplementedError

    def make_job(self, request, plan, start: bool) -> jobs.Job:
        raise NotImplementedError

    @classmethod
    def poll(cls, context) -> bool:
        return context.scene is not None and jobs.active_job() is None

    def _prepare(self, context, start: bool) -> jobs.Job | None:
        try:
            request, plan = self.plan(context)
            return self.make_job(request, plan, start)
        except (takes.TakeError, jobs.BackendError) as error:
            self.report({'ERROR'}, str(error))
            return None

    def execute(self, context) -> set[str]:
        job = self._prepare(context, start=False)
        if job is None:
            return {'CANCELLED'}
        return self._finish(context, job.run())

    def invoke(self, context, event) -> set[str]:
        job = self._prepare(context, start=True)
        if job is None:
            return {'CANCELLED'}
        self._job = job
        wm = context.window_manager
        self._timer = wm.event_timer_add(_POLL_SECONDS, window=context.window)
        wm.modal_handler_add(self)
        context.workspace.status_text_set(f"MoScale: {job.kind} starting (Esc to cancel)")
        return {'RUNNING_MODAL'}

    def modal(self, context, event) -> set[str]:
        job = self._job
        if event.type == 'ESC' and event.value == 'PRESS':
            job.cancel()
        elif event.type != 'TIMER':
            return {'PASS_THROUGH'}
        state = jobs.poll_job(job)
        if state not in jobs.FINAL_STATES:
            context.workspace.status_text_set(
                f"MoScale: {job.kind} {job.progress:.0%} {job.message} (Esc to cancel)")
            _redraw_panels(context)
            return {'RUNNING_MODAL'}
        context.window_manager.event_timer_remove(self._timer)
        self._timer = None
        context.workspace.status_text_set(None)
        _redraw_panels(context)
        return self._finish(context, job)

    def cancel(self, context) -> None:
        # Blender calls this when the operator is aborted (e.g. the file is closed): never leave a timer behind
        if self._job is not None:
            self._job.cancel()
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
        if context.workspace is not None:
            context.workspace.status_text_set(None)

    def _finish(self, context, job: jobs.Job) -> set[str]:
        if job.state == jobs.CANCELLED:
            self.report({'WARNING'}, f"MoScale {job.kind} cancelled; the scene is unchanged.")
            return {'CANCELLED'}
        if job.state == jobs.FAILED:
            self.report({'ERROR'}, f"MoScale {job.kind} failed: {job.error}")
            return {'CANCELLED'}
        try:
            new_takes = takes.apply_result(context, job)
        except ValueError as error:  # TakeError, or a motion the retargeter refuses
            self.report({'ERROR'}, f"MoScale could not apply the {job.kind} result: {error}")
            return {'CANCELLED'}
        names = ", ".join(take.name for take in new_takes)
        self.report({'INFO'}, f"MoScale: new take {names} ({new_takes[0].frame_count} frames)")
        for warning in job.warnings:  # after the INFO line, so the status bar shows it
            self.report({'WARNING'}, f"MoScale: {warning}")
        return {'FINISHED'}


class MOSCALE_OT_generate(_JobOperator, bpy.types.Operator):
    """Generate a motion from the prompt and key it onto the target armature as a new take"""

    bl_idname = "moscale.generate"
    bl_label = "Generate"
    bl_options = {'REGISTER', 'UNDO'}

    def plan(self, context) -> tuple:
        return takes.plan_generate(context)

    def make_job(self, request, plan, start: bool) -> jobs.Job:
        if start:
            return jobs.start_generate_job(request, plan)
        return jobs.Job("generate", jobs.generate_work(request), plan)


class MOSCALE_OT_edit(_JobOperator, bpy.types.Operator):
    """Regenerate the edit range of the active take from the edit prompt, as a new take (keys outside stay as they are)"""

    bl_idname = "moscale.edit"
    bl_label = "Edit Range"
    bl_options = {'REGISTER', 'UNDO'}

    def plan(self, context) -> tuple:
        return takes.plan_edit(context)

    def make_job(self, request, plan, start: bool) -> jobs.Job:
        if start:
            return jobs.start_edit_job(request, plan)
        return jobs.Job("edit", jobs.edit_work(request), plan)


class MOSCALE_OT_cancel(bpy.types.Operator):
    """Stop the running MoScale job; the scene stays as it was"""

    bl_idname = "moscale.cancel"
    bl_label = "Cancel"
    bl_options = {'INTERNAL'}

    @classmethod
    def poll(cls, context) -> bool:
        return jobs.active_job() is not None

    def execute(self, context) -> set[str]:
        jobs.active_job().cancel()
        return {'FINISHED'}


class MOSCALE_OT_random_seed(bpy.types.Operator):
    """Pick a new random seed"""

    bl_idname = "moscale.random_seed"
    bl_label = "Random Seed"
    bl_options = {'REGISTER', 'UNDO'}

    def execute(self, context) -> set[str]:
        context.scene.moscale.seed = random.randrange(2**31 - 1)
        return {'FINISHED'}


class MOSCALE_OT_create_smpl_character(bpy.types.Operator):
    """Add the SMPL character: an SMPL-22 armature with the real SMPL body (your model files) or a mannequin"""

    bl_idname = "moscale.create_smpl_character"
    bl_label = "Create SMPL Character"
    bl_options = {'REGISTER', 'UNDO'}

    def execute(self, context) -> set[str]:
        try:
            obj = takes.make_smpl_character(context)
        except takes.TakeError as error:  # the model files were checked before anything was added
            self.report({'ERROR'}, f"No SMPL character created: {error}")
            return {'CANCELLED'}
        body = obj.get(character.BODY_KEY)
        if body is not None:
            self.report({'INFO'}, f"Created '{obj.name}' with the {body['gender']} {body['model_type'].upper()} body "
                                  f"from {body['file']}")
        else:
            self.report({'INFO'}, f"Created '{obj.name}' with the mannequin body. For a real SMPL body, download "
                                  "SMPL / SMPL-H / SMPL-X model files (https://smpl.is.tue.mpg.de/, .npz preferred) "
                                  "and set 'SMPL Model Folder' in Preferences > Add-ons > MoScale.")
        return {'FINISHED'}


class MOSCALE_OT_import_amass(bpy.types.Operator, ImportHelper):
    """Import an AMASS-style .npz (SMPL, SMPL-H or SMPL-X poses, or a MoScale .npz) as a new take on the target"""

    bl_idname = "moscale.import_amass"
    bl_label = "Import AMASS .npz"
    bl_options = {'REGISTER', 'UNDO'}

    filename_ext = ".npz"
    filter_glob: StringProperty(default="*.npz", options={'HIDDEN'})

    @classmethod
    def poll(cls, context) -> bool:
        return context.scene is not None and jobs.active_job() is None

    def execute(self, context) -> set[str]:
        from moscale.motion import Motion

        path = Path(bpy.path.abspath(self.filepath))
        if path.suffix.lower() != ".npz":
            self.report({'ERROR'}, f"{path.name}: pick an .npz file (AMASS poses/trans, or a MoScale motion).")
            return {'CANCELLED'}
        try:
            motion = Motion.load(path)  # everything is read and checked before the scene changes
            plan = takes.plan_import(context, motion.prompt or path.stem)
            take = takes.apply_import(context, plan, motion)
        except FileNotFoundError:
            self.report({'ERROR'}, f"{path} does not exist.")
            return {'CANCELLED'}
        except ValueError as error:  # a bad file, a missing armature, unusable SMPL model files (TakeError)
            self.report({'ERROR'}, f"Nothing imported: {error}")
            return {'CANCELLED'}
        self.report({'INFO'}, f"MoScale: new take {take.name} from {path.name} ({motion.num_frames} frames at "
                              f"{motion.fps:g} fps)")
        return {'FINISHED'}


class _TakeOperator:
    index: IntProperty(name="Take", default=-1, description="Take index; -1 for the active take")

    @classmethod
    def poll(cls, context) -> bool:
        return context.scene is not None and len(context.scene.moscale.takes) > 0

    def take_index(self, context) -> int | None:
        settings = context.scene.moscale
        index = self.index if self.index >= 0 else settings.active_take_index
        if not 0 <= index < len(settings.takes):
            self.report({'ERROR'}, f"No take {index}: the list has {len(settings.takes)}.")
            return None
        return index


class MOSCALE_OT_take_activate(_TakeOperator, bpy.types.Operator):
    """Make this take the armature's current action"""

    bl_idname = "moscale.take_activate"
    bl_label = "Switch to Take"
    bl_options = {'REGISTER', 'UNDO'}

    def execute(self, context) -> set[str]:
        index = self.take_index(context)
        if index is None:
            return {'CANCELLED'}
        context.scene.moscale.active_take_index = index
        return {'FINISHED'}


class MOSCALE_OT_take_duplicate(_TakeOperator, bpy.types.Operator):
    """Copy the take (its action too) so it can be changed without losing the original"""

    bl_idname = "moscale.take_duplicate"
    bl_label = "Duplicate Take"
    bl_options = {'REGISTER', 'UNDO'}

    def execute(self, context) -> set[str]:
        index = self.take_index(context)
        if index is None:
            return {'CANCELLED'}
        try:
            takes.duplicate(context.scene.moscale, index)
        except takes.TakeError as error:
            self.report({'ERROR'}, str(error))
            return {'CANCELLED'}
        return {'FINISHED'}


class MOSCALE_OT_take_rename(_TakeOperator, bpy.types.Operator):
    """Rename the take (and its action)"""

    bl_idname = "moscale.take_rename"
    bl_label = "Rename Take"
    bl_options = {'REGISTER', 'UNDO'}

    name: StringProperty(name="Name")

    def invoke(self, context, event) -> set[str]:
        index = self.take_index(context)
        if index is None:
            return {'CANCELLED'}
        self.name = context.scene.moscale.takes[index].name
        return context.window_manager.invoke_props_dialog(self)

    def execute(self, context) -> set[str]:
        index = self.take_index(context)
        if index is None:
            return {'CANCELLED'}
        if not self.name.strip():
            self.report({'ERROR'}, "A take needs a name.")
            return {'CANCELLED'}
        context.scene.moscale.takes[index].name = self.name.strip()
        return {'FINISHED'}


class MOSCALE_OT_take_delete(_TakeOperator, bpy.types.Operator):
    """Remove the take from the list (its action is deleted unless something else uses it)"""

    bl_idname = "moscale.take_delete"
    bl_label = "Delete Take"
    bl_options = {'REGISTER', 'UNDO'}

    def execute(self, context) -> set[str]:
        index = self.take_index(context)
        if index is None:
            return {'CANCELLED'}
        takes.delete(context.scene.moscale, index)
        return {'FINISHED'}


classes = (
    MOSCALE_OT_generate,
    MOSCALE_OT_edit,
    MOSCALE_OT_cancel,
    MOSCALE_OT_random_seed,
    MOSCALE_OT_create_smpl_character,
    MOSCALE_OT_import_amass,
    MOSCALE_OT_take_activate,
    MOSCALE_OT_take_duplicate,
    MOSCALE_OT_take_rename,
    MOSCALE_OT_take_delete,
)
register, unregister = bpy.utils.register_classes_factory(classes)
