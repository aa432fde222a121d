"""SMPL bodies and AMASS files in Blender: "Create SMPL Character" builds the real body from the user's model files
(a tiny synthetic SMPL model the tests make), its skin follows the armature exactly as smplx skins the same pose,
AMASS .npz export and import round trip as takes, and bad folders or files are refused with nothing created."""
from __future__ import annotations

import bpy
import numpy as np
import pytest
from moscale.motion import amass, body_model
from moscale.motion import Motion
from moscale.motion.retarget import to_z_up
from moscale.motion.skeleton import JOINT_NAMES

from blender_helpers import ADDON, draw, scene_state, world_heads
from moscale_blender import character, panels, takes
from synthetic_smpl import write_synthetic_smpl

pytest.importorskip("smplx")
MM = 1e-3


@pytest.fixture(scope="module")
def smpl_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("smpl_models")
    write_synthetic_smpl(folder, "NEUTRAL")
    write_synthetic_smpl(folder, "MALE", seed=1)
    return folder


@pytest.fixture
def use_smpl(scene, smpl_folder):
    prefs = bpy.context.preferences.addons[ADDON].preferences
    prefs.smpl_model_folder = str(smpl_folder)
    yield smpl_folder
    prefs.smpl_model_folder = ""


def expected_body(folder, gender: str, betas):
    path, kind, sex = body_model.find_model_file(folder, "auto", gender)
    model = body_model.load_body_model(path, kind, sex)
    return model, body_model.body_mesh(model, np.asarray(betas, dtype=np.float64))


def body_of(rig):
    (mesh,) = [obj for obj in rig.children if obj.type == 'MESH']
    return mesh


def evaluated_vertices(obj, frame: int) -> np.ndarray:
    bpy.context.scene.frame_set(frame)
    evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    co = np.empty(3 * len(evaluated.data.vertices), dtype=np.float32)
    evaluated.data.vertices.foreach_get("co", co)
    matrix = np.array(evaluated.matrix_world)
    return co.reshape(-1, 3).astype(np.float64) @ matrix[:3, :3].T + matrix[:3, 3]


def test_create_smpl_character_builds_the_real_body(use_smpl):
    settings = bpy.context.scene.moscale
    settings.smpl_gender = 'MALE'
    settings.smpl_betas = (1.0, -0.5, 0.25, 0, 0, 0, 0, 0, 0, 0)
    assert bpy.ops.moscale.create_smpl_character() == {'FINISHED'}
    rig = settings.smpl_character
    mesh = body_of(rig)
    _, expected = expected_body(use_smpl, "male", settings.smpl_betas)
    joints, vertices, lift = expected.placed()
    co = np.empty(3 * len(mesh.data.vertices), dtype=np.float32)
    mesh.data.vertices.foreach_get("co", co)
    assert np.abs(co.reshape(-1, 3) - to_z_up(vertices)).max() < 1e-6  # the model's mesh for this gender and shape
    assert len(mesh.data.polygons) == len(expected.faces)
    heads = np.array([rig.data.bones[name].head_local for name in JOINT_NAMES])
    assert np.abs(heads - to_z_up(joints)).max() < 1e-6  # bones on the model's joints
    assert rig.location.z == pytest.approx(lift)  # soles on the floor
    weights = np.zeros((len(mesh.data.vertices), len(JOINT_NAMES)))
    group_joint = {group.index: JOINT_NAMES.index(group.name) for group in mesh.vertex_groups}
    for vertex in mesh.data.vertices:
        for element in vertex.groups:
            weights[vertex.index, group_joint[element.group]] = element.weight
    assert np.abs(weights - expected.weights).max() < 1e-6  # the model's skinning weights
    assert mesh.modifiers["Armature"].object == rig
    info = rig[character.BODY_KEY]
    assert (info["gender"], info["model_type"]) == ("male", "smpl") and info["file"].endswith("SMPL_MALE.npz")
    assert list(info["betas"])[:3] == pytest.approx([1.0, -0.5, 0.25])


