"""One rig detection for the add-on and the command line: LAFAN1 names (LeftToe), Rigify DEF-* names without hands
and toes, and an unknown skeleton's message naming --joint-map. No Blender needed."""
from __future__ import annotations

import numpy as np
import pytest

from moscale.motion import bvh, retarget, rigs, sources
from moscale.motion.skeleton import JOINT_NAMES
from rig_files import LAFAN_NAMES, NO_HANDS_OR_TOES, RIGIFY_NAMES, renamed_clip, write_clip


@pytest.fixture(scope="module")
def joints(fixtures_dir) -> np.ndarray:
    return np.load(fixtures_dir / "humanml3d" / "new_joints" / "012314.npy").astype(np.float64)[:60]


def test_lafan_names_are_detected_by_the_add_on_maps_and_the_cli(joints, tmp_path):
    match = rigs.detect_rig(list(LAFAN_NAMES) + ["LeftToe_End"])
    assert match.map_name == "lafan" and match.tips == ()
    clip = bvh.read_bvh(write_clip(tmp_path / "lafan.bvh", renamed_clip(joints, 20.0, LAFAN_NAMES, scale=100.0)))
    read, rig = sources.bvh_smpl_joints(clip)
    assert rig.name == "lafan"
    assert np.abs(read - joints).max() < 1e-4  # metres: the file's centimetres read back, every frame kept


def test_rigify_named_bvh_without_hands_and_toes_maps_through_end_sites(joints, tmp_path):
    clip = renamed_clip(joints, 20.0, RIGIFY_NAMES, drop=NO_HANDS_OR_TOES)
    assert not {"DEF-hand.L", "DEF-toe.R"} & set(clip.skeleton.names)
    match = rigs.detect_rig(clip.skeleton.names)
    assert match.map_name == "rigify" and match.tip_names == ["left_foot", "right_foot", "left_wrist", "right_wrist"]
    read, rig = sources.bvh_smpl_joints(bvh.read_bvh(write_clip(tmp_path / "rigify.bvh", clip)))
    assert rig.name == "rigify"
    assert np.abs(read - joints).max() < 1e-4


def test_a_rig_that_cannot_be_mapped_fails_with_the_shared_message(joints):
    clip = renamed_clip(joints, 20.0, RIGIFY_NAMES, drop=NO_HANDS_OR_TOES)
    names = [name.replace("DEF-forearm", "DEF-lowerarm") for name in clip.skeleton.names]
    with pytest.raises(sources.RigError) as error:
        sources.rig_for_skeleton(names)
    message = str(error.value)
    assert message.startswith("Unknown rig: no bone map (mesh2motion, mixamo, rigify, rigify_metarig, "
                              "rigify_metarig_bvh, smpl, unreal_mannequin, lafan) matches this skeleton (18 bones: "
                              "DEF-spine, DEF-thigh.L, DEF-thigh.R, DEF-spine.001, ")
    assert ("Closest is 'rigify', missing 4 bones: DEF-forearm.L, DEF-forearm.R, DEF-hand.L, DEF-hand.R (hand, "
            "toe and head bones may be absent: they are then taken at the end of their parent bone; also absent, "
            "which is fine: DEF-toe.L, DEF-toe.R).") in message
    assert "--joint-map my_map.json" in message and "'Bone Map' in the MoScale panel" in message


def test_joint_map_renames_what_it_names(joints):
    clip = renamed_clip(joints, 20.0, [name.upper() for name in JOINT_NAMES])
    mapping = {name: name.upper() for name in JOINT_NAMES}
    read, rig = sources.bvh_smpl_joints(clip, mapping)
    assert rig.name == "joint_map" and np.abs(read - joints).max() < 1e-4
    with pytest.raises(sources.RigError, match="keys must be SMPL joint names"):
        sources.rig_for_skeleton(clip.skeleton.names, {"hips": "PELVIS"})


def test_feet_of_a_retargeted_rig_touch_the_floor(joints):
    """A rig with longer feet and higher ankles than SMPL's: the lowest point of its soles over the take (toe ends,
    the ground under its ankles: moscale.motion.rig_feet) is on the floor (measured 7 cm floating before the floor
    rule, 2-3 cm sunk with the old lowest-joint rule), and the keys play what joint_frames says."""
    from retarget_rigs import mixamo_like_bones
    from moscale.motion import rig_feet
    from moscale.motion import rotations as rot

    names, parents, heads, tails, rolls = mixamo_like_bones("")
    rest = retarget.rest_from_bones(names, parents, heads, tails, rolls)
    match = rigs.detect_rig(names)
    frames = retarget.joint_frames(joints, rest, match)
    up = rot.rotate(rot.conjugate(rot.normalize(rest.object_rotation)), np.array([0.0, 0.0, 1.0]))
    shape = rig_feet.foot_shape(frames.rest_joints, np.concatenate([rest.heads, rest.tails]), up)
    left, right = rig_feet.sole_heights(shape, frames.deltas, frames.heads, frames.rest_joints)
    assert min(left.min(), right.min()) == pytest.approx(0.0, abs=1e-6)
    assert frames.heads[:, [7, 8, 10, 11], 2].min() > 0.5  # the ankles and toes stand above the floor, not on it
    posed = retarget.posed_heads(rest, retarget.retarget(joints, rest, match))
    index = [rest.index(name) for name in match.bone_of_joint]
    assert np.abs(posed[:, index] - frames.heads).max() < 1e-6  # the keys play what joint_frames says


