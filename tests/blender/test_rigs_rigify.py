"""Rigify control rigs: a rig made by Rigify's own Generate is driven through its FK controls, torso and hips, and
the deform bones (DEF-*), as the depsgraph evaluates them with all constraints and drivers, follow the motion."""
from __future__ import annotations

import time

import bpy
import numpy as np
import pytest
from moscale.motion import Motion
from moscale.motion import retarget, rigs, smpl_rig
from moscale.motion.retarget import to_z_up
from moscale.motion.skeleton import PARENTS

from blender_helpers import apply_motion, scene_state
from moscale_blender import jobs, keyframes, rig, takes

DEF_OF_JOINT = {0: "DEF-spine", 1: "DEF-thigh.L", 2: "DEF-thigh.R", 4: "DEF-shin.L", 5: "DEF-shin.R",
                7: "DEF-foot.L", 8: "DEF-foot.R", 10: "DEF-toe.L", 11: "DEF-toe.R", 12: "DEF-spine.004",
                15: "DEF-spine.006", 16: "DEF-upper_arm.L", 17: "DEF-upper_arm.R", 18: "DEF-forearm.L",
                19: "DEF-forearm.R", 20: "DEF-hand.L", 21: "DEF-hand.R"}


def _about_x(points: np.ndarray, pivot: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    local = points - pivot
    return pivot + np.stack([local[..., 0], c * local[..., 1] - s * local[..., 2],
                             s * local[..., 1] + c * local[..., 2]], axis=-1)


def walk_and_wave(clip_joints: np.ndarray, frames: int = 48) -> np.ndarray:
    """A walk that waves, made from clip 012314's first pose: legs swing +-25 degrees in opposite phase (1 Hz), the
    right arm points up with the forearm swinging side to side, the body travels forward (+Z) at 1 m/s, and the
    lowest foot joint stays on the floor. Bone lengths are the clip's."""
    pose = np.array(clip_joints[0], dtype=np.float64)
    out = np.empty((frames, 22, 3))
    upper, fore = (np.linalg.norm(pose[a] - pose[b]) for a, b in ((19, 17), (21, 19)))
    for row in range(frames):
        t = row / 20.0
        body = pose.copy()
        for chain, phase in (((4, 7, 10), 0.0), ((5, 8, 11), np.pi)):
            hip = body[chain[0] - 3]
            body[list(chain)] = _about_x(body[list(chain)], hip, np.radians(25.0) * np.sin(2 * np.pi * t + phase))
        swing = 0.4 * np.sin(2 * np.pi * 1.5 * t)
        body[19] = body[17] + upper * np.array([-0.2, 1.0, 0.0]) / np.hypot(0.2, 1.0)
        body[21] = body[19] + fore * np.array([-swing, 1.0, 0.0]) / np.hypot(swing, 1.0)
        body[:, 2] += t  # 1 m/s forward
        body[:, 1] -= body[[7, 8, 10, 11], 1].min()
        out[row] = body
    return out


def evaluated_def(rig, frame: int) -> np.ndarray:
    bpy.context.scene.frame_set(frame)
    evaluated = rig.evaluated_get(bpy.context.evaluated_depsgraph_get())
    matrix = np.array(evaluated.matrix_world)
    points = np.array([tuple(evaluated.pose.bones[name].head) for name in DEF_OF_JOINT.values()])
    return points @ matrix[:3, :3].T + matrix[:3, 3]


def bone_directions(points: np.ndarray) -> np.ndarray:
    """(T, 22, 3) joints -> (T, 21, 3) unit directions parent -> child."""
    vectors = points[:, 1:] - points[:, list(PARENTS[1:])]
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def test_rigify_rig_follows_the_motion_through_its_controls(rigify_rig, clip_joints):
    joints = walk_and_wave(clip_joints)
    plan = takes.GeneratePlan(rigify_rig.name, "", "walks and waves", len(joints) / 20, 0, 2.0, "fast")
    job = jobs.Job("generate", lambda progress, cancel: [Motion(joints)], plan).run()
    started = time.perf_counter()
    (take,) = takes.apply_result(bpy.context, job)  # solve, keys, and the check of the evaluated DEF bones
    seconds = time.perf_counter() - started
    paths = {fc.data_path for fc in keyframes.action_fcurves(take.action)}
    assert 'pose.bones["thigh_fk.L"].rotation_quaternion' in paths and 'pose.bones["torso"].location' in paths
    assert 'pose.bones["thigh_parent.L"]["IK_FK"]' in paths  # the take plays its legs and arms in FK
    assert not any("DEF-" in path or "ORG-" in path or "MCH-" in path for path in paths)
    assert rigify_rig.pose.bones["thigh_parent.L"]["IK_FK"] == 1.0

    match = rig.match_bones(rigify_rig)
    target = retarget.joint_frames(joints, rig.read_rest(rigify_rig), match).heads  # rig proportions, motion pose
    evaluated = np.stack([rig.evaluated_joints(rigify_rig, match, bpy.context.scene, 1 + row)
                          for row in range(len(joints))])  # DEF bones with every constraint and driver
    error = np.linalg.norm(evaluated - target, axis=-1)
    angle = np.degrees(np.arccos(np.clip((bone_directions(evaluated) * bone_directions(to_z_up(joints))).sum(-1),
                                         -1.0, 1.0)))
    # not Rigify's own hip/chest shape, nor the legs, which bend (and a straight leg's heel lifts) to hold the feet
    # still and above the floor (moscale.motion.rig_feet; ``target`` has them)
    aimed = [c - 1 for c, p in enumerate(PARENTS) if p >= 0 and p not in (0, 9) and c not in (4, 5, 7, 8, 10, 11)]
    print(f"Rigify: {len(joints)} frames keyed in {seconds:.2f} s; evaluated DEF bones vs target: max "
          f"{100 * error.max():.3f} cm, mean {100 * error.mean():.3f} cm; bone directions vs the motion: max "
          f"{angle[:, aimed].max():.2f} deg")
    assert error.max() < 0.01  # metres (the rig is in metres, object at the origin)
    assert angle[:, aimed].max() < 3.0
    travel = evaluated[-1, 0] - evaluated[0, 0]
    assert travel[1] < -1.5, travel  # 2.4 s at 1 m/s toward -Y (the motion's +Z)
    assert np.all(evaluated[:, 21, 2] > evaluated[:, 17, 2] + 0.3)  # the waving hand is above the shoulder
    wave = evaluated[:, 21, 0] - evaluated[:, 19, 0]
    assert wave.max() - wave.min() > 0.15  # and waves side to side
    ahead = evaluated[:, 11, 1] - evaluated[:, 10, 1]  # > 0: left toe ahead (-Y is forward)
    assert ahead.max() > 0.3 and ahead.min() < -0.3  # the feet alternate
    assert np.array_equal(np.sign(ahead[np.abs(ahead) > 0.05]),
                          np.sign(joints[:, 10, 2] - joints[:, 11, 2])[np.abs(ahead) > 0.05])
    soles = []  # the rig's own soles (heel bones, toe ends) stand on the floor, not its ankle and toe joints
    for row in range(len(joints)):
        bpy.context.scene.frame_set(1 + row)
        bones = rigify_rig.evaluated_get(bpy.context.evaluated_depsgraph_get()).pose.bones
        soles.append(min(min(bones[f"ORG-heel.02.{s}"].head.z, bones[f"ORG-heel.02.{s}"].tail.z,
                             bones[f"DEF-toe.{s}"].tail.z) for s in "LR"))
    assert abs(min(soles)) < 0.01  # on the floor


def test_rig_whose_constraints_override_keys_is_refused(rigify_rig, clip_joints):
    """Without its controls (a rig Rigify did not make, whose DEF bones are still constrained), keys on the DEF
    bones would do nothing: refuse, change nothing."""
    for name in list(rigify_rig.pose.bones.keys()):
        if name in ("torso", "thigh_fk.L"):
            rigify_rig.data.bones[name].name = name + "_renamed"
    before = scene_state(bpy.context.scene)
    with pytest.raises(takes.TakeError) as error:
        apply_motion(rigify_rig, Motion(walk_and_wave(clip_joints, 20)), "walks and waves")
    message = str(error.value)
    print(message)
    assert "does not follow keys" in message and "constraints" in message and "Nothing was changed" in message
    assert scene_state(bpy.context.scene) == before


def test_rigify_users_action_and_switches_come_back_and_edits_stay_in_range(rigify_rig, clip_joints):
    scene = bpy.context.scene
    torso = rigify_rig.pose.bones["torso"]
    for frame, angle in ((1, 0.0), (20, 0.4)):  # the animator's own action: the torso turns
        torso.rotation_quaternion = (np.cos(angle / 2), 0.0, 0.0, np.sin(angle / 2))
        torso.keyframe_insert("rotation_quaternion", frame=frame)
    original = rigify_rig.animation_data.action
    before = [rig.evaluated_joints(rigify_rig, rig.match_bones(rigify_rig), scene, f) for f in (1, 10, 20)]
    assert rigify_rig.pose.bones["thigh_parent.L"]["IK_FK"] == 0.0  # Rigify's default: IK legs

    joints = walk_and_wave(clip_joints, 40)
    (take,) = apply_motion(rigify_rig, Motion(joints), "walks and waves")
    settings = scene.moscale
    (kept,) = [t for t in settings.takes if t.kind == 'ORIGINAL']
    bpy.ops.moscale.take_activate(index=list(settings.takes).index(kept))
    assert rigify_rig.animation_data.action == original
    assert rigify_rig.pose.bones["thigh_parent.L"]["IK_FK"] == 0.0  # the user's IK legs again
    match = rig.match_bones(rigify_rig)
    after = [rig.evaluated_joints(rigify_rig, match, scene, f) for f in (1, 10, 20)]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))

    # an edit of the Rigify take: DEF bones change only inside the range
    bpy.ops.moscale.take_activate(index=list(settings.takes).index(take))
    source = [rig.evaluated_joints(rigify_rig, match, scene, f) for f in range(1, 41)]
    edited_joints = joints.copy()
    edited_joints[15:25, 21] += np.array([0.0, -0.3, 0.1])  # the right hand lower inside frames 16-25
    plan = takes.EditPlan(take.action.name, 16, 25, "lower the hand", 0, 2.0, "fast", 15, 25)
    edit = takes.apply_edit(bpy.context, plan, Motion(edited_joints))
    assert rigify_rig.animation_data.action == edit.action
    result = [rig.evaluated_joints(rigify_rig, match, scene, f) for f in range(1, 41)]
    changed = [f for f, (a, b) in enumerate(zip(source, result), start=1) if not np.allclose(a, b, atol=1e-5)]
    assert changed and min(changed) >= 16 and max(changed) <= 25