def test_the_skin_follows_the_armature_like_smplx_skins_the_pose(use_smpl, clip_joints):
    settings = bpy.context.scene.moscale
    settings.target = 'SMPL'
    settings.smpl_betas = (0.5, 0.3, 0, 0, 0, 0, 0, 0, 0, 0)
    clip = clip_joints[:60]
    plan = takes.plan_import(bpy.context, "clip 012314")
    take = takes.apply_generate(bpy.context, plan, [Motion(clip)])[0]  # creates the character with the real body
    rig = take.armature
    mesh = body_of(rig)
    model, body = expected_body(use_smpl, "neutral", settings.smpl_betas)
    params = amass.pose_parameters(clip, 20, rest_joints=body.rest_joints, betas=body.betas)
    worst = 0.0
    for row in (0, 17, 33, 59):
        blender = evaluated_vertices(mesh, take.frame_start + row)
        pelvis = world_heads(rig, take.frame_start + row, ["pelvis"])[0]
        vertices, joints = body_model.posed_vertices(model, body.betas, params.global_orient[[row]],
                                                     params.body_pose[[row]], params.trans[[row]])
        smplx_relative = to_z_up(amass.amass_to_y_up(vertices[0] - joints[0, 0]))
        worst = max(worst, float(np.linalg.norm((blender - pelvis) - smplx_relative, axis=-1).max()))
    assert worst < 0.05 * MM, f"skin differs from smplx by {worst / MM:.4f} mm"
    # and the body's feet stay on the floor: the lowest vertex of the clip sits near z = 0
    lowest = min(evaluated_vertices(mesh, take.frame_start + row)[:, 2].min() for row in range(0, 60, 5))
    assert abs(lowest) < 0.05


@pytest.mark.parametrize("case, match", [
    ("missing", "SMPL model folder not found"),
    ("empty", "no SMPL, SMPL-H or SMPL-X model files"),
    ("gender", "no female model .*Choose gender Male or Neutral"),
    ("corrupt", "not a readable .npz model file"),
])
def test_bad_model_folders_are_refused_and_create_nothing(scene, smpl_folder, tmp_path, case, match):
    prefs = bpy.context.preferences.addons[ADDON].preferences
    folder = {"missing": tmp_path / "nowhere", "empty": tmp_path, "gender": smpl_folder,
              "corrupt": tmp_path}[case]
    if case == "corrupt":
        (tmp_path / "SMPL_NEUTRAL.npz").write_bytes(b"PK\x03\x04 cut short")
    scene.moscale.smpl_gender = 'FEMALE' if case == "gender" else 'NEUTRAL'
    prefs.smpl_model_folder = str(folder)
    try:
        state = scene_state(scene)
        with pytest.raises(RuntimeError, match=match):
            bpy.ops.moscale.create_smpl_character()
        assert scene_state(scene) == state and scene.moscale.smpl_character is None
        scene.moscale.target = 'SMPL'
        if case == "corrupt":  # found but unreadable: refused when the character would be made, before anything is
            np.savez(tmp_path / "clip.npz", poses=np.zeros((5, 156)), trans=np.zeros((5, 3)), mocap_framerate=20.0)
            with pytest.raises(RuntimeError, match=match):
                bpy.ops.moscale.import_amass(filepath=str(tmp_path / "clip.npz"))
            assert scene_state(scene) == state
        else:  # Generate and Import onto a missing SMPL character look for the files before anything starts
            with pytest.raises(takes.TakeError, match=match):
                takes.plan_import(bpy.context, "x")
    finally:
        prefs.smpl_model_folder = ""


def test_without_model_files_the_mannequin_stays_and_the_ui_says_where_to_get_them(scene):
    assert bpy.ops.moscale.create_smpl_character() == {'FINISHED'}
    rig = scene.moscale.smpl_character
    assert character.BODY_KEY not in rig and body_of(rig).name.endswith("Mannequin")
    # it stands on the floor: its soles, not a capsule round its toe joints 3-4 cm below it
    mesh = body_of(rig)
    lowest = min((mesh.matrix_world @ vertex.co).z for vertex in mesh.data.vertices)
    assert -1e-6 < lowest < 0.005
    layout = draw(panels.MOSCALE_PT_main)
    assert any(kind == "label" and "smpl.is.tue.mpg.de" in text for kind, text in layout.log)
    assert ("prop", "smpl_gender") not in layout.log
    prefs = bpy.context.preferences.addons[ADDON].preferences
    labels = [text for kind, text in draw(type(prefs), prefs).log if kind == "label"]
    assert any("mano.is.tue.mpg.de" in text for text in labels) and any(".npz" in text for text in labels)


