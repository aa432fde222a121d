"""How a rig's feet look after a take, judged on the depsgraph-evaluated pose (constraints, drivers and all): the toe
bone's horizontal travel over each contact plant of the motion, and how low the heel goes. Shared by
tests/blender/test_feet_on_user_rigs.py and benchmarks/rig_feet.py (imported by name)."""
from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np
from moscale.motion.feet import contacts_from_joints, runs

from blender_helpers import fbx_like_rig
from retarget_rigs import mixamo_like_bones
from rig_files import LAFAN_NAMES, other_proportions, renamed_clip, write_clip

HEEL_BONES = {"rigify": ("ORG-heel.02.L", "ORG-heel.02.R")}  # rigs that have heel bones: the heel is theirs
PROMPTS = {"walk": "a person walks forward", "run": "a person runs forward",
           "turn": "a person walks forward and turns around"}


def generated_motion(pipe, kind: str, seed: int = 0, seconds: float = 6.0):
    """A motion of the bundled model (``MoScalePipeline``), foot-locked as the add-on's Generate makes it."""
    return pipe.generate(PROMPTS[kind], seconds=seconds, seed=seed)


def mixamo_style_rig() -> bpy.types.Object:
    """Mixamo-like proportions as a Mixamo FBX imports: object turned 90 degrees about X, scale 0.01, bones in cm."""
    return fbx_like_rig("Mixamo", *mixamo_like_bones("mixamorig:"))


def lafan_style_rig(folder, clip_joints: np.ndarray) -> bpy.types.Object:
    """A LAFAN1-named BVH (centimetres, root at the origin, 8% taller body with 1.8x longer feet than the clip's)
    through Blender's BVH importer with its defaults, as an animator loads one: one Blender unit per centimetre."""
    path = write_clip(folder / "lafan_style.bvh",
                      renamed_clip(other_proportions(clip_joints[:40]), 20.0, LAFAN_NAMES, scale=100.0))
    assert bpy.ops.import_anim.bvh(filepath=str(path)) == {'FINISHED'}
    return bpy.context.active_object


@dataclass(frozen=True)
class FeetReport:
    drift_cm: np.ndarray  # per contact plant of the motion's toe channels: the toe bone's horizontal travel
    heels_cm: np.ndarray  # per frame: the lowest heel point's height above the floor
    feet_cm: np.ndarray  # per frame: the lowest head or tail of the foot bones
    soles_cm: np.ndarray  # per frame: the lowest of the heels, the foot bones' ends and the toe bones' tips

    @property
    def frames_heel_below_1cm(self) -> int:
        return int(np.sum(self.heels_cm < -1.0))


def _heel_points(obj, match, up: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(bone, armature-space rest point) of each heel: a heel bone's head and tail where the rig has heel bones; on
    a rig whose rest pose stands on the z = 0 plane (its toe joints at or a little above it), the point on that
    plane under the ankle; else (a rest pose that is no standing pose) the foot bone's head and tail."""
    bones = obj.data.bones
    names = HEEL_BONES.get(match.map_name)
    if names and all(name in bones for name in names):
        return [(name, np.array(point)) for name in names for point in (bones[name].head_local, bones[name].tail_local)]
    feet = [match.bone_of_joint[7], match.bone_of_joint[8]]
    heads = [np.array(bones[name].head_local) for name in feet]
    tails = [np.array(bones[name].tail_local) for name in feet]
    toes = [tails[i] if 10 + i in match.tips else np.array(bones[match.bone_of_joint[10 + i]].head_local)
            for i in (0, 1)]
    if 0.0 <= min(float(p @ up) for p in heads + toes) < min(float(p @ up) for p in heads):
        return [(name, head - float(head @ up) * up) for name, head in zip(feet, heads)]
    return [(name, point) for name, head, tail in zip(feet, heads, tails) for point in (head, tail)]


def evaluate_feet(obj, match, frame_start: int, frame_count: int, joints: np.ndarray, fps: float,
                  metres_per_unit: float) -> FeetReport:
    """The take of ``frame_count`` frames keyed at ``frame_start`` from ``joints`` (T, 22, 3, at ``fps``), frame by
    frame at the scene's rate: world positions from the evaluated pose, in metres (``metres_per_unit`` of the world),
    floor at world z = 0. Contacts are the motion's, at its own frames (``feet.contacts_from_joints``); a scene frame
    is planted when it lies between two contact frames of one run (at another rate, not the frames either side)."""
    scene = bpy.context.scene
    motion_frame = np.arange(frame_count) * fps / (scene.render.fps / scene.render.fps_base)
    contacts = contacts_from_joints(np.asarray(joints, dtype=np.float64), fps)
    world = np.array(obj.matrix_world)
    up = np.linalg.inv(world[:3, :3]) @ np.array([0.0, 0.0, 1.0])
    up /= np.linalg.norm(up)
    heels = _heel_points(obj, match, up)
    toe_bones = [(match.bone_of_joint[7 + i], "tail") if 10 + i in match.tips else (match.bone_of_joint[10 + i], "head")
                 for i in (0, 1)]
    foot_bones = [match.bone_of_joint[7], match.bone_of_joint[8]]
    toe_ends = [match.bone_of_joint[10 + i] for i in (0, 1) if 10 + i not in match.tips]  # the tips of the toes
    toes, heel_heights, foot_heights, sole_heights = [], [], [], []
    for row in range(frame_count):
        scene.frame_set(frame_start + row)
        pose = obj.evaluated_get(bpy.context.evaluated_depsgraph_get()).pose.bones
        points = [getattr(pose[name], end) for name, end in toe_bones]
        for name, rest_point in heels:
            local = np.linalg.inv(np.array(obj.data.bones[name].matrix_local)) @ np.append(rest_point, 1.0)
            points.append((np.array(pose[name].matrix) @ local)[:3])
        points += [pose[name].head for name in foot_bones] + [pose[name].tail for name in foot_bones]
        points += [pose[name].tail for name in toe_ends]
        points = (np.array([tuple(p) for p in points]) @ world[:3, :3].T + world[:3, 3]) * metres_per_unit
        toes.append(points[:2, :2])
        heel_heights.append(points[2:2 + len(heels), 2].min())
        foot_heights.append(points[2 + len(heels):2 + len(heels) + 4, 2].min())
        sole_heights.append(points[2:, 2].min())
    toes = np.array(toes)  # (frames, 2, 2) world x, y
    drift = []
    for side in (0, 1):
        for start, stop in runs(contacts[:, 2 * side + 1]):
            planted = (motion_frame >= start - 1e-6) & (motion_frame <= stop - 1 + 1e-6)
            if stop - start >= 2 and planted.sum() >= 2:
                drift.append(np.linalg.norm(np.diff(toes[planted, side], axis=0), axis=-1).sum())
    return FeetReport(100 * np.array(drift), 100 * np.array(heel_heights), 100 * np.array(foot_heights),
                      100 * np.array(sole_heights))
