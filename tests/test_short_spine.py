"""Rigs with a short spine (issue 25): a Rigify metarig exported to BVH (ReActIdle: pelvis, spine, spine.001, neck,
face; no hands, no toes) has no bone for SMPL's spine2, and its spine bone starts at the pelvis. The joint is
*spanned*: the spine bone aims past it at spine3, and it sits along that bone. No Blender needed; the evaluated rigs:
tests/blender/test_rigs_metarig.py."""
from __future__ import annotations

import json

import numpy as np
import pytest

from moscale.motion import Motion, bvh, feet, rigs, sources
from moscale.motion import retarget as rt
from moscale.motion.skeleton import JOINT_INDEX, JOINT_NAMES
from metarig_rig import NAMES, SKELETON, write_metarig_bvh

# Blender's human metarig (Add > Armature > Human (Meta-Rig)): the bones a map needs, and a few it does not
HUMAN_METARIG = ("spine", "spine.001", "spine.002", "spine.003", "spine.004", "spine.005", "spine.006", "face",
                 "pelvis.L", "pelvis.R", "breast.L", "breast.R", "heel.02.L", "heel.02.R", "f_index.01.L") + tuple(
    f"{bone}.{side}" for side in "LR" for bone in ("thigh", "shin", "foot", "toe", "shoulder", "upper_arm", "forearm",
                                                    "hand"))
# (joint, child) whose rig bone is aimed at the child: the spine bone spans spine1 -> spine3
AIMED = ((1, 4), (2, 5), (4, 7), (5, 8), (3, 9), (12, 15), (13, 16), (14, 17), (16, 18), (17, 19), (18, 20), (19, 21))


@pytest.fixture(scope="module")
def locked(fixtures_dir) -> np.ndarray:
    raw = np.load(fixtures_dir / "humanml3d" / "new_joints" / "012314.npy").astype(np.float64)
    return feet.lock_feet(raw, feet.contacts_from_joints(raw)).astype(np.float64)


def metarig_export_rest() -> rt.ArmatureRest:
    """The BVH metarig as an armature (Z up, metres), each bone's tail at its child's head or End Site, as Blender's
    BVH importer makes it (the zero-length pelvis gets a 10 cm bone up)."""
    heads = np.zeros((len(SKELETON), 3))
    for joint, (_, parent, offset, _) in enumerate(SKELETON):
        heads[joint] = (heads[parent] if parent >= 0 else 0.0) + np.asarray(offset)
    tails = heads + [0.0, 0.1, 0.0]
    for joint, (_, parent, offset, end) in enumerate(SKELETON):
        if end is not None:
            tails[joint] = heads[joint] + np.asarray(end)
        children = [c for c, (_, p, o, _) in enumerate(SKELETON) if p == joint and np.any(o)]
        if children and joint != 0:
            tails[joint] = heads[children[0]]
    parents = [parent for _, parent, _, _ in SKELETON]
    return rt.rest_from_bones(NAMES, parents, rt.to_z_up(heads), rt.to_z_up(tails))


def test_spanned_joints_sit_at_smpl_proportions():
    assert rigs.spans((6,)) == {6: (3, 9, pytest.approx(0.1432 / (0.1432 + 0.0574)))}
    both = rigs.spans((3, 6))
    assert both[3][:2] == both[6][:2] == (0, 9) and 0 < both[3][2] < both[6][2] < 1
    points = np.arange(22 * 3, dtype=np.float64).reshape(22, 3)
    placed = rigs.place_spanned(points, (12,))  # no neck bone: on the line spine3 -> head
    assert np.allclose(np.cross(placed[12] - points[9], points[15] - points[9]), 0.0)
    assert np.array_equal(np.delete(placed, 12, axis=0), np.delete(points, 12, axis=0))


def test_a_bone_map_may_leave_out_in_between_joints_only():
    full = rigs.BoneMap.from_json(rigs.builtin_maps_folder() / "rigify_metarig_bvh.json")
    assert "spine2" not in full.bones
    with pytest.raises(ValueError, match="missing \\['left_knee'\\]"):
        rigs.BoneMap("no_knee", {j: b for j, b in full.bones.items() if j != "left_knee"})
    with pytest.raises(ValueError, match="neck or head"):
        rigs.BoneMap("no_neck", {j: b for j, b in full.bones.items() if j not in ("neck", "head")})


