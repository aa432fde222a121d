"""Export the current take as FBX (Unity / Unreal presets) or BVH through Blender's own exporters, or as an
AMASS-style .npz (SMPL pose parameters of the take's motion, computed by the backend).

    target = export_target(context)                      # the active take: armature, action, frame range
    export_fbx(context, target, "walk.fbx", "UNITY")     # armature + its skinned meshes, baked animation
    export_bvh(context, target, "walk.bvh")
    export_amass(context, target, "walk.npz")            # poses, trans, betas, gender (+ MoScale's own keys)

Both functions leave the scene as they found it (selection, active object, assigned action, frame range, names);
the operators add the file browser, and refuse to overwrite an existing file the browser did not confirm.
"""
from __future__ import annotations

import contextlib
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np
from bpy.props import BoolProperty, EnumProperty, StringProperty
from bpy_extras.io_utils import ExportHelper

from . import character, keyframes, takes

# Options every FBX export shares: the armature and the meshes it deforms (without a skinned mesh an importer takes
# the current pose as the rest pose), baked keys on every frame, no leaf bones, only the take's action.
FBX_COMMON = dict(
    use_selection=True, object_types={'ARMATURE', 'MESH'}, use_mesh_modifiers=False, mesh_smooth_type='FACE',
    add_leaf_bones=False, primary_bone_axis='Y', secondary_bone_axis='X', armature_nodetype='NULL',
    use_armature_deform_only=False, bake_anim=True, bake_anim_use_all_bones=True, bake_anim_use_nla_strips=False,
    bake_anim_use_all_actions=False, bake_anim_force_startend_keying=True, bake_anim_step=1.0,
    bake_anim_simplify_factor=0.0,  # keep every baked key: positions survive to well under a millimetre
    path_mode='AUTO', embed_textures=False, use_custom_props=False, use_metadata=True,
)
# Both engines import FBX as Y up, -Z forward; a character facing Blender's front (-Y) then faces Unity's +Z and
# Unreal's +Y, as their mannequins do. Unity: sizes baked into the file so the imported scale is 1. Unreal: the file
# in centimetres (its unit) and an armature object named "Armature", which Unreal's importer does not add as a bone.
FBX_PRESETS = {
    "UNITY": dict(axis_forward='-Z', axis_up='Y', global_scale=1.0, apply_unit_scale=True,
                  apply_scale_options='FBX_SCALE_ALL', bake_space_transform=False),
    "UNREAL": dict(axis_forward='-Z', axis_up='Y', global_scale=1.0, apply_unit_scale=True,
                   apply_scale_options='FBX_SCALE_NONE', bake_space_transform=False),
}
PRESET_ITEMS = [
    ("UNITY", "Unity", "Y up, -Z forward, scale applied (imports at scale 1), no leaf bones, baked animation"),
    ("UNREAL", "Unreal", "Y up, -Z forward, centimetres, armature exported as 'Armature' (no extra root bone), "
                         "no leaf bones, baked animation"),
]
UNREAL_ARMATURE_NAME = "Armature"


class ExportError(ValueError):
    """Nothing (or nothing valid) to export, worded for a report."""


@dataclass(frozen=True)
class ExportTarget:
    armature: bpy.types.Object
    action: bpy.types.Action
    frame_start: int  # inclusive scene frames
    frame_end: int
    name: str         # the take's name (or the armature's)

    @property
    def file_stem(self) -> str:
        return bpy.path.clean_name(self.name)


def export_target(context: bpy.types.Context) -> ExportTarget:
    """The active take (its armature and action), else the active armature's current action."""
    settings = getattr(context.scene, "moscale", None)
    take = takes.active_take(settings) if settings is not None else None
    if take is not None:
        if take.armature is None or take.action is None:
            raise ExportError(f"Take '{take.name}' lost its armature or action; pick another take.")
        return ExportTarget(take.armature, take.action, take.frame_start, take.frame_start + take.frame_count - 1,
                            take.name)
    obj = takes.armature_of(context.active_object)
    action = obj.animation_data.action if obj is not None and obj.animation_data is not None else None
    if action is None:
        raise ExportError("Nothing to export: generate a take first, or select an armature that has an action.")
    first, last = (int(round(frame)) for frame in action.frame_range)
    return ExportTarget(obj, action, first, last, obj.name)


def deformed_meshes(rig: bpy.types.Object) -> list[bpy.types.Object]:
    """Meshes the armature deforms (an Armature modifier pointing at it) or parents."""
    meshes = []
    for obj in bpy.data.objects:
        if obj.type != 'MESH':
            continue
        deformed = any(m.type == 'ARMATURE' and m.object == rig for m in obj.modifiers)
        if deformed or obj.parent == rig:
            meshes.append(obj)
    return meshes


