"""The panel's Loop and In Place on the built-in SMPL character with the bundled model: a looped take cycles in Blender
(Cycles modifiers; the evaluated pose one cycle on is the first frames' moved by the cycle's travel), its FBX holds
one cycle, and In Place keeps the evaluated pelvis over its start; on a Rigify rig, whose feet the rig pins, the loop
comes back to its first frame too."""
from __future__ import annotations

import bpy
import numpy as np
import pytest
from moscale.motion import retarget
from moscale.motion.skeleton import JOINT_NAMES

from blender_helpers import world_heads
from moscale_blender import export, jobs, keyframes, rig
from test_control_path import use_bundled_model

PROMPT = "a person walks forward"
MM = 1e-3


@pytest.fixture
def bundled(scene):
    yield from use_bundled_model(scene)


def loop_motion(settings, **controls):
    """What the backend makes for the panel's settings (the same seed: the same take)."""
    pipe = jobs.get_pipeline(str(bpy.context.preferences.addons["moscale_blender"].preferences.model_folder), "cpu")
    return pipe.generate(settings.prompt, seconds=settings.seconds, seed=settings.seed, guidance=settings.guidance,
                         schedule="fast", **controls)


def test_a_loop_cycles_in_blender_and_exports_one_cycle(bundled, tmp_path):
    scene = bundled
    settings = scene.moscale
    settings.target, settings.prompt, settings.seconds, settings.seed, settings.loop = 'SMPL', PROMPT, 2.0, 2, True
    assert bpy.ops.moscale.generate() == {'FINISHED'}
    (take,) = settings.takes
    character, start, frames = take.armature, take.frame_start, take.frame_count
    assert frames == 40 and len(keyframes.stored_motion(take.action)[0]) == 40  # one cycle

    modes = {(fc.data_path.rpartition(".")[2], m.mode_before, m.mode_after)
             for fc in keyframes.action_fcurves(take.action) for m in fc.modifiers if m.type == 'CYCLES'}
    assert all(len([m for m in fc.modifiers if m.type == 'CYCLES']) == 1
               for fc in keyframes.action_fcurves(take.action))
    assert modes == {("location", "REPEAT_OFFSET", "REPEAT_OFFSET"),
                     ("rotation_quaternion", "REPEAT", "REPEAT")}
    assert take.action.use_cyclic and tuple(take.action.frame_range) == (start, start + frames)

    # the expected travel of one cycle: the backend's offset, at the scale retargeting keyed it with
    motion = loop_motion(settings, loop=True)
    dx, dz = motion.metadata["cycle_offset"]
    joints = np.asarray(motion.joints, dtype=np.float64)
    keyed = np.concatenate([joints, joints[:1] + [dx, 0.0, dz]])
    match = rig.match_bones(character)
    scale = retarget.leg_length(retarget.rest_joints_of(rig.read_rest(character), match)) / np.mean(
        retarget.leg_length(keyed))
    travel = scale * np.array([dx, -dz, 0.0])  # Y up -> Blender's Z up
    assert np.linalg.norm(travel) > 0.5  # a walk: the loop travels
    for j in (0, 1, 13, frames - 1):
        first = world_heads(character, start + j, JOINT_NAMES)
        again = world_heads(character, start + frames + j, JOINT_NAMES)  # the Cycles modifiers' repetition
        assert np.abs(again - (first + travel)).max() <= 1 * MM
        before = world_heads(character, start - frames + j, JOINT_NAMES)  # and the one before
        assert np.abs(before - (first - travel)).max() <= 1 * MM

    # FBX: the take's frames once
    path = export.export_fbx(bpy.context, export.export_target(bpy.context), tmp_path / "loop.fbx")
    bpy.ops.wm.read_homefile(use_empty=True)
    assert bpy.ops.import_scene.fbx(filepath=str(path)) == {'FINISHED'}
    (imported,) = [obj for obj in bpy.data.objects if obj.type == 'ARMATURE']
    first, last = imported.animation_data.action.frame_range
    assert round(last - first) + 1 == frames


