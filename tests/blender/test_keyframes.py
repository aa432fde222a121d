"""Keys written == motion computed: the SMPL character replays a real clip, a Mixamo-like rig follows its bone
directions, edits replace keys only inside their range, takes are never overwritten."""
from __future__ import annotations

import bpy
import numpy as np
import pytest
from moscale.motion import Motion, retarget
from moscale.motion.retarget import bone_rest_quaternion, to_z_up
from moscale.motion.skeleton import JOINT_NAMES, PARENTS

from blender_helpers import apply_motion, build_armature, scene_state, world_heads
from moscale_blender import character, jobs, keyframes, takes
from moscale_blender import rig as rig_module
from retarget_rigs import mixamo_like_bones

AIMED = [(j, c) for c, j in enumerate(PARENTS) if j >= 0 and j not in (0, 9)]


def generate_take(context, obj, motion: Motion, prompt="real clip 012314"):
    """The generate path after the backend: a finished job whose result is a real motion, then apply_result."""
    return apply_motion(obj, motion, prompt, guidance=5.0, context=context)


def angles_deg(a, b):
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return np.degrees(np.arccos(np.clip((a * b).sum(-1), -1.0, 1.0)))


def test_smpl_character_replays_the_clip_within_a_millimetre(scene, clip_joints):
    rig = character.create_smpl_character(bpy.context, clip_joints)
    (take,) = generate_take(bpy.context, rig, Motion(clip_joints))
    assert rig.animation_data.action == take.action
    assert take.frame_count == len(clip_joints) and take.frame_start == scene.frame_start
    expected = to_z_up(clip_joints)
    worst = 0.0
    for row in range(len(clip_joints)):
        heads = world_heads(rig, scene.frame_start + row, JOINT_NAMES)
        worst = max(worst, float(np.linalg.norm(heads - expected[row], axis=-1).max()))
    assert worst < 1e-3, f"max joint error {worst * 1000:.3f} mm"


def test_smpl_character_has_a_skinned_mannequin(scene):
    bpy.ops.moscale.create_smpl_character()
    rig = scene.moscale.smpl_character
    assert rig is not None and rig.type == 'ARMATURE' and {b.name for b in rig.data.bones} == set(JOINT_NAMES)
    (body,) = [obj for obj in rig.children if obj.type == 'MESH']
    assert {group.name for group in body.vertex_groups} == set(JOINT_NAMES)
    modifier = body.modifiers["Armature"]
    assert modifier.type == 'ARMATURE' and modifier.object == rig
    assert len(body.data.vertices) > 300 and all(len(v.groups) == 1 for v in body.data.vertices)
    # sensible rolls: legs and spine bend about the body's side axis, arms keep their local Z up
    for name in ("left_knee", "spine2", "right_hip"):
        assert abs(rig.data.bones[name].matrix_local.col[0][0]) > 0.99, name
    for name in ("left_elbow", "right_shoulder"):
        assert rig.data.bones[name].matrix_local.col[2][2] > 0.99, name