def _from_frame_zero(action: bpy.types.Action, first: int) -> bpy.types.Action:
    """A copy of ``action`` with every key ``first`` frames earlier. Blender's FBX exporter writes keys at their scene
    times and its importer plays time 0 at frame 1 (its default offset), so a take keyed at frames 1-60 came back at
    2-61; a clip that starts at time 0 comes back where Blender's own exporter's does, and starts at 0 in an engine."""
    copy = action.copy()
    copy.use_fake_user = False
    for fcurve in keyframes.action_fcurves(copy):
        for name in ("co", "handle_left", "handle_right"):
            points = np.empty(2 * len(fcurve.keyframe_points))
            fcurve.keyframe_points.foreach_get(name, points)
            points[0::2] -= first
            fcurve.keyframe_points.foreach_set(name, points)
        fcurve.update()
    return copy


@contextlib.contextmanager
def _posed_for_export(context: bpy.types.Context, target: ExportTarget, rename_to: str | None = None,
                      from_zero: bool = False):
    """Select the armature and its meshes, assign the take's action, set the frame range; undo all of it after.
    With ``from_zero`` the action is a copy whose first frame is frame 0 (``_from_frame_zero``), removed after."""
    scene, view_layer = context.scene, context.view_layer
    rig = target.armature
    was_posing = context.mode == 'POSE'  # animators export from Pose Mode: come back to it
    if context.mode != 'OBJECT' and view_layer.objects.active is not None:
        bpy.ops.object.mode_set(mode='OBJECT')
    exported = [rig] + [mesh for mesh in deformed_meshes(rig) if mesh.name in view_layer.objects]
    selected = [obj for obj in view_layer.objects if obj.select_get()]
    active = view_layer.objects.active
    frames = scene.frame_start, scene.frame_end, scene.frame_current
    animation = rig.animation_data
    previous = (animation.action, getattr(animation, "action_slot", None)) if animation is not None else (None, None)
    old_name = rig.name
    shifted = _from_frame_zero(target.action, target.frame_start) if from_zero else None
    try:
        for obj in selected:
            obj.select_set(False)
        for obj in exported:
            obj.select_set(True)
        view_layer.objects.active = rig
        keyframes.assign(rig, shifted or target.action)
        first = 0 if from_zero else target.frame_start
        scene.frame_start, scene.frame_end = first, first + target.frame_end - target.frame_start
        if rename_to and rig.name != rename_to and bpy.data.objects.get(rename_to) is None:
            rig.name = rename_to
        yield exported
    finally:
        rig.name = old_name
        keyframes.assign(rig, previous[0])
        if shifted is not None:
            bpy.data.actions.remove(shifted)
        if previous[1] is not None and rig.animation_data is not None:
            rig.animation_data.action_slot = previous[1]
        scene.frame_start, scene.frame_end = frames[0], frames[1]
        scene.frame_set(frames[2])
        for obj in view_layer.objects:
            obj.select_set(obj in selected)
        view_layer.objects.active = active
        if was_posing and active is not None and active.type == 'ARMATURE':
            bpy.ops.object.mode_set(mode='POSE')


def fbx_options(preset: str) -> dict:
    if preset not in FBX_PRESETS:
        raise ExportError(f"Unknown FBX preset {preset!r}; use one of {', '.join(FBX_PRESETS)}.")
    return {**FBX_COMMON, **FBX_PRESETS[preset]}


def export_fbx(context: bpy.types.Context, target: ExportTarget, filepath: str | Path, preset: str = "UNITY") -> Path:
    """Write ``target`` (armature, its meshes, the action baked over its frame range) to ``filepath``."""
    from moscale.utils import atomic

    options = fbx_options(preset)
    path = Path(bpy.path.abspath(str(filepath)))
    rename = UNREAL_ARMATURE_NAME if preset == "UNREAL" else None
    # Written beside the file and renamed over it: an export that fails half way keeps the previous file.
    with atomic.replacing(path) as temporary, _posed_for_export(context, target, rename, from_zero=True):
        with _traceback_kept_unless_disk_full(path.parent):
            result = bpy.ops.export_scene.fbx(filepath=str(temporary), check_existing=False, **options)
        if result != {'FINISHED'}:
            raise ExportError(f"Blender's FBX exporter did not finish ({', '.join(result)}).")
    return path


@contextlib.contextmanager
def _traceback_kept_unless_disk_full(folder: Path):
    """Hold back what Blender prints to stderr while the block runs (a Python exporter's traceback, which it prints
    before bpy.ops raises the same text), and print it after unless the block failed on a full disk: then the error
    is the one line of ``atomic.DiskFull`` (the panel's report, `moscale export`'s stderr) and the traceback noise."""
    from moscale.utils import atomic

    held, stderr = io.StringIO(), sys.stderr
    sys.stderr = held
    try:
        yield
    except Exception as error:
        sys.stderr = stderr
        if stderr is not None and not atomic.is_disk_full(error, folder):
            stderr.write(held.getvalue())
        raise
    finally:
        if sys.stderr is held:
            sys.stderr = stderr
            if stderr is not None:
                stderr.write(held.getvalue())