def test_in_place_keeps_the_pelvis_over_its_start(bundled):
    scene = bundled
    settings = scene.moscale
    settings.target, settings.prompt, settings.seconds, settings.seed, settings.in_place = 'SMPL', PROMPT, 3.0, 1, True
    assert bpy.ops.moscale.generate() == {'FINISHED'}
    take = settings.takes[-1]
    track = np.array([world_heads(take.armature, f, ["pelvis"])[0]
                      for f in range(take.frame_start, take.frame_start + take.frame_count)])
    radius = np.linalg.norm(track[:, :2] - track[0, :2], axis=1).max()
    print("in place radius", radius)
    assert radius <= 0.10
    assert not any(fc.modifiers for fc in keyframes.action_fcurves(take.action))  # not a loop: no cycling

    settings.loop = True  # a game cycle: loops, and stays in place
    assert bpy.ops.moscale.generate() == {'FINISHED'}
    take = settings.takes[-1]
    assert {m.mode_after for fc in keyframes.action_fcurves(take.action) for m in fc.modifiers} == {'REPEAT'}
    first = world_heads(take.armature, take.frame_start + 3, JOINT_NAMES)
    again = world_heads(take.armature, take.frame_start + take.frame_count + 3, JOINT_NAMES)
    assert np.abs(again - first).max() <= 1 * MM


def heads_at(obj, time: float) -> np.ndarray:
    """(22, 3) evaluated world-space joints at a scene time in frames (a subframe where it has a fraction)."""
    scene = bpy.context.scene
    scene.frame_set(int(np.floor(time)), subframe=float(time - np.floor(time)))
    evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    return np.array([tuple(evaluated.matrix_world @ evaluated.pose.bones[name].head) for name in JOINT_NAMES])


def test_a_loop_at_24_fps_cycles_over_its_own_length(bundled):
    scene = bundled
    scene.render.fps = 24
    settings = scene.moscale
    settings.target, settings.prompt, settings.seconds, settings.seed, settings.loop = 'SMPL', PROMPT, 2.2, 2, True
    assert bpy.ops.moscale.generate() == {'FINISHED'}
    take = settings.takes[-1]
    period = 44 * 24 / 20  # 44 motion frames at 20 fps: 52.8 scene frames
    assert take.frame_count == 53 and tuple(take.action.frame_range) == pytest.approx((1.0, 1.0 + period))
    assert all(fc.keyframe_points[-1].co[0] == pytest.approx(1.0 + period) for fc in keyframes.action_fcurves(take.action))
    character = take.armature
    travel = heads_at(character, 1.0 + period) - heads_at(character, 1.0)
    assert np.ptp(travel, axis=0).max() <= 1 * MM  # one translation of the whole body
    for time in (3.0, 20.5, 52.0):
        assert np.abs(heads_at(character, time + period) - heads_at(character, time) - travel[0]).max() <= 1 * MM
    # the seam is no jump: the step across it is like the steps around it
    steps = [np.linalg.norm(heads_at(character, t + 1) - heads_at(character, t), axis=-1).max() for t in range(1, 60)]
    print("steps around the seam", np.round(steps[48:56], 3), "median", np.median(steps))
    assert max(steps[50:55]) <= 2 * np.median(steps)


def test_a_loop_on_a_rigify_rig_comes_back_to_its_first_frame(bundled, rigify_rig):
    """A loop on a rig of other proportions, its feet pinned by the rig (``retarget.joint_frames(cycle=True)``): the
    pins are found over the repeating cycle, so one cycle on the evaluated rig, feet included, is its first frame
    moved by the cycle's travel (pinned as a take of its own, the feet came back 4.3 cm off), and the seam is no
    jump."""
    scene = bpy.context.scene
    settings = scene.moscale
    settings.prompt, settings.seconds, settings.seed, settings.loop = PROMPT, 2.0, 0, True
    assert bpy.ops.moscale.generate() == {'FINISHED'}
    take = settings.takes[settings.active_take_index]
    start, period = take.frame_start, take.frame_count
    match = rig.match_bones(rigify_rig)
    frames = np.array([rig.evaluated_joints(rigify_rig, match, scene, f) for f in range(start, start + 2 * period)])
    travel = np.median(frames[period] - frames[0], axis=0)
    back = np.linalg.norm(frames[period:] - frames[:period] - travel, axis=-1)  # (period, 22)
    steps = np.linalg.norm(np.diff(frames, axis=0), axis=-1).max(axis=-1)
    print(f"one cycle on, off the first frames moved by the travel ({np.linalg.norm(travel):.2f} m): feet "
          f"{back[:, [7, 8, 10, 11]].max():.4f} m (at the seam {back[0, [7, 8, 10, 11]].max():.4f}), all joints "
          f"{back.max():.4f} m; step into the repetition {steps[period - 1]:.3f} m, median step {np.median(steps):.3f}")
    assert np.linalg.norm(travel) > 0.5  # a walk: the loop travels
    assert back[:, [7, 8, 10, 11]].max() <= 0.01
    assert steps[period - 1] <= 2 * np.median(steps)