def test_generate_operator_on_a_rigify_rig(rigify_rig, use_model):
    settings = bpy.context.scene.moscale
    settings.prompt, settings.seconds = "a person walks forward and waves", 1.5
    assert bpy.ops.moscale.generate() == {'FINISHED'}  # the real backend's motion, checked by evaluating DEF bones
    (take,) = [t for t in settings.takes if t.kind == 'GENERATE']
    assert take.armature == rigify_rig and rigify_rig.animation_data.action == take.action
    paths = {fc.data_path for fc in keyframes.action_fcurves(take.action)}
    assert 'pose.bones["upper_arm_fk.R"].rotation_quaternion' in paths


def test_a_rigify_take_at_another_scene_rate_spans_as_many_frames_as_on_any_rig(rigify_rig, clip_joints):
    """2 s at a 30 fps scene are 60 frames on every rig (the control-rig path made 59: Motion.resample's count)."""
    bpy.context.scene.render.fps = 30
    plan = takes.GeneratePlan(rigify_rig.name, "", "walks", 2.0, 0, 2.0, "fast")
    job = jobs.Job("generate", lambda progress, cancel: [Motion(clip_joints[:40])], plan).run()
    (take,) = takes.apply_result(bpy.context, job)
    character = smpl_rig.smpl_character(clip_joints[:40])
    rest = retarget.rest_from_bones(character.names, character.parents, character.heads, character.tails)
    smpl = retarget.retarget_at(clip_joints[:40], rest, rigs.detect_rig(rest.names), 20.0, 30.0)
    assert take.frame_count == smpl.num_frames == 60
