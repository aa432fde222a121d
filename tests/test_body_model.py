"""Real SMPL-family bodies through smplx, from tiny synthetic model files the tests make themselves (the real ones
are licensed separately): finding the files, loading, the rest mesh and 22-bone weights, smplx's skinning of our
pose parameters reproducing our forward kinematics, and clear errors for unusable folders and files."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("smplx")

from moscale.motion import amass
from moscale.motion import body_model  # noqa: E402
from moscale.motion.body_model import BodyModelError  # noqa: E402
from synthetic_smpl import synthetic_smpl_arrays, write_synthetic_smpl  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "humanml3d"


@pytest.fixture(scope="module")
def smpl_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("smpl_models")
    write_synthetic_smpl(folder, "NEUTRAL")
    write_synthetic_smpl(folder, "MALE", seed=1)
    return folder


@pytest.fixture(scope="module")
def smpl_model(smpl_folder):
    path, kind, gender = body_model.find_model_file(smpl_folder, "auto", "neutral")
    return body_model.load_body_model(path, kind, gender)


def test_synthetic_model_loads_through_smplx_and_gives_a_rest_mesh(smpl_folder, smpl_model):
    import smplx

    assert isinstance(smpl_model, smplx.SMPL) and not isinstance(smpl_model, smplx.SMPLH)
    body = body_model.body_mesh(smpl_model, np.zeros(10), smpl_folder / "SMPL_NEUTRAL.npz", "neutral")
    arrays = synthetic_smpl_arrays()
    assert body.model_type == "smpl" and body.gender == "neutral"
    assert np.allclose(body.vertices, arrays["v_template"], atol=1e-6)
    assert np.array_equal(body.faces, arrays["f"].astype(np.int64))
    assert np.allclose(body.rest_joints, amass.canonical_rest(), atol=1e-6)  # each joint the mean of its ring
    assert body.weights.shape == (len(body.vertices), 22) and np.allclose(body.weights.sum(axis=1), 1.0)
    # SMPL's hand joints (22, 23) are merged into the wrists: a vertex of the left hand's ring follows the wrist
    hand_vertices = arrays["weights"][:, 22] > 0
    assert np.allclose(body.weights[hand_vertices, 20] + body.weights[hand_vertices, 18], 1.0)
    # beta 0 scales the synthetic body by 5% per unit
    taller = body_model.body_mesh(smpl_model, np.array([1.0]))
    assert np.allclose(taller.rest_joints, 1.05 * body.rest_joints, atol=0.02)
    assert np.allclose(taller.vertices - body.vertices, smpl_model.shapedirs[:, :, 0].numpy(), atol=1e-6)
    joints, vertices, lift = body.placed()
    assert joints[:, 1].min() == pytest.approx(0.0) and np.allclose(joints[0, [0, 2]], 0.0)
    assert lift == pytest.approx(-vertices[:, 1].min()) and lift > 0


def test_smplx_skinning_of_our_pose_parameters_matches_our_forward_kinematics(smpl_model):
    clip = np.load(FIXTURES / "new_joints" / "012314.npy")[::10].astype(np.float64)
    betas = np.array([0.8, -0.5, 0.3])
    body = body_model.body_mesh(smpl_model, betas)
    params = amass.pose_parameters(clip, 20, rest_joints=body.rest_joints, betas=betas)
    vertices, joints = body_model.posed_vertices(smpl_model, betas, params.global_orient, params.body_pose,
                                                 params.trans)
    expected = amass.joints_from_pose_parameters(params, body.rest_joints)  # Y up
    assert np.abs(amass.amass_to_y_up(joints) - expected).max() <= 1e-5
    assert vertices.shape == (len(clip), len(body.vertices), 3)
    # the body follows the clip's bone directions (other proportions than the clip; the pelvis and chest are a
    # best fit of their three children, so only single-child bones are exact)
    bones = [(1, 4), (4, 7), (16, 18), (18, 20), (12, 15)]
    for parent, child in bones:
        ours = expected[:, child] - expected[:, parent]
        theirs = clip[:, child] - clip[:, parent]
        cosine = (ours * theirs).sum(-1) / np.linalg.norm(ours, axis=-1) / np.linalg.norm(theirs, axis=-1)
        assert cosine.min() > 0.9999, (parent, child)


def test_smplh_layout_merges_fingers_into_the_wrists(tmp_path):
    import smplx

    path = write_synthetic_smpl(tmp_path, name="smplh/female/model.npz", hands=True)
    found, kind, gender = body_model.find_model_file(tmp_path, "auto", "female")
    assert (found, kind, gender) == (path, "smplh", "female")
    model = body_model.load_body_model(found, kind, gender)
    assert isinstance(model, smplx.SMPLH) and len(model.parents) == 52
    body = body_model.body_mesh(model)
    arrays = synthetic_smpl_arrays(hands=True)
    left_fingers = arrays["weights"][:, 22:37].sum(axis=1) > 0
    assert np.allclose(body.weights[left_fingers][:, [18, 20]].sum(axis=1), 1.0)
    params = amass.pose_parameters(np.load(FIXTURES / "new_joints" / "012314.npy")[:5], 20,
                                   rest_joints=body.rest_joints)
    _, joints = body_model.posed_vertices(model, None, params.global_orient, params.body_pose, params.trans)
    expected = amass.joints_from_pose_parameters(params, body.rest_joints)
    assert np.abs(amass.amass_to_y_up(joints) - expected).max() < 1e-5


def test_file_choice_prefers_npz_and_the_requested_type(tmp_path):
    write_synthetic_smpl(tmp_path, "FEMALE")
    (tmp_path / "SMPL_FEMALE.pkl").write_bytes(b"never read")
    write_synthetic_smpl(tmp_path, name="smplx/SMPLX_FEMALE.npz")
    assert body_model.find_model_file(tmp_path, "auto", "female") == (tmp_path / "SMPL_FEMALE.npz", "smpl", "female")
    assert body_model.find_model_file(tmp_path, "smplx", "female")[1:] == ("smplx", "female")
    assert body_model.classify(Path("basicmodel_m_lbs_10_207_0_v1.1.0.pkl")) == ("smpl", "male")
    assert body_model.classify(Path("basicModel_neutral_lbs_10_207_0_v1.0.0.pkl")) == ("smpl", "neutral")
    assert body_model.classify(Path("dmpls/male/model.npz")) is None


def test_a_pkl_model_is_read_by_smplx_itself(tmp_path):
    # only files the user picked are ever unpickled; this one is made here, the way SMPL's site ships its models
    (tmp_path / "SMPL_FEMALE.pkl").write_bytes(pickle.dumps(synthetic_smpl_arrays(seed=2)))
    path, kind, gender = body_model.find_model_file(tmp_path, "smpl", "female")
    body = body_model.body_mesh(body_model.load_body_model(path, kind, gender))
    assert np.allclose(body.vertices, synthetic_smpl_arrays(seed=2)["v_template"], atol=1e-6)


def test_unusable_folders_say_what_to_do(tmp_path, smpl_folder):
    with pytest.raises(BodyModelError, match="folder not found.*smpl.is.tue.mpg.de"):
        body_model.find_model_file(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("models go here")
    with pytest.raises(BodyModelError, match="has no SMPL, SMPL-H or SMPL-X model files.*\\.npz preferred"):
        body_model.find_model_file(tmp_path / "empty")
    with pytest.raises(BodyModelError, match="no female model .*found: SMPL male.*SMPL neutral.*Male or Neutral"):
        body_model.find_model_file(smpl_folder, "auto", "female")
    with pytest.raises(BodyModelError, match="no SMPL-X model"):
        body_model.find_model_file(smpl_folder, "smplx", "neutral")
    with pytest.raises(BodyModelError, match="Unknown gender"):
        body_model.find_model_file(smpl_folder, "auto", "child")


def test_broken_model_files_are_refused_with_the_reason(tmp_path):
    cases = {
        "missing": dict(replace={"J_regressor": None}),
        "shapes": dict(replace={"weights": np.ones((5, 24))}),
        "tree": dict(replace={"kintree_table": np.array([[2**32 - 1] + [0] * 23, list(range(24))], dtype=np.uint32)}),
    }
    expected = {"missing": "missing J_regressor", "shapes": "weights .* want", "tree": "kinematic tree is not SMPL's"}
    for name, case in cases.items():
        folder = tmp_path / name
        arrays = synthetic_smpl_arrays()
        for key, value in case["replace"].items():
            if value is None:
                arrays.pop(key)
            else:
                arrays[key] = value
        folder.mkdir()
        np.savez(folder / "SMPL_NEUTRAL.npz", **arrays)
        path, kind, gender = body_model.find_model_file(folder)
        with pytest.raises(BodyModelError, match=expected[name]):
            body_model.load_body_model(path, kind, gender)
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "SMPL_NEUTRAL.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(BodyModelError, match="not a readable .npz model file"):
        body_model.load_body_model(tmp_path / "corrupt" / "SMPL_NEUTRAL.npz", "smpl", "neutral")
    # an old SMPL .pkl that needs chumpy: smplx unpickles it (the user chose it), we explain the way out
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "SMPL_NEUTRAL.pkl").write_bytes(b"\x80\x02cchumpy.ch\nCh\nq\x00.")
    with pytest.raises(BodyModelError, match="chumpy.*\\.npz version"):
        body_model.load_body_model(tmp_path / "old" / "SMPL_NEUTRAL.pkl", "smpl", "neutral")
    (tmp_path / "old" / "SMPL_MALE.pkl").write_bytes(pickle.dumps({"v_template": np.zeros((3, 3))}))
    with pytest.raises(BodyModelError, match="could not be loaded as an SMPL model"):
        body_model.load_body_model(tmp_path / "old" / "SMPL_MALE.pkl", "smpl", "male")


def test_betas_beyond_the_model_are_refused(smpl_model):
    with pytest.raises(BodyModelError, match="10 shape coefficients"):
        body_model.body_mesh(smpl_model, np.r_[np.zeros(10), 1.0])
    with pytest.raises(BodyModelError, match="finite"):
        body_model.body_mesh(smpl_model, np.array([np.nan]))

