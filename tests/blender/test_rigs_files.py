"""Rigs from files an animator already has, imported with Blender's own BVH importer: the user's Euler action
survives a Generate (and a save), takes on Euler rigs key Euler channels, LAFAN1 and Rigify-named skeletons are
recognised, and their feet stand on the floor."""
from __future__ import annotations

import bpy
import numpy as np
import pytest
from moscale.motion import Motion, retarget
from moscale.motion.retarget import to_z_up
from moscale.motion.skeleton import PARENTS

from blender_helpers import apply_motion
from moscale_blender import keyframes, rig, takes
from rig_files import LAFAN_NAMES, NO_HANDS_OR_TOES, RIGIFY_NAMES, other_proportions, renamed_clip, write_clip


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def import_bvh(path) -> bpy.types.Object:
    bpy.ops.import_anim.bvh(filepath=str(path))  # Blender's defaults: Euler rotations in the file's order
    obj = bpy.context.active_object
    assert obj is not None and obj.type == 'ARMATURE'
    return obj


def all_heads(obj, frames) -> np.ndarray:
    out = []
    for frame in frames:
        bpy.context.scene.frame_set(frame)
        evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
        matrix = np.array(evaluated.matrix_world)
        heads = np.array([tuple(b.head) for b in evaluated.pose.bones]) @ matrix[:3, :3].T + matrix[:3, 3]
        out.append(heads)
    return np.stack(out)


@pytest.fixture
def lafan_bvh(tmp_path, clip_joints):
    return write_clip(tmp_path / "lafan_walk.bvh",
                      renamed_clip(other_proportions(clip_joints[:40]), 20.0, LAFAN_NAMES, scale=100.0))


def test_the_users_euler_action_survives_generate_switch_back_and_save(scene, lafan_bvh, clip_joints, tmp_path):
    obj = import_bvh(lafan_bvh)
    original = obj.animation_data.action
    original_name = original.name
    modes = {b.name: b.rotation_mode for b in obj.pose.bones}
    assert set(modes.values()) != {'QUATERNION'}  # the importer's Euler rigs
    frames = [1, 10, 25, 40]
    before = all_heads(obj, frames)

    (take,) = apply_motion(obj, Motion(clip_joints[40:120]))
    assert {b.name: b.rotation_mode for b in obj.pose.bones} == modes  # nobody's rotation mode changed
    paths = {fc.data_path for fc in keyframes.action_fcurves(take.action)}
    assert 'pose.bones["LeftUpLeg"].rotation_euler' in paths and not any("quaternion" in p for p in paths)
    assert obj.animation_data.action == take.action and not np.allclose(all_heads(obj, frames), before)
    match = rig.match_bones(obj)
    motion = clip_joints[40:120]
    played = np.stack([rig.evaluated_joints(obj, match, bpy.context.scene, 1 + row) for row in range(len(motion))])
    aimed = [(c, p) for c, p in enumerate(PARENTS) if p >= 0 and p not in (0, 9)]
    # legs bend (and a straight leg's heel lifts) to hold the feet still and above the floor (moscale.motion.rig_feet)
    pinned = retarget.joint_frames(motion, rig.read_rest(obj), match).heads
    wanted = {c: pinned if c in (4, 5, 7, 8, 10, 11) else to_z_up(motion) for c, _ in aimed}
    worst = max(float(np.degrees(np.arccos(np.clip(np.dot(unit(played[r, c] - played[r, p]),
                                                          unit(wanted[c][r, c] - wanted[c][r, p])), -1, 1))))
                for r in range(len(motion)) for c, p in aimed)
    print(f"Euler rig take: worst bone direction error {worst:.3f} deg")
    assert worst < 0.5  # the take plays its motion on the Euler rig (no 65 degree error)

    settings = scene.moscale
    (kept,) = [t for t in settings.takes if t.kind == 'ORIGINAL']
    assert kept.action == original and original.name == original_name and original.use_fake_user
    bpy.ops.moscale.take_activate(index=list(settings.takes).index(kept))
    assert obj.animation_data.action == original
    assert np.array_equal(all_heads(obj, frames), before)  # bit-identical joints: the user's animation as it was

    obj_name = obj.name
    path = tmp_path / "saved.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.open_mainfile(filepath=str(path))
    assert original_name in bpy.data.actions and bpy.data.actions[original_name].users >= 1
    assert any(t.kind == 'ORIGINAL' and t.action.name == original_name for t in bpy.context.scene.moscale.takes)
    obj = bpy.data.objects[obj_name]
    assert np.array_equal(all_heads(obj, frames), before)