def test_panel_offers_gender_shape_import_and_amass_export(use_smpl, clip_joints):
    layout = draw(panels.MOSCALE_PT_main)
    assert {("prop", "smpl_gender"), ("prop", "smpl_model_type"), ("prop", "smpl_betas")} <= set(layout.log)
    assert ("operator", "moscale.import_amass") in draw(panels.MOSCALE_PT_takes).log
    takes.apply_generate(bpy.context, takes.GeneratePlan("", "", "walk", 2.0, 0, 5.0, "fast"),
                         [Motion(clip_joints[:40])])
    buttons = {(idname, text) for idname, text, _ in draw(panels.MOSCALE_PT_export).buttons}
    assert ("moscale.export_amass", "AMASS .npz") in buttons


def test_amass_export_then_import_round_trips_as_a_new_take(scene, clip_joints, tmp_path):
    takes.apply_generate(bpy.context, takes.GeneratePlan("", "", "walk", 3.0, 0, 5.0, "fast"),
                         [Motion(clip_joints[:60], prompt="walk")])
    path = tmp_path / "walk.npz"
    assert bpy.ops.moscale.export_amass(filepath=str(path)) == {'FINISHED'}
    with np.load(path, allow_pickle=False) as data:
        assert data["poses"].shape == (60, 156) and str(data["gender"]) == "neutral"
        params = amass.PoseParameters(data["poses"][:, :3], data["poses"][:, 3:66].reshape(60, 21, 3), data["trans"],
                                      float(data["mocap_framerate"]))
    fk = amass.joints_from_pose_parameters(params, amass.canonical_rest(clip_joints[:60]))
    assert np.linalg.norm(fk - clip_joints[:60], axis=-1).max() < MM
    first = [(take.name, take.action.name) for take in scene.moscale.takes]
    assert bpy.ops.moscale.import_amass(filepath=str(path)) == {'FINISHED'}
    assert [(take.name, take.action.name) for take in scene.moscale.takes][:1] == first  # the earlier take stays
    imported = scene.moscale.takes[-1]
    assert imported.kind == 'IMPORT' and imported.prompt == "walk" and imported.frame_count == 60
    row = draw(panels.MOSCALE_PT_takes)  # the list shows imported takes with their own icon
    panels.MOSCALE_UL_takes.draw_item(None, bpy.context, row, scene.moscale, imported, 0, scene.moscale,
                                      "active_take_index")
    assert ("prop", "name") in row.log
    assert scene.moscale.active_take_index == len(scene.moscale.takes) - 1
    rig = imported.armature
    heads = world_heads(rig, imported.frame_start + 30, JOINT_NAMES)
    assert np.linalg.norm(heads - to_z_up(clip_joints[30]), axis=-1).max() < MM


