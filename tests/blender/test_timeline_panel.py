"""The Timeline sub-panel: segments generated as one take through the real backend (tiny random release), whose
keyed motion is the backend's timeline for the same seed; bad segments refused with nothing changed; undoable list
edits."""
from __future__ import annotations

import bpy
import numpy as np
import pytest

from moscale_blender import jobs, keyframes, takes
from moscale_blender.timeline import plan_sequence, segment_scene_frames


def fill(scene, segments):
    timeline = scene.moscale_timeline
    timeline.segments.clear()
    for prompt, seconds in segments:
        assert bpy.ops.moscale.segment_add() == {'FINISHED'}
        segment = timeline.segments[timeline.active]
        segment.prompt, segment.seconds = prompt, seconds
    return timeline


def test_generate_timeline_makes_one_take_equal_to_the_backend_sequence(scene, use_model):
    from moscale.pipeline import timeline as backend_timeline

    settings = scene.moscale
    settings.target, settings.seed = 'SMPL', 11
    fill(scene, [("walks forward", 1.6), ("waves", 1.2)])
    assert [s.prompt for s in scene.moscale_timeline.segments] == ["walks forward", "waves"]
    assert bpy.ops.moscale.timeline_generate() == {'FINISHED'}
    (take,) = settings.takes
    assert take.frame_count == 56 and take.prompt == "walks forward | waves"
    joints, fps = keyframes.stored_motion(take.action)
    pipe = jobs.get_pipeline(str(use_model), "cpu")
    expected = backend_timeline.generate_sequence(pipe, ["walks forward:1.6", "waves:1.2"], seed=11,
                                                  guidance=settings.guidance, schedule="fast")
    np.testing.assert_allclose(joints, expected.joints, atol=1e-5)
    assert segment_scene_frames(take, expected) == [(1, 32), (33, 56)]  # 20 fps scene: the motion's own frames


def test_segment_frames_are_reported_at_the_scene_rate(scene, use_model):
    settings = scene.moscale
    settings.target, settings.seed = 'SMPL', 11
    scene.render.fps, scene.frame_start = 24, 1
    fill(scene, [("walks forward", 3.0), ("waves", 2.0), ("turns left", 2.0)])
    job = jobs.Job("generate", jobs.generate_work(plan_sequence(bpy.context)[0]), plan_sequence(bpy.context)[1]).run()
    (take,) = takes.apply_result(bpy.context, job)
    # 60 + 40 + 40 motion frames at 20 fps: the segments start 3 s and 5 s in, frames 73 and 121 at 24 fps
    last = take.frame_start + take.frame_count - 1
    assert take.fps == 24 and last in (167, 168)
    assert segment_scene_frames(take, job.result[0]) == [(1, 72), (73, 120), (121, last)]


def test_bad_timelines_are_refused_and_change_nothing(scene, use_model):
    scene.moscale.target = 'SMPL'
    prompt = scene.moscale.prompt
    with pytest.raises(RuntimeError, match="timeline is empty"):
        bpy.ops.moscale.timeline_generate()
    fill(scene, [("walks forward", 2.0), ("", 1.0)])
    with pytest.raises(RuntimeError, match="Segment 2 has no prompt"):
        bpy.ops.moscale.timeline_generate()
    fill(scene, [("walks", 40.0), ("runs", 30.0)])
    with pytest.raises(RuntimeError, match="at most 60 s"):
        bpy.ops.moscale.timeline_generate()
    assert len(scene.moscale.takes) == 0 and scene.moscale.prompt == prompt  # the main prompt is restored


def test_segment_list_add_move_remove(scene):
    timeline = fill(scene, [("a", 1.0), ("b", 1.0), ("c", 1.0)])
    timeline.active = 2
    assert bpy.ops.moscale.segment_move(direction=-1) == {'FINISHED'}
    assert [s.prompt for s in timeline.segments] == ["a", "c", "b"] and timeline.active == 1
    assert bpy.ops.moscale.segment_remove() == {'FINISHED'}
    assert [s.prompt for s in timeline.segments] == ["a", "b"]