def test_moscale_convert_reads_a_lafan_bvh(joints, tmp_path, capsys):
    from moscale.cli import main

    source = write_clip(tmp_path / "lafan.bvh", renamed_clip(joints, 20.0, LAFAN_NAMES, scale=100.0))
    assert main(["convert", str(source), "-o", str(tmp_path / "walk.npy")]) == 0
    assert np.abs(np.load(tmp_path / "walk.npy") - joints).max() < 1e-4


def test_moscale_convert_names_the_joint_map_for_an_unknown_rig(joints, tmp_path, capsys):
    from moscale.cli import main

    names = [name.replace("forearm", "lowerarm") for name in RIGIFY_NAMES]
    source = write_clip(tmp_path / "odd.bvh", renamed_clip(joints, 20.0, names, drop=NO_HANDS_OR_TOES))
    assert main(["convert", str(source), "-o", str(tmp_path / "odd.npy")]) != 0
    assert "--joint-map" in capsys.readouterr().err


# Mesh2Motion's human rig: its glTF exports (DEF-hips, DEF-neck, DEF-head: no DEF-spine) and the Unreal-named deform
# bones its .blend sources drive from DRV_/CTRL_ controls (bone names read from the files with bpy).
MESH2MOTION_GLTF = ("root", "DEF-hips", "DEF-spine.001", "DEF-spine.002", "DEF-spine.003", "DEF-neck", "DEF-neck.01",
                    "DEF-head", "DEF-head.tip", *(f"DEF-{bone}.{side}" for side in "LR" for bone in (
                        "shoulder", "upper_arm", "forearm", "hand", "f_index.01", "thumb.01", "thigh", "shin", "foot",
                        "toe", "toe.tip")))
MESH2MOTION_BLEND = ("DRV_root", "CTRL_Hips", "DRV_hips", "DRV_thigh_L", "root", "pelvis", "spine_01", "spine_02",
                     "spine_03", "neck_01", "head", "head_leaf", *(f"{bone}_{side}" for side in "lr" for bone in (
                         "clavicle", "upperarm", "lowerarm", "hand", "index_01", "thigh", "calf", "foot", "ball",
                         "ball_leaf")))


def test_mesh2motion_rigs_are_recognised_and_the_map_claims_no_other_rig():
    maps = rigs.load_bone_maps()
    assert rigs.detect_rig(MESH2MOTION_GLTF).map_name == "mesh2motion"
    others = [m.name for m in maps if m.name != "mesh2motion"
              for tips in (False, True) if rigs.match_rig(MESH2MOTION_GLTF, m, allow_tips=tips)[0] is not None]
    assert others == []
    mesh2motion = next(m for m in maps if m.name == "mesh2motion")
    claimed = [m.name for m in maps if m.name != "mesh2motion"
               if rigs.match_rig(list(m.bones.values()) + ["root"], mesh2motion, allow_tips=True)[0] is not None]
    assert claimed == []
    # the .blend sources' deform bones carry Unreal's names and hierarchy: that map reads them
    assert rigs.detect_rig(MESH2MOTION_BLEND).map_name == "unreal_mannequin"


def test_maps_may_leave_out_leaves_the_rig_has_no_bone_for(joints, tmp_path):
    """A custom bone map (panel) and a --joint-map (command line) of a rig without hands or toes need not name them:
    those leaves sit at their parent bone's end, as the automatic detection puts them."""
    clip = renamed_clip(joints, 20.0, RIGIFY_NAMES, drop=NO_HANDS_OR_TOES)
    bones = {JOINT_NAMES[j]: RIGIFY_NAMES[j] for j in range(22) if j not in NO_HANDS_OR_TOES}
    custom = rigs.BoneMap("my_rig", bones)
    match, missing = rigs.match_rig(clip.skeleton.names, custom)
    assert missing == [] and match.tip_names == ["left_foot", "right_foot", "left_wrist", "right_wrist"]
    read, rig = sources.bvh_smpl_joints(bvh.read_bvh(write_clip(tmp_path / "no_leaves.bvh", clip)), bones)
    assert rig.name == "joint_map" and np.abs(read - joints).max() < 1e-4
    with pytest.raises(ValueError, match=r"missing \['left_knee'\]"):  # a joint that is not a leaf is still needed
        rigs.BoneMap("broken", {k: v for k, v in bones.items() if k != "left_knee"})
    with pytest.raises(sources.RigError, match="left_foot"):  # a leaf named wrongly is still an error
        sources.rig_for_skeleton(clip.skeleton.names, {**bones, "left_foot": "DEF-toe-typo.L"})