def test_amass_export_of_a_real_body_carries_its_shape_and_pose(use_smpl, clip_joints, tmp_path):
    settings = bpy.context.scene.moscale
    settings.smpl_gender, settings.smpl_betas = 'MALE', (0.7, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    assert bpy.ops.moscale.create_smpl_character() == {'FINISHED'}
    rig = settings.smpl_character
    (take,) = takes.apply_generate(bpy.context, takes.GeneratePlan(rig.name, "", "walk", 2.0, 0, 5.0, "fast"),
                                   [Motion(clip_joints[:40])])
    assert bpy.ops.moscale.export_amass(filepath=str(tmp_path / "body.npz")) == {'FINISHED'}
    with np.load(tmp_path / "body.npz", allow_pickle=False) as data:
        assert str(data["gender"]) == "male" and data["betas"][0] == pytest.approx(0.7)
        params = amass.PoseParameters(data["poses"][:, :3], data["poses"][:, 3:66].reshape(40, 21, 3), data["trans"],
                                      20.0)
    rest, _, _, lift = character.body_of(rig)
    assert lift == pytest.approx(rig.location.z)
    posed = amass.joints_from_pose_parameters(params, rest)  # the body's own skeleton, Y up
    for row in (0, 20, 39):
        heads = world_heads(rig, take.frame_start + row, JOINT_NAMES)
        assert np.abs((heads - heads[0]) - to_z_up(posed[row] - posed[row, 0])).max() < 0.01 * MM
        assert heads[0, 2] == pytest.approx(posed[row, 0, 1], abs=0.01 * MM)  # the pelvis at the viewport's height


def test_bad_amass_files_are_refused_and_import_nothing(scene, clip_joints, tmp_path):
    takes.apply_generate(bpy.context, takes.GeneratePlan("", "", "walk", 2.0, 0, 5.0, "fast"),
                         [Motion(clip_joints[:40])])
    state = scene_state(scene)
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04 not really")
    np.savez(tmp_path / "other.npz", weights=np.zeros(4))
    np.savez(tmp_path / "short.npz", poses=np.zeros((5, 12)), trans=np.zeros((5, 3)))
    for name, match in (("corrupt.npz", "not a readable .npz"), ("other.npz", "needs 'joints'"),
                        ("short.npz", "'poses' must have shape"), ("missing.npz", "does not exist")):
        with pytest.raises(RuntimeError, match=match):
            bpy.ops.moscale.import_amass(filepath=str(tmp_path / name))
        assert scene_state(scene) == state, name
    scene.moscale.target = 'ACTIVE'
    for obj in bpy.context.view_layer.objects:
        obj.select_set(False)
    bpy.context.view_layer.objects.active = None
    np.savez(tmp_path / "good.npz", poses=np.zeros((5, 156)), trans=np.zeros((5, 3)), mocap_framerate=60.0)
    with pytest.raises(RuntimeError, match="No armature"):
        bpy.ops.moscale.import_amass(filepath=str(tmp_path / "good.npz"))
    assert scene_state(scene) == state


def test_an_imported_120_fps_clip_is_edited_at_the_models_20_fps(scene, use_model, tmp_path):
    rng = np.random.default_rng(4)
    count = 241  # two seconds at 120 fps
    body = np.cumsum(rng.normal(scale=0.01, size=(count, 22, 3)), axis=0)
    params = amass.PoseParameters(np.tile([np.pi / 2, 0.0, 0.0], (count, 1)), 0.2 * np.tanh(body[:, 1:]),
                                  np.cumsum(np.full((count, 3), [0.0, 0.01, 0.0]), axis=0), 120.0)
    np.savez(tmp_path / "amass.npz", poses=params.poses(), trans=params.trans, mocap_framerate=120.0,
             gender=np.array("female"))
    scene.moscale.target = 'SMPL'
    assert bpy.ops.moscale.import_amass(filepath=str(tmp_path / "amass.npz")) == {'FINISHED'}
    (take,) = scene.moscale.takes
    assert take.kind == 'IMPORT' and take.frame_count == 40  # 241 / 120 s at the scene's 20 fps
    scene.moscale.edit_range, scene.moscale.edit_start, scene.moscale.edit_end = 'FRAMES', 10, 25
    request, plan = takes.plan_edit(bpy.context)
    assert len(request.source_joints) == 41 and (request.start_frame, request.end_frame) == (9, 25)
    scene.moscale.edit_prompt = "the person jumps"
    assert bpy.ops.moscale.edit() == {'FINISHED'}
    assert len(scene.moscale.takes) == 2 and scene.moscale.takes[0].kind == 'IMPORT'
    assert scene.moscale.takes[1].kind == 'EDIT' and scene.moscale.takes[1].frame_count == 40


def test_fbx_export_carries_the_real_body(use_smpl, clip_joints, tmp_path):
    from moscale_blender import export

    bpy.context.scene.moscale.target = 'SMPL'
    (take,) = takes.apply_generate(bpy.context, takes.GeneratePlan("", "", "walk", 2.0, 0, 5.0, "fast"),
                                   [Motion(clip_joints[:40])])
    vertex_count = len(body_of(take.armature).data.vertices)
    path = export.export_fbx(bpy.context, export.export_target(bpy.context), tmp_path / "body.fbx", "UNITY")
    before = set(bpy.data.objects)
    assert bpy.ops.import_scene.fbx(filepath=str(path)) == {'FINISHED'}
    meshes = [obj for obj in set(bpy.data.objects) - before if obj.type == 'MESH']
    assert [len(mesh.data.vertices) for mesh in meshes] == [vertex_count]
    assert {group.name for group in meshes[0].vertex_groups} == set(JOINT_NAMES)