def test_scene_frame_rate_is_respected(scene, clip_joints):
    scene.render.fps = 24
    rig = character.create_smpl_character(bpy.context, clip_joints)
    (take,) = generate_take(bpy.context, rig, Motion(clip_joints))
    assert take.frame_count == round(len(clip_joints) * 24 / 20) and take.fps == 24
    keys = keyframes.read_channel(take.action, 'pose.bones["pelvis"].location', 0)
    assert len(keys) == take.frame_count and np.array_equal(keys[:, 0], np.arange(1, take.frame_count + 1))
    # scene frame 1 + 6k shows motion frame 5k exactly
    expected = to_z_up(clip_joints)
    for k in range(0, len(clip_joints), 5 * 5):
        heads = world_heads(rig, scene.frame_start + 6 * k // 5, JOINT_NAMES)
        assert np.linalg.norm(heads - expected[k], axis=-1).max() < 1e-3


def test_mixamo_like_rig_follows_bone_directions_within_one_degree(scene, clip_joints):
    names, parents, heads, tails, rolls = mixamo_like_bones("mixamorig:")
    # centimetre bones under a 0.01-scaled object standing somewhere else, like an FBX import
    rig = build_armature("Mixamo", names, parents, heads, tails, rolls, location=(2.0, 1.0, 0.0), scale=0.01)
    quats = np.array([rig.data.bones[name].matrix_local.to_quaternion() for name in names])
    ours = bone_rest_quaternion(heads, tails, rolls)
    assert np.allclose(np.abs((quats * ours).sum(-1)), 1.0, atol=1e-5), "roll convention differs from Blender's"

    (take,) = generate_take(bpy.context, rig, Motion(clip_joints))
    motion = to_z_up(clip_joints)
    # legs bend (and a straight leg's heel lifts) to hold the feet still and above the floor (moscale.motion.rig_feet)
    pinned = retarget.joint_frames(clip_joints, rig_module.read_rest(rig), rig_module.match_bones(rig)).heads
    mapped = names[:22]
    worst = 0.0
    for row in range(0, len(clip_joints), 3):
        posed = world_heads(rig, scene.frame_start + row, mapped)
        for joint, child in AIMED:
            wanted = pinned if child in (4, 5, 7, 8, 10, 11) else motion
            worst = max(worst, float(angles_deg(posed[child] - posed[joint], wanted[row, child] - wanted[row, joint])))
        lateral = angles_deg(posed[1] - posed[2], motion[row, 1] - motion[row, 2])
        assert lateral < 3.0
    assert worst < 1.0, f"worst bone direction error {worst:.3f} degrees"
    # root motion: scaled by leg length, starting where the character stands
    start = world_heads(rig, scene.frame_start, mapped[:1])[0]
    assert np.allclose(start[:2], np.array(rig.matrix_world @ rig.data.bones[mapped[0]].head_local)[:2], atol=1e-4)


def test_new_takes_never_overwrite_old_ones(scene, clip_joints):
    rig = character.create_smpl_character(bpy.context, clip_joints)
    (first,) = generate_take(bpy.context, rig, Motion(clip_joints[:80]))
    first_action = first.action.name
    before = keyframes.read_channel(first.action, 'pose.bones["left_knee"].rotation_quaternion', 1).copy()
    (second,) = generate_take(bpy.context, rig, Motion(clip_joints[80:]))
    takes_now = scene.moscale.takes
    assert [t.action.name for t in takes_now] == [first_action, second.action.name] and first_action != second.action.name
    assert np.array_equal(keyframes.read_channel(bpy.data.actions[first_action],
                                                 'pose.bones["left_knee"].rotation_quaternion', 1), before)
    assert rig.animation_data.action == second.action


def test_take_switch_duplicate_rename_delete(scene, clip_joints):
    rig = character.create_smpl_character(bpy.context, clip_joints)
    generate_take(bpy.context, rig, Motion(clip_joints[:60]))
    generate_take(bpy.context, rig, Motion(clip_joints[60:]))
    settings = scene.moscale
    first, second = (take.action for take in settings.takes)

    assert bpy.ops.moscale.take_activate(index=0) == {'FINISHED'}
    assert rig.animation_data.action == first and settings.active_take_index == 0
    settings.active_take_index = 1  # clicking in the list
    assert rig.animation_data.action == second

    assert bpy.ops.moscale.take_duplicate(index=0) == {'FINISHED'}
    copy = settings.takes[2]
    assert copy.kind == 'DUPLICATE' and copy.action not in (first, second) and rig.animation_data.action == copy.action
    path = 'pose.bones["spine1"].rotation_quaternion'
    assert np.array_equal(keyframes.read_channel(copy.action, path, 2), keyframes.read_channel(first, path, 2))
    assert keyframes.stored_motion(copy.action)[0].shape == (60, 22, 3)

    assert bpy.ops.moscale.take_rename(index=2, name="walk B") == {'FINISHED'}
    assert settings.takes[2].name == "walk B" and copy.action.name == "MoScale walk B"

    copy_name = copy.action.name
    assert bpy.ops.moscale.take_delete(index=2) == {'FINISHED'}
    assert len(settings.takes) == 2 and copy_name not in bpy.data.actions
    assert rig.animation_data.action == second and settings.active_take_index == 1
    assert first.name in bpy.data.actions and first.use_fake_user


def spliced_edit(source: np.ndarray, other: np.ndarray, start: int, end: int) -> np.ndarray:
    """A real-data stand-in for a backend edit: frames start..end-1 come from another real clip segment,
    moved so its root starts where the source's root is at ``start``."""
    edited = source.copy()
    segment = other[: end - start].copy()
    shift = source[start, 0] - segment[0, 0]
    shift[1] = 0.0
    edited[start:end] = segment + shift
    return edited


@pytest.mark.parametrize("fps", [20, 24])
def test_edit_replaces_keys_only_inside_the_range(scene, clip_joints, use_model, fps):
    scene.render.fps = fps
    source = clip_joints[:100]
    rig = character.create_smpl_character(bpy.context, clip_joints)
    (take,) = generate_take(bpy.context, rig, Motion(source))
    source_action = take.action
    before = {(fc.data_path, fc.array_index): keyframes.read_channel(source_action, fc.data_path, fc.array_index).copy()
              for fc in keyframes.action_fcurves(source_action)}

    settings = scene.moscale
    settings.edit_range, settings.edit_start, settings.edit_end = 'FRAMES', 31, 60
    settings.edit_prompt = "jumps instead"
    request, plan = takes.plan_edit(bpy.context)
    assert (plan.first, plan.last) == (31, 60)
    assert request.start_frame <= (31 - 1) * 20 / fps and request.end_frame > (60 - 1) * 20 / fps
    edited = spliced_edit(source, clip_joints[110:], request.start_frame, request.end_frame)
    job = jobs.Job("edit", lambda progress, cancel: [Motion(edited, prompt=plan.prompt)], plan).run()
    (new,) = takes.apply_result(bpy.context, job)

    assert new.kind == 'EDIT' and new.source_take == take.name and new.action != source_action
    assert len(settings.takes) == 2 and rig.animation_data.action == new.action
    changed = 0
    for (path, index), old in before.items():
        assert np.array_equal(keyframes.read_channel(source_action, path, index), old)  # the source take is untouched
        keys = keyframes.read_channel(new.action, path, index)
        assert np.array_equal(keys[:, 0], old[:, 0])
        outside = (old[:, 0] < 31) | (old[:, 0] > 60)
        assert np.array_equal(keys[outside].view(np.uint32), old[outside].view(np.uint32))  # bit-identical
        changed += int(np.any(keys[~outside] != old[~outside]))
    assert changed > 20
    if fps == 20:  # inside the range the rig shows the edited motion
        for frame in (31, 45, 60):
            heads = world_heads(rig, frame, JOINT_NAMES)
            assert np.linalg.norm(heads - to_z_up(edited[frame - 1]), axis=-1).max() < 1e-3
    stored, _ = keyframes.stored_motion(new.action)
    assert np.array_equal(stored[: request.start_frame], source[: request.start_frame])


def test_cancelled_job_leaves_the_scene_unchanged(scene, clip_joints):
    rig = character.create_smpl_character(bpy.context, clip_joints)
    generate_take(bpy.context, rig, Motion(clip_joints[:40]))
    state = scene_state(scene)
    release = __import__("threading").Event()

    def slow_work(progress, cancel):
        progress(0.5, "halfway")
        release.wait(5)
        return [Motion(clip_joints)]

    plan = takes.GeneratePlan(rig.name, "", "x", 1.0, 0, 5.0, "fast")
    job = jobs.start_job("generate", slow_work, plan)
    assert jobs.active_job() is job
    job.cancel()
    release.set()
    assert job.wait(5)
    assert jobs.poll_job(job) == jobs.CANCELLED and job.result == [] and jobs.active_job() is None
    with pytest.raises(takes.TakeError):
        takes.apply_result(bpy.context, job)
    assert scene_state(scene) == state
