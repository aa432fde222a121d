"""The panel's Path: a Bezier curve picked in the panel, Generate on the built-in SMPL character with the bundled model,
and the evaluated pelvis travels over the curve in the viewport (world space, the depsgraph's pose), on a new
character and on one the user moved and turned; with the armature's keyed poses too; a curve of two splines and a
drawing of two strokes are followed piece after piece (the panel says so); a path too short or combined with Loop is
refused in words."""
from __future__ import annotations

import math

import bpy
import numpy as np
import pytest

from blender_helpers import ADDON, REPO, channel_keys, draw, scene_state, world_heads
from moscale_blender import jobs, keyframes, panels, rig

PROMPT = "a person walks forward"


def use_bundled_model(scene):
    """Generate with the bundled model on the CPU while the test runs (a fixture's body)."""
    prefs = bpy.context.preferences.addons[ADDON].preferences
    prefs.model_folder, prefs.device = str(REPO / "assets" / "model"), "CPU"
    yield scene
    prefs.model_folder = ""


@pytest.fixture
def bundled(scene):
    yield from use_bundled_model(scene)


def bezier_path(points, name: str = "Path", location=(0.0, 0.0, 0.0), angle: float = 0.0) -> bpy.types.Object:
    """A Bezier curve with automatic handles through `points` (object space), linked to the scene."""
    curve = bpy.data.curves.new(name, 'CURVE')
    curve.dimensions = '3D'
    spline = curve.splines.new('BEZIER')
    spline.bezier_points.add(len(points) - 1)
    for knot, point in zip(spline.bezier_points, points):
        knot.co = point
        knot.handle_left_type = knot.handle_right_type = 'AUTO'
    obj = bpy.data.objects.new(name, curve)
    obj.location, obj.rotation_euler = location, (0.0, 0.0, angle)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def curve_polyline(obj) -> np.ndarray:
    """(N, 2) the curve's world-space XY, sampled finely by Blender's own curve evaluation."""
    obj.data.resolution_u = 64
    evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    mesh = evaluated.to_mesh()
    points = np.array([tuple(evaluated.matrix_world @ vertex.co) for vertex in mesh.vertices])
    evaluated.to_mesh_clear()
    return points[:, :2]


def distance_to(polyline: np.ndarray, points: np.ndarray) -> np.ndarray:
    a, b = polyline[:-1][None], polyline[1:][None]
    p = points[:, None]
    t = np.clip(((p - a) * (b - a)).sum(-1) / np.maximum(((b - a) ** 2).sum(-1), 1e-12), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[..., None] * (b - a)), axis=-1).min(axis=1)


def pelvis_track(take) -> np.ndarray:
    frames = range(take.frame_start, take.frame_start + take.frame_count)
    return np.array([world_heads(take.armature, frame, ["pelvis"])[0] for frame in frames])


def check_follows(take, polyline: np.ndarray) -> dict:
    track = pelvis_track(take)
    distance = distance_to(polyline, track[:, :2])
    stats = dict(mean=float(distance.mean()), max=float(distance.max()),
                 start=float(np.linalg.norm(track[0, :2] - polyline[0])),
                 end=float(np.linalg.norm(track[-1, :2] - polyline[-1])))
    print(take.name, {key: round(value, 3) for key, value in stats.items()})
    assert stats["mean"] <= 0.05 and stats["max"] <= 0.15
    assert stats["start"] <= 0.03 and stats["end"] <= 0.03  # from its first point to its last, at the rig's scale
    return stats


def test_the_pelvis_travels_over_the_drawn_curve(bundled):
    scene = bundled
    settings = scene.moscale
    path = bezier_path([(0.0, 0.0, 0.0), (1.2, 1.0, 0.0), (2.4, 0.0, 0.0), (3.6, 1.0, 0.0)],
                       location=(0.5, -0.3, 0.0), angle=math.radians(25))
    settings.target, settings.prompt, settings.seed = 'SMPL', PROMPT, 3
    settings.path_object = path
    assert bpy.ops.moscale.generate() == {'FINISHED'}
    (take,) = settings.takes
    frames = take.frame_count
    # ~4.6 m: 3.5 s at the pace table's 1.3 m/s; the take made 1.4x + 1 s longer (143 frames at 24 fps) is cut where
    # its own walk covers the path: the length came from the path
    assert 40 <= frames <= 143
    check_follows(take, curve_polyline(path))

    # the same character moved and turned by the user: its next take still walks over the curve
    character = settings.smpl_character
    character.location, character.rotation_euler = (-2.0, 1.0, 0.0), (0.0, 0.0, math.radians(-70))
    settings.seed = 4
    assert bpy.ops.moscale.generate() == {'FINISHED'}
    check_follows(settings.takes[-1], curve_polyline(path))

    # a length of the user's own: the same path covered in 3 s
    settings.length_from_path, settings.seconds = False, 3.0
    assert bpy.ops.moscale.generate() == {'FINISHED'}
    assert settings.takes[-1].frame_count == 60
    check_follows(settings.takes[-1], curve_polyline(path))


