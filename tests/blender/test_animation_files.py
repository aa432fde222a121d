"""Hand-keyed animations read from Blender files (moscale_blender.animation_files): a tiny rig with Mesh2Motion's glTF
bone names (keyed_rig.py), saved as .blend and exported as .glb, reads back as the motion keyed, in MoScale's frame
(Y up, metres), through the rig's object transform; the session is left as it was."""
from __future__ import annotations

import bpy
import numpy as np
import pytest

import keyed_rig
from blender_helpers import scene_state
from moscale.evaluation.behaviour import pelvis_travel
from moscale.motion import rigs
from moscale.motion.skeleton import PARENTS
from moscale_blender import animation_files

CM = 0.01
FEET = [7, 8, 10, 11]  # ankles, feet


@pytest.fixture
def walk_files(scene, tmp_path):
    keyed_rig.build_rig()
    return dict(zip(("blend", "glb"), keyed_rig.write_files(tmp_path)))


def angle_degrees(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1.0, 1.0))))


@pytest.mark.parametrize("kind, scene_fps", [("blend", 20), ("glb", 20), ("glb", 24)])
def test_the_keyed_walk_reads_back(walk_files, scene, kind, scene_fps):
    scene.render.fps = scene_fps  # a glTF clip keeps the rate of its keys whatever the scene's rate
    (clip,) = animation_files.read_animations(walk_files[kind])
    # the session holds an action of the same name: the clip keeps the file's name, not Blender's "Walk Forward.001"
    assert (clip.name, clip.bone_map, clip.source) == (keyed_rig.ACTION, "mesh2motion", str(walk_files[kind]))
    assert clip.joints.shape == (keyed_rig.FRAMES, 22, 3) and clip.joints.dtype == np.float64
    assert clip.fps == keyed_rig.FPS and clip.seconds == pytest.approx(1.0)
    joints = clip.joints
    assert joints[0, 0, 1] == pytest.approx(keyed_rig.PELVIS_HEIGHT_M, abs=CM)  # Y up, metres: the object's scale
    assert joints[0, FEET, 1].min() == pytest.approx(0.015, abs=CM)              # the toes on the floor
    # 1 m along the character's forward; the object turns the rig to face +X
    np.testing.assert_allclose(joints[-1, 0] - joints[0, 0], [keyed_rig.TRAVEL_M, 0.0, 0.0], atol=CM)
    assert pelvis_travel(joints)["forward"] == pytest.approx(keyed_rig.TRAVEL_M, abs=CM)
    lengths = np.linalg.norm(joints[:, 1:] - joints[:, PARENTS[1:]], axis=-1)
    assert np.ptp(lengths, axis=0).max() < 1e-3  # rigid bones, every frame
    left_shin, right_shin = joints[:, 7] - joints[:, 4], joints[:, 8] - joints[:, 5]
    assert angle_degrees(left_shin[0], left_shin[-1]) == pytest.approx(keyed_rig.KNEE_DEGREES, abs=0.5)
    assert angle_degrees(right_shin[0], right_shin[-1]) < 0.1


def test_reading_leaves_the_session_as_it_was(walk_files, scene):
    active = bpy.context.view_layer.objects.active
    scene.frame_set(7)
    before, blocks = scene_state(scene), len(bpy.data.user_map())
    selected = sorted(obj.name for obj in bpy.context.selected_objects)
    for path in walk_files.values():
        animation_files.read_animations(path)
    assert scene_state(scene) == before and len(bpy.data.user_map()) == blocks
    assert bpy.context.view_layer.objects.active == active and scene.frame_current == 7
    assert sorted(obj.name for obj in bpy.context.selected_objects) == selected
    assert (scene.render.fps, scene.render.fps_base) == (keyed_rig.FPS, 1.0)


def test_an_unknown_rig_is_refused_and_a_bone_map_reads_it(scene, tmp_path):
    obj = keyed_rig.build_rig()
    for bone in obj.data.bones:  # Blender renames the action's channels with the bones
        bone.name = bone.name.replace("DEF-", "B_")
    blend, glb = keyed_rig.write_files(tmp_path)
    with pytest.raises(rigs.UnknownRigError, match="Armature 'Mesh2Motion Rig.*Unknown rig"):
        animation_files.read_animations(blend)
    mesh2motion = rigs.BoneMap.from_json(rigs.builtin_maps_folder() / "mesh2motion.json")
    renamed = rigs.BoneMap("renamed", {joint: bone.replace("DEF-", "B_") for joint, bone in mesh2motion.bones.items()})
    for path in (blend, glb):
        (clip,) = animation_files.read_animations(path, renamed)
        assert clip.bone_map == "renamed"
        assert clip.joints[-1, 0, 0] - clip.joints[0, 0, 0] == pytest.approx(keyed_rig.TRAVEL_M, abs=CM)


def test_files_blender_cannot_read(scene, tmp_path):
    (tmp_path / "broken.blend").write_bytes(b"not a blend file")
    (tmp_path / "broken.glb").write_bytes(b"not a glb file")
    with pytest.raises(ValueError, match="broken.blend: Blender cannot read it"):
        animation_files.read_animations(tmp_path / "broken.blend")
    with pytest.raises(ValueError, match="broken.glb: Blender cannot import it"):
        animation_files.read_animations(tmp_path / "broken.glb")
    with pytest.raises(FileNotFoundError):
        animation_files.read_animations(tmp_path / "missing.glb")
    with pytest.raises(ValueError, match="not an animation file"):
        animation_files.read_animations(tmp_path / "walk.fbx")
