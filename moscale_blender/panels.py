"""The MoScale tab in the 3D View sidebar: Generate, Edit, Takes."""
from __future__ import annotations

import bpy

from . import export, jobs, preferences, properties, rig, takes, torch_install


class MOSCALE_UL_takes(bpy.types.UIList):
    """Takes with their prompt; double-click renames."""

    def draw_item(self, context, layout, data, item, icon, active_data, active_property, index=0, flt_flag=0):
        kind_icon = {"GENERATE": 'ARMATURE_DATA', "EDIT": 'SEQ_STRIP_DUPLICATE', "DUPLICATE": 'DUPLICATE',
                     "IMPORT": 'IMPORT', "ORIGINAL": 'ACTION'}[item.kind]
        row = layout.row(align=True)
        row.prop(item, "name", text="", emboss=False, icon=kind_icon)
        detail = item.prompt if item.kind != "EDIT" else f"{item.edit_start}-{item.edit_end}: {item.prompt}"
        if item.kind == "ORIGINAL":  # the armature's own action from before MoScale: kept, never overwritten
            detail = f"{item.action.name if item.action else '?'} (the armature's own animation)"
        row.label(text=detail)


class _MoScalePanel:
    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = "MoScale"


class _MoScaleSubpanel(_MoScalePanel):
    bl_parent_id = "MOSCALE_PT_main"


def _draw_job(layout) -> bool:
    """Progress bar, Cancel and the prompt warnings while a job runs; True when one runs."""
    job = jobs.active_job()
    if job is not None:
        row = layout.row(align=True)
        message = "" if job.message.startswith(jobs.WARNING) else job.message
        row.progress(factor=job.progress, type='BAR', text=f"{job.kind.title()} {job.progress:.0%} {message}")
        row.operator("moscale.cancel", text="", icon='CANCEL')
    for warning in job.warnings if job is not None else ():
        _draw_warning(layout, warning)
    return job is not None


def _prompt_warnings(prompt: str) -> list[str]:
    """What to warn about under the prompt when no job runs: the command line's text checks (not English, only
    invisible characters), the check made while typing, and the last job's."""
    text = jobs.text_warnings(prompt)
    if text is None:  # the backend's checks are not loaded yet (a file opened with its prompt)
        properties.load_checks_later()
    warnings = [*(text or ()), jobs.prompt_warning(prompt) or "", *jobs.last_warnings()]
    return list(dict.fromkeys(w for w in warnings if w))


def _draw_warning(layout, text: str, width: int = 60) -> None:
    """A warning in short lines (a panel label does not wrap): the first with a warning icon."""
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    column = layout.column(align=True)
    for number, text_line in enumerate(lines + [line] if line else lines):
        column.label(text=text_line, icon='ERROR' if number == 0 else 'BLANK1')


def _draw_body(layout, context) -> None:
    """The SMPL character's body: gender, model and shape with the user's model files, else where to get them."""
    settings = context.scene.moscale
    if preferences.smpl_model_folder(context):
        row = layout.row(align=True)
        row.prop(settings, "smpl_gender", text="")
        row.prop(settings, "smpl_model_type", text="")
        layout.prop(settings, "smpl_betas")
    else:
        layout.label(text="Mannequin body; real SMPL body: set SMPL Model Folder", icon='INFO')
        layout.label(text="in Preferences (files from https://smpl.is.tue.mpg.de/)")


def _draw_controls(layout, settings) -> None:
    """Control beyond words: the path to follow, the armature's keyed poses, loop and in place."""
    layout.prop(settings, "path_object", icon='CURVE_PATH')
    if settings.path_object is not None:
        layout.prop(settings, "length_from_path")
    layout.prop(settings, "keyed_poses")
    row = layout.row(align=True)
    row.prop(settings, "loop", toggle=True)
    row.prop(settings, "in_place", toggle=True)