def test_both_metarigs_are_recognised():
    human = rigs.detect_rig(HUMAN_METARIG)
    assert human.map_name == "rigify_metarig" and human.tips == () and human.spanned == ()
    export = rigs.detect_rig(NAMES)
    assert export.map_name == "rigify_metarig_bvh" and export.spanned == (JOINT_INDEX["spine2"],)
    assert export.tip_names == ["left_foot", "right_foot", "left_wrist", "right_wrist"]
    assert export.bone_of_joint[JOINT_INDEX["spine1"]] == "spine" and export.bone_of_joint[9] == "spine.001"


def test_the_spine_bone_spans_two_segments_and_every_bone_follows(locked):
    rest = metarig_export_rest()
    match = rigs.detect_rig(rest.names)
    result = rt.retarget(locked, rest, match, pin_feet=False)
    assert np.all(np.isfinite(result.rotations)) and "spine" in result.bone_names
    heads = rt.posed_heads(rest, result)
    index = [rest.index(name) for name in match.bone_of_joint]
    points = rigs.place_spanned(heads[:, index], match.spanned)  # tips (hands, toes) own no head: not compared
    motion = rt.to_z_up(locked)
    for joint, child in ((j, c) for j, c in AIMED if c not in match.tips):
        rig_dir, motion_dir = (p[:, child] - p[:, joint] for p in (points, motion))
        cosine = (rig_dir * motion_dir).sum(-1) / np.linalg.norm(rig_dir, axis=-1) / np.linalg.norm(motion_dir, axis=-1)
        assert cosine.min() > 1 - 1e-9, (JOINT_NAMES[joint], JOINT_NAMES[child], cosine.min())
    # the pelvis turns with the body (its spine starts on it: the fit reaches on to spine3), the hips stay level
    hips = points[:, 2] - points[:, 1]
    motion_hips = motion[:, 2] - motion[:, 1]
    cosine = (hips * motion_hips).sum(-1) / np.linalg.norm(hips, axis=-1) / np.linalg.norm(motion_hips, axis=-1)
    assert cosine.min() > 0.98
    # spine2 lies on the spine bone, between spine1 and spine3
    t = rigs.spans(match.spanned)[6][2]
    assert np.allclose(points[:, 6], points[:, 3] + t * (points[:, 9] - points[:, 3]))


def test_convert_reads_a_metarig_export_with_and_without_a_joint_map(tmp_path):
    from moscale.cli import main as cli_main

    source = write_metarig_bvh(tmp_path / "idle.bvh", frames=30)
    assert cli_main(["convert", str(source), "-o", str(tmp_path / "auto.npz")]) == 0
    auto = Motion.load(tmp_path / "auto.npz")
    assert auto.metadata["rig"] == "rigify_metarig" and auto.num_frames == 30
    # the bones the rig has, by name; spine2, hands and toes left out
    names = {"pelvis": "pelvis", "left_hip": "thigh.L", "right_hip": "thigh.R", "spine1": "spine",
             "left_knee": "shin.L", "right_knee": "shin.R", "left_ankle": "foot.L", "right_ankle": "foot.R",
             "spine3": "spine.001", "neck": "neck", "left_collar": "shoulder.L", "right_collar": "shoulder.R",
             "head": "face", "left_shoulder": "upper_arm.L", "right_shoulder": "upper_arm.R",
             "left_elbow": "forearm.L", "right_elbow": "forearm.R"}
    (tmp_path / "map.json").write_text(json.dumps(names))
    assert cli_main(["convert", str(source), "-o", str(tmp_path / "mapped.npz"), "--joint-map",
                     str(tmp_path / "map.json")]) == 0
    mapped = Motion.load(tmp_path / "mapped.npz")
    limbs = [1, 2, 4, 5, 7, 8, 10, 11, 12, 15, 16, 17, 18, 19, 20, 21]  # named the same way by both, or End Sites
    assert np.abs(mapped.joints[:, limbs] - auto.joints[:, limbs]).max() < 1e-6
    positions, _ = bvh.forward_kinematics(bvh.read_bvh(source))
    spine, chest = positions[:, NAMES.index("spine")], positions[:, NAMES.index("spine.001")]
    t = rigs.spans((6,))[6][2]
    assert np.abs(mapped.joints[:, 6] - (spine + t * (chest - spine))).max() < 1e-6
    # a map naming a bone the file lacks still says so
    with pytest.raises(sources.RigError, match="spine3 \\(needs 'chest'\\)"):
        sources.rig_for_skeleton(list(NAMES), {**names, "spine3": "chest"})