def export_bvh(context: bpy.types.Context, target: ExportTarget, filepath: str | Path) -> Path:
    """Write ``target``'s armature and action to BVH in world space, Y up, like ``moscale`` writes BVH.

    Blender's exporter writes armature space, Z up, and has no axis options, while BVH files (and Blender's own
    importer, by default) are Y up: imported with the defaults, its file lay on its back, and a Mixamo rig (object
    turned 90 degrees, scaled 0.01, bones in centimetres) came back lying down at 100 times its size. So the backend
    moves its output by the armature object's world transform, frame by frame, and turns it into the Y-up world
    (``moscale.motion.bvh_convert.bake_transform``) before it replaces ``filepath``."""
    import tempfile

    from moscale.motion import bvh, bvh_convert

    path = Path(bpy.path.abspath(str(filepath)))
    y_up = np.eye(4)
    y_up[:3, :3] = bvh_convert.Y_UP_FROM_Z_UP
    with tempfile.TemporaryDirectory(prefix="moscale-bvh-") as folder:
        z_up = Path(folder) / "z_up.bvh"
        with _posed_for_export(context, target):
            result = bpy.ops.export_anim.bvh(filepath=str(z_up), check_existing=False, frame_start=target.frame_start,
                                             frame_end=target.frame_end, global_scale=1.0, rotate_mode='NATIVE',
                                             root_transform_only=False)
            world_F44 = _world_matrices(context, target)
        if result != {'FINISHED'}:
            raise ExportError(f"Blender's BVH exporter did not finish ({', '.join(result)}).")
        try:
            clip = bvh_convert.bake_transform(bvh.read_bvh(z_up), y_up @ world_F44)
        except ValueError as error:
            raise ExportError(f"Armature '{target.armature.name}': BVH cannot carry its object transform ({error}); "
                              "apply its scale (Ctrl A > Scale) first.") from error
    bvh.write_bvh(path, clip)  # atomic: a failed export keeps the previous file
    return path


def _world_matrices(context: bpy.types.Context, target: ExportTarget) -> np.ndarray:
    """(F, 4, 4) the armature object's world matrix on each exported frame, or (1, 4, 4) when nothing moves it."""
    scene, rig = context.scene, target.armature
    if not _moves_in_world(rig):
        return np.array(rig.matrix_world, dtype=np.float64)[None]
    matrices = []
    for frame in range(target.frame_start, target.frame_end + 1):
        scene.frame_set(frame)
        matrices.append(np.array(rig.evaluated_get(context.evaluated_depsgraph_get()).matrix_world))
    return np.array(matrices, dtype=np.float64)


# An object's own channels that move it (keys or drivers on other paths, such as Rigify's on its pose bones, do not)
_OBJECT_TRANSFORM = {"location", "rotation_euler", "rotation_quaternion", "rotation_axis_angle", "scale",
                     "delta_location", "delta_rotation_euler", "delta_rotation_quaternion", "delta_scale"}


def _moves_in_world(rig: bpy.types.Object) -> bool:
    """Whether anything might move the armature object over frames (else its matrix is read once, which on a
    Rigify rig saves a third of the export): keys or drivers on its transform, NLA, constraints, physics, or a
    parent with any animation, constraints or physics."""
    obj = rig
    while obj is not None:
        data = obj.animation_data
        if obj.constraints or obj.rigid_body is not None or (data is not None and data.nla_tracks):
            return True
        if obj != rig and data is not None and (data.action is not None or data.drivers):
            return True
        obj = obj.parent
    data = rig.animation_data
    paths = keyframes.fcurve_paths(data.action if data is not None else None)
    paths |= {driver.data_path for driver in data.drivers} if data is not None else set()
    return bool(paths & _OBJECT_TRANSFORM)