def test_deleting_the_original_take_keeps_the_users_action(scene, lafan_bvh, clip_joints):
    obj = import_bvh(lafan_bvh)
    name = obj.animation_data.action.name
    apply_motion(obj, Motion(clip_joints[:40]))
    index = [t.kind for t in scene.moscale.takes].index('ORIGINAL')
    bpy.ops.moscale.take_delete(index=index)
    assert name in bpy.data.actions and bpy.data.actions[name].use_fake_user


def feet_heights(obj, match, take) -> np.ndarray:
    points = np.stack([rig.evaluated_joints(obj, match, bpy.context.scene, take.frame_start + row)
                       for row in range(take.frame_count)])
    matrix = np.array(obj.matrix_world)
    world = points @ matrix[:3, :3].T + matrix[:3, 3]
    return world[:, [7, 8, 10, 11], 2]


def test_lafan_rig_is_recognised_and_stands_on_the_floor(scene, lafan_bvh, clip_joints):
    obj = import_bvh(lafan_bvh)
    match = rig.match_bones(obj)
    assert match.map_name == "lafan"
    (take,) = apply_motion(obj, Motion(clip_joints))
    lowest = feet_heights(obj, match, take).min()
    print(f"LAFAN rig (cm armature): lowest foot joint over the take {lowest:.3f} world units, motion's "
          f"{100 * clip_joints[:, [7, 8, 10, 11], 1].min():.3f}")
    assert abs(lowest) < 0.5  # centimetres: the feet touch the floor (was 7 cm floating)


def test_rigify_named_bvh_without_hands_and_toes(scene, tmp_path, clip_joints):
    path = write_clip(tmp_path / "rigify_export.bvh",
                      renamed_clip(other_proportions(clip_joints[:40]), 20.0, RIGIFY_NAMES, drop=NO_HANDS_OR_TOES))
    obj = import_bvh(path)
    match = rig.match_bones(obj)
    assert match.map_name == "rigify" and match.tip_names == ["left_foot", "right_foot", "left_wrist", "right_wrist"]
    (take,) = apply_motion(obj, Motion(clip_joints))
    assert abs(feet_heights(obj, match, take).min()) < 0.01


def test_unknown_rig_names_the_joint_map_and_the_bone_map(scene, tmp_path, clip_joints):
    names = [name.replace("forearm", "lowerarm") for name in RIGIFY_NAMES]
    obj = import_bvh(write_clip(tmp_path / "odd.bvh", renamed_clip(clip_joints[:10], 20.0, names,
                                                                     drop=NO_HANDS_OR_TOES)))
    scene.moscale.target = 'ACTIVE'
    with pytest.raises(takes.TakeError) as error:
        takes.plan_import(bpy.context, "x")
    message = str(error.value)
    assert message.startswith(f"Armature '{obj.name}': Unknown rig: no bone map (mesh2motion, mixamo, rigify, "
                              "rigify_metarig, rigify_metarig_bvh, smpl, unreal_mannequin, lafan) matches this "
                              "skeleton (18 bones:")
    assert "--joint-map" in message and "'Bone Map' in the MoScale panel" in message


def test_the_takes_list_shows_the_original_take(scene, lafan_bvh, clip_joints):
    from blender_helpers import RecordingLayout, apply_motion
    from moscale_blender import panels

    obj = import_bvh(lafan_bvh)
    apply_motion(obj, Motion(clip_joints[:40]))
    settings = scene.moscale
    index = [t.kind for t in settings.takes].index('ORIGINAL')
    row = RecordingLayout()
    panels.MOSCALE_UL_takes.draw_item(None, bpy.context, row, settings, settings.takes[index], 0, settings,
                                      "active_take_index", index)
    assert ("label", f"{settings.takes[index].action.name} (the armature's own animation)") in row.log


def test_edit_range_on_the_original_take_says_what_to_do(scene, lafan_bvh, clip_joints, use_model):
    obj = import_bvh(lafan_bvh)
    apply_motion(obj, Motion(clip_joints[:40]))
    settings = scene.moscale
    bpy.ops.moscale.take_activate(index=[t.kind for t in settings.takes].index('ORIGINAL'))
    settings.edit_range, settings.edit_start, settings.edit_end = 'FRAMES', 5, 10
    with pytest.raises(RuntimeError, match="is the armature's own animation, which MoScale does not edit"):
        bpy.ops.moscale.edit()