def test_a_grease_pencil_stroke_is_a_path(bundled):
    settings = bundled.moscale
    pencil = bpy.data.grease_pencils.new("Stroke")
    layer = pencil.layers.new("Lines")
    drawing = layer.frames.new(bundled.frame_current).drawing
    drawing.add_strokes([30])
    points = np.stack([np.linspace(0.0, 3.0, 30), 0.4 * np.sin(np.linspace(0.0, np.pi, 30)), np.zeros(30)], axis=-1)
    for point, position in zip(drawing.strokes[0].points, points):
        point.position = position
    layer.translation = (0.0, 0.5, 0.0)
    obj = bpy.data.objects.new("Stroke", pencil)
    obj.location, obj.rotation_euler = (-1.0, 0.0, 0.0), (0.0, 0.0, math.radians(-40))
    bundled.collection.objects.link(obj)
    settings.target, settings.prompt, settings.seed, settings.path_object = 'SMPL', PROMPT, 5, obj
    assert bpy.ops.moscale.generate() == {'FINISHED'}
    world = (points + (0.0, 0.5, 0.0)) @ np.array(obj.matrix_world)[:3, :3].T + np.array(obj.matrix_world)[:3, 3]
    check_follows(settings.takes[-1], world[:, :2])


def test_a_path_with_keyed_poses(bundled):
    """Path and Keyed Poses together: the animator keyed two poses of a walk along the curve (world space, on the
    curve) on the character; the new take passes through them at their frames, keeps their values bit for bit, and
    travels over the curve in between."""
    scene = bundled
    settings = scene.moscale
    path = bezier_path([(0.0, 0.0, 0.0), (1.2, 1.0, 0.0), (2.4, 0.0, 0.0), (3.6, 1.0, 0.0)],
                       location=(0.5, -0.3, 0.0), angle=math.radians(25))
    settings.target, settings.prompt, settings.seed, settings.path_object = 'SMPL', PROMPT, 3, path
    assert bpy.ops.moscale.generate() == {'FINISHED'}
    (walk,) = settings.takes
    character, keyed = walk.armature, (walk.frame_count // 3, 2 * walk.frame_count // 3)
    user = walk.action.copy()  # the animator's own action: two of that walk's poses, keyed
    user.name = "Animator's keys"
    for fcurve in keyframes.action_fcurves(user):
        points = fcurve.keyframe_points
        for index in reversed(range(len(points))):
            if points[index].co[0] not in keyed:
                points.remove(points[index])
    keyframes.assign(character, user)
    user_keys = channel_keys(user)
    match = rig.match_bones(character)
    posed = {frame: rig.evaluated_joints(character, match, scene, frame) for frame in keyed}

    settings.keyed_poses, settings.seed = True, 4
    assert bpy.ops.moscale.generate() == {'FINISHED'}
    take = settings.takes[settings.active_take_index]
    assert take.kind == 'GENERATE' and take.frame_count > keyed[1]
    made = channel_keys(take.action)
    assert all(made[channel][float(f)] == keys[float(f)] for channel, keys in user_keys.items() for f in keyed)
    check_follows(take, curve_polyline(path))
    frames = [rig.evaluated_joints(character, match, scene, f)
              for f in range(take.frame_start, take.frame_start + take.frame_count)]
    steps = np.linalg.norm(np.diff(frames, axis=0), axis=-1).max(axis=-1)
    for frame in keyed:
        error = np.linalg.norm(frames[frame - take.frame_start] - posed[frame], axis=-1).max()
        around = steps[frame - take.frame_start - 2: frame - take.frame_start + 2]
        print(f"key {frame}: {error:.4f} m from the keyed pose; steps around {np.round(around, 3)}, median "
              f"{np.median(steps):.3f}")
        assert error <= 1e-3 and around.max() <= 3 * np.median(steps) + 0.01


def test_a_curve_of_two_splines_is_followed_spline_after_spline(bundled):
    settings = bundled.moscale
    path = bezier_path([(0.0, 0.0, 0.0), (1.2, 0.8, 0.0), (2.4, 0.0, 0.0)], name="Two", location=(0.3, 0.2, 0.0))
    second = path.data.splines.new('BEZIER')
    second.bezier_points.add(2)
    for knot, point in zip(second.bezier_points, [(3.0, 0.4, 0.0), (4.2, 1.2, 0.0), (5.4, 0.6, 0.0)]):
        knot.co = point
        knot.handle_left_type = knot.handle_right_type = 'AUTO'
    settings.target, settings.prompt, settings.seed, settings.path_object = 'SMPL', PROMPT, 6, path
    assert bpy.ops.moscale.generate() == {'FINISHED'}
    check_follows(settings.takes[-1], curve_polyline(path))  # both splines, the gap between them walked straight
    (note,) = [w for w in jobs.last_warnings() if w.startswith("Path 'Two'")]
    assert "has 2 splines: followed one after the other" in note and "(0.72 m)" in note


def test_a_drawing_of_two_strokes_is_followed_stroke_after_stroke(bundled):
    settings = bundled.moscale
    pencil = bpy.data.grease_pencils.new("Strokes")
    drawing = pencil.layers.new("Lines").frames.new(bundled.frame_current).drawing
    drawing.add_strokes([20, 20])
    first = np.stack([np.linspace(0.0, 2.0, 20), 0.3 * np.sin(np.linspace(0.0, np.pi, 20)), np.zeros(20)], axis=-1)
    second = first + (2.5, 0.5, 0.0)
    for stroke, points in zip(drawing.strokes, (first, second)):
        for point, position in zip(stroke.points, points):
            point.position = position
    obj = bpy.data.objects.new("Strokes", pencil)
    bundled.collection.objects.link(obj)
    settings.target, settings.prompt, settings.seed, settings.path_object = 'SMPL', PROMPT, 7, obj
    assert bpy.ops.moscale.generate() == {'FINISHED'}
    check_follows(settings.takes[-1], np.concatenate([first, second])[:, :2])
    (note,) = [w for w in jobs.last_warnings() if w.startswith("Path 'Strokes'")]
    assert "has 2 strokes" in note and "(0.71 m)" in note


def test_a_bad_path_is_refused_in_words_and_changes_nothing(bundled):
    scene = bundled
    settings = scene.moscale
    settings.target, settings.prompt = 'SMPL', PROMPT
    settings.path_object = bezier_path([(0.0, 0.0, 0.0), (0.05, 0.0, 0.0)], name="Dot")
    before = scene_state(scene)
    with pytest.raises(RuntimeError, match=r"Path 'Dot': path is 0\.050 m long; a path must be at least 0\.1 m"):
        bpy.ops.moscale.generate()
    assert scene_state(scene) == before

    settings.path_object, settings.loop = bezier_path([(0.0, 0.0, 0.0), (3.0, 0.0, 0.0)]), True
    before = scene_state(scene)
    with pytest.raises(RuntimeError, match="a path cannot be combined with loop") as error:
        bpy.ops.moscale.generate()
    assert "Traceback" not in str(error.value)
    assert scene_state(scene) == before


def test_the_panel_shows_the_controls_and_a_timeline_takes_the_path(bundled):
    settings = bundled.moscale
    log = draw(panels.MOSCALE_PT_main).log
    assert {("prop", name) for name in ("path_object", "keyed_poses", "loop", "in_place", "seconds")} <= set(log)
    settings.path_object = bezier_path([(0.0, 0.0, 0.0), (2.0, 1.0, 0.0), (4.0, 0.0, 0.0)])
    log = draw(panels.MOSCALE_PT_main).log
    assert ("prop", "length_from_path") in log and ("prop", "seconds") not in log  # the path sets the length
    assert ("label", "Length: the path at the prompt's pace") in log

    timeline = bundled.moscale_timeline
    for prompt, seconds in (("a person walks forward", 2.0), ("a person jogs", 1.5)):
        segment = timeline.segments.add()
        segment.prompt, segment.seconds = prompt, seconds
    settings.target = 'SMPL'
    assert bpy.ops.moscale.timeline_generate() == {'FINISHED'}
    check_follows(settings.takes[-1], curve_polyline(settings.path_object))
    settings.loop = True
    with pytest.raises(RuntimeError, match="A timeline takes a path, but not keyed poses, Loop or In Place"):
        bpy.ops.moscale.timeline_generate()