class MOSCALE_PT_main(_MoScalePanel, bpy.types.Panel):
    bl_label = "MoScale"

    def draw(self, context) -> None:
        layout = self.layout
        settings = context.scene.moscale
        layout.prop(settings, "prompt", text="")
        for warning in _prompt_warnings(settings.prompt) if jobs.active_job() is None else ():
            _draw_warning(layout, warning)  # the running job shows its own under the progress bar
        if settings.path_object is not None and settings.length_from_path:
            layout.label(text="Length: the path at the prompt's pace", icon='CURVE_PATH')
        else:
            row = layout.row(align=True)
            row.prop(settings, "seconds")
            frames = round(settings.seconds * rig.scene_fps(context.scene))
            layout.label(text=f"= {frames} frames at {rig.scene_fps(context.scene):g} fps")
        row = layout.row(align=True)
        row.prop(settings, "seed")
        row.operator("moscale.random_seed", text="", icon='FILE_REFRESH')
        layout.prop(settings, "guidance")
        layout.prop(settings, "quality")
        layout.prop(settings, "variations")
        layout.prop(settings, "foot_lock")
        _draw_controls(layout.box(), settings)

        box = layout.box()
        box.prop(settings, "target")
        if settings.target == 'ACTIVE':
            obj = takes.armature_of(context.active_object)
            box.label(text=obj.name if obj is not None else "Select an armature", icon='ARMATURE_DATA')
            box.prop(settings, "bone_map_path")
        else:
            character = settings.smpl_character
            box.label(text=character.name if character is not None else "Created on the first Generate",
                      icon='OUTLINER_OB_ARMATURE')
        _draw_body(box, context)
        box.operator("moscale.create_smpl_character", icon='ADD')

        if torch_install.needs_attention():
            torch_install.draw_install(layout, context)  # the light build: PyTorch comes later
        if not _draw_job(layout):
            layout.operator("moscale.generate", icon='PLAY')


class MOSCALE_PT_edit(_MoScaleSubpanel, bpy.types.Panel):
    bl_label = "Edit"

    def draw(self, context) -> None:
        layout = self.layout
        settings, scene = context.scene.moscale, context.scene
        layout.prop(settings, "edit_prompt", text="")
        layout.prop(settings, "edit_range", expand=True)
        if settings.edit_range == 'PREVIEW':
            if scene.use_preview_range:
                layout.label(text=f"Frames {scene.frame_preview_start}-{scene.frame_preview_end}")
            else:
                layout.label(text="Set a preview range (Ctrl P in the timeline)", icon='INFO')
        else:
            row = layout.row(align=True)
            row.prop(settings, "edit_start")
            row.prop(settings, "edit_end")
        try:  # say which take Edit Range will change: the selected armature's, not silently another one's
            source = takes.edit_source(context)
            layout.label(text=f"Edits: {source.name} on {source.armature.name if source.armature else '?'}",
                         icon='ACTION')
        except takes.TakeError as error:
            layout.label(text=str(error), icon='INFO')
        if jobs.active_job() is None:
            layout.operator("moscale.edit", icon='SEQ_STRIP_DUPLICATE')


class MOSCALE_PT_takes(_MoScaleSubpanel, bpy.types.Panel):
    bl_label = "Takes"

    def draw(self, context) -> None:
        layout = self.layout
        settings = context.scene.moscale
        row = layout.row()
        row.template_list("MOSCALE_UL_takes", "", settings, "takes", settings, "active_take_index", rows=4)
        column = row.column(align=True)
        column.operator("moscale.take_duplicate", text="", icon='DUPLICATE')
        column.operator("moscale.take_rename", text="", icon='GREASEPENCIL')
        column.operator("moscale.take_delete", text="", icon='X')
        layout.operator("moscale.import_amass", icon='IMPORT')
        index = settings.active_take_index
        if 0 <= index < len(settings.takes):
            take = settings.takes[index]
            layout.prop(settings, "show_details", text="Details", icon='TRIA_DOWN' if settings.show_details else 'TRIA_RIGHT',
                        emboss=False)
            if settings.show_details:
                column = layout.column(align=True)
                column.label(text=f"Prompt: {take.prompt}")
                column.label(text=f"Armature: {take.armature.name if take.armature else '-'}")
                column.label(text=f"Frames {take.frame_start}-{take.frame_start + take.frame_count - 1} "
                                  f"at {take.fps:g} fps")
                column.label(text=f"Seed {take.seed}, guidance {take.guidance:g}, {take.quality}")
                if take.source_take:
                    column.label(text=f"From: {take.source_take}")


class MOSCALE_PT_export(_MoScaleSubpanel, bpy.types.Panel):
    bl_label = "Export"
    bl_options = {'DEFAULT_CLOSED'}

    def draw(self, context) -> None:
        layout = self.layout
        try:
            target = export.export_target(context)
        except export.ExportError as error:
            layout.label(text=str(error), icon='INFO')
            return
        layout.label(text=f"{target.name}: frames {target.frame_start}-{target.frame_end}", icon='ACTION')
        row = layout.row(align=True)
        for preset, label, _ in export.PRESET_ITEMS:
            row.operator("moscale.export_fbx", text=f"FBX {label}", icon='EXPORT').preset = preset
        row = layout.row(align=True)
        row.operator("moscale.export_bvh", text="BVH", icon='EXPORT')
        row.operator("moscale.export_amass", text="AMASS .npz", icon='EXPORT')


classes = (MOSCALE_UL_takes, MOSCALE_PT_main, MOSCALE_PT_edit, MOSCALE_PT_takes, MOSCALE_PT_export)
register, unregister = bpy.utils.register_classes_factory(classes)