def export_amass(context: bpy.types.Context, target: ExportTarget, filepath: str | Path) -> Path:
    """Write the take's stored motion as an AMASS-style .npz (``moscale.motion.amass``), at the motion's frame rate.

    On the SMPL character with a real body the pose parameters refer to that body's rest joints and carry its betas
    and gender, and the pelvis path is scaled by its leg length and lifted onto its soles like the body in the scene;
    otherwise they refer to the standard SMPL-22 T-pose with neutral gender and zero betas."""
    from moscale.motion import amass
    from moscale.motion import Motion

    stored = keyframes.stored_motion(target.action)
    if stored is None:
        raise ExportError(f"'{target.name}' has no stored MoScale motion (its action was not made by MoScale); "
                          "generate or import the motion as a take first.")
    joints, fps = stored
    take = takes.active_take(context.scene.moscale) if hasattr(context.scene, "moscale") else None
    motion = Motion(joints, fps, prompt=take.prompt if take is not None else "", metadata={"take": target.name})
    body = character.body_of(target.armature)
    if body is None:
        params = amass.pose_parameters(motion.joints, motion.fps)
    else:
        rest, betas, gender, lift = body
        params = amass.pose_parameters(motion.joints, motion.fps, rest_joints=rest, betas=betas, gender=gender,
                                       root_scale=amass.leg_ratio(rest, motion.joints), lift_m=lift)
    path = Path(bpy.path.abspath(str(filepath)))
    return amass.write_npz(path, motion, params)  # atomic


# ----------------------------------------------------------------------------------------------- operators


class _ExportOperator(ExportHelper):
    """File browser (ExportHelper, check_existing) in the UI; from a script, an existing file is kept unless
    ``check_existing=False`` says to overwrite it."""

    confirmed_in_browser: BoolProperty(default=False, options={'HIDDEN', 'SKIP_SAVE'})

    @classmethod
    def poll(cls, context) -> bool:
        try:
            export_target(context)
        except ExportError as error:
            # greys the button out with the reason as its tooltip, and a script's call fails with it (instead of
            # Blender's bare "poll() failed, context is incorrect")
            cls.poll_message_set(str(error))
            return False
        return True

    def invoke(self, context, event) -> set[str]:
        if not self.filepath:
            try:
                name = export_target(context).file_stem
            except ExportError as error:
                self.report({'ERROR'}, str(error))
                return {'CANCELLED'}
            folder = Path(bpy.path.abspath("//")) if bpy.data.filepath else Path.home()
            self.filepath = str(folder / f"{name}{self.filename_ext}")
        self.confirmed_in_browser = True  # the browser itself warns about (and confirms) an existing file
        context.window_manager.fileselect_add(self)
        return {'RUNNING_MODAL'}

    def write(self, context, target: ExportTarget, path: Path) -> Path:
        raise NotImplementedError

    def execute(self, context) -> set[str]:
        path = Path(bpy.path.ensure_ext(bpy.path.abspath(self.filepath), self.filename_ext))
        if self.check_existing and not self.confirmed_in_browser and path.exists():
            self.report({'ERROR'}, f"{path} exists: confirm it in the file browser, or pass check_existing=False "
                                   "to overwrite it.")
            return {'CANCELLED'}
        try:
            written = self.write(context, export_target(context), path)
        except (ValueError, RuntimeError, OSError) as error:  # ExportError is a ValueError
            self.report({'ERROR'}, f"MoScale export failed: {error}")
            return {'CANCELLED'}
        self.report({'INFO'}, f"MoScale: wrote {written}")
        return {'FINISHED'}


class MOSCALE_OT_export_fbx(_ExportOperator, bpy.types.Operator):
    """Export the current take (armature, skinned meshes, baked animation) as FBX for Unity or Unreal"""

    bl_idname = "moscale.export_fbx"
    bl_label = "Export FBX"
    bl_options = {'REGISTER'}  # writes a file, changes nothing in the scene: no undo step

    filename_ext = ".fbx"
    filter_glob: StringProperty(default="*.fbx", options={'HIDDEN'})
    preset: EnumProperty(name="Preset", items=PRESET_ITEMS, default="UNITY")

    def write(self, context, target: ExportTarget, path: Path) -> Path:
        return export_fbx(context, target, path, self.preset)


class MOSCALE_OT_export_bvh(_ExportOperator, bpy.types.Operator):
    """Export the current take's armature and animation as BVH"""

    bl_idname = "moscale.export_bvh"
    bl_label = "Export BVH"
    bl_options = {'REGISTER'}

    filename_ext = ".bvh"
    filter_glob: StringProperty(default="*.bvh", options={'HIDDEN'})

    def write(self, context, target: ExportTarget, path: Path) -> Path:
        return export_bvh(context, target, path)


class MOSCALE_OT_export_amass(_ExportOperator, bpy.types.Operator):
    """Export the current take's motion as an AMASS-style .npz: SMPL pose parameters, translation, betas, gender"""

    bl_idname = "moscale.export_amass"
    bl_label = "Export AMASS .npz"
    bl_options = {'REGISTER'}

    filename_ext = ".npz"
    filter_glob: StringProperty(default="*.npz", options={'HIDDEN'})

    def write(self, context, target: ExportTarget, path: Path) -> Path:
        return export_amass(context, target, path)


classes = (MOSCALE_OT_export_fbx, MOSCALE_OT_export_bvh, MOSCALE_OT_export_amass)
register, unregister = bpy.utils.register_classes_factory(classes)
