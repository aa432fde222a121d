"""Real SMPL / SMPL-H / SMPL-X bodies through the ``smplx`` package, from model files the user downloads.

    path, model_type, gender = find_model_file(folder, "auto", "female")   # BodyModelError says what is missing
    model = load_body_model(path, model_type, gender)                      # an smplx module (torch)
    body = body_mesh(model, betas)                                          # mesh, 22 rest joints, 22-bone weights

The model files are licensed separately (https://smpl.is.tue.mpg.de/, https://mano.is.tue.mpg.de/ for SMPL-H,
https://smpl-x.is.tue.mpg.de/) and never ship with MoScale. ``.npz`` files are preferred: SMPL and SMPL-H
``.npz`` files are read here with ``allow_pickle=False`` and handed to smplx as arrays. A ``.pkl`` (and an SMPL-X
``.npz``, which smplx itself opens with ``allow_pickle=True``) is unpickled by smplx: only ever do that with a file
the user chose from the official sites. Everything is in the model frame: Y up, facing +Z, metres.

Skinning: the model's linear-blend weights, with every joint beyond the 22 body joints (SMPL's hand joints,
SMPL-H/X fingers, SMPL-X jaw and eyes) merged into its nearest body ancestor (wrists, head), since hands and face
stay at rest. Pose-corrective blend shapes (``posedirs``) are not part of the mesh (Blender's armature deform is
linear blend skinning only).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from moscale.motion.skeleton import NUM_JOINTS, PARENTS

MODEL_TYPES = ("smpl", "smplh", "smplx")
GENDERS = ("neutral", "female", "male")
MODEL_LABELS = {"smpl": "SMPL", "smplh": "SMPL-H", "smplx": "SMPL-X"}
DOWNLOADS = {"smpl": "https://smpl.is.tue.mpg.de/", "smplh": "https://mano.is.tue.mpg.de/",
             "smplx": "https://smpl-x.is.tue.mpg.de/"}
WHERE_TO_GET = ("Download SMPL (https://smpl.is.tue.mpg.de/), SMPL-H (https://mano.is.tue.mpg.de/) or SMPL-X "
                "(https://smpl-x.is.tue.mpg.de/) model files (free registration, their own licence; .npz preferred) "
                "and put them in one folder")
REQUIRED_ARRAYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
_SEARCH_DEPTH = 3
_GENDER_LETTER = {"f": "female", "m": "male", "neutral": "neutral", "female": "female", "male": "male"}


class BodyModelError(ValueError):
    """A model folder or file that cannot give a body; the message says what is wrong and what to do."""


def classify(path: Path) -> tuple[str, str] | None:
    """(model type, gender) from a model file's name, or None when it is not one.

    SMPL_NEUTRAL.npz, SMPLH_female.pkl, SMPLX_MALE.npz; the SMPL site's basicmodel_m_lbs_10_207_0_v1.1.0.pkl;
    AMASS's extended SMPL+H smplh/<gender>/model.npz.
    """
    name = path.name.lower()
    if path.suffix.lower() not in (".npz", ".pkl"):
        return None
    match = re.fullmatch(r"(smplx|smplh|smpl)_(neutral|female|male)\.(npz|pkl)", name)
    if match:
        return match.group(1), match.group(2)
    match = re.fullmatch(r"basicmodel_(f|m|neutral)_lbs_.*\.(npz|pkl)", name)
    if match:
        return "smpl", _GENDER_LETTER[match.group(1)]
    if path.stem.lower() == "model" and path.parent.name.lower() in GENDERS:
        if path.parent.parent.name.lower().replace("+", "").startswith("smplh"):
            return "smplh", path.parent.name.lower()
    return None


def _model_files(folder: Path) -> list[tuple[str, str, Path]]:
    found = []
    pending = [(folder, 0)]
    while pending:
        current, depth = pending.pop()
        try:
            entries = sorted(current.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir() and depth < _SEARCH_DEPTH:
                pending.append((entry, depth + 1))
            elif entry.is_file():
                kind = classify(entry)
                if kind is not None:
                    found.append((kind[0], kind[1], entry))
    return found


def _describe(found: list[tuple[str, str, Path]]) -> str:
    return ", ".join(sorted({f"{MODEL_LABELS[t]} {g} ({p.name})" for t, g, p in found}))


def find_model_file(folder: str | Path, model_type: str = "auto", gender: str = "neutral") -> tuple[Path, str, str]:
    """(file, model type, gender) of the model to load from ``folder`` (searched 3 levels deep).

    ``model_type`` "auto" takes SMPL, then SMPL-H, then SMPL-X; .npz wins over .pkl. Raises BodyModelError.
    """
    model_type, gender = model_type.lower(), gender.lower()
    if gender not in GENDERS:
        raise BodyModelError(f"Unknown gender '{gender}': use one of {', '.join(GENDERS)}.")
    if model_type != "auto" and model_type not in MODEL_TYPES:
        raise BodyModelError(f"Unknown body model type '{model_type}': use auto, {', '.join(MODEL_TYPES)}.")
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise BodyModelError(f"SMPL model folder not found: {folder}. Point 'SMPL Model Folder' (Preferences > "
                             f"Add-ons > MoScale) at the folder holding e.g. SMPL_NEUTRAL.npz. {WHERE_TO_GET}.")
    found = _model_files(folder)
    if not found:
        raise BodyModelError(
            f"{folder} has no SMPL, SMPL-H or SMPL-X model files (looked for names like SMPL_NEUTRAL.npz, "
            f"SMPLH_FEMALE.npz, SMPLX_MALE.npz, smplh/female/model.npz, basicmodel_m_lbs_10_207_0_v1.1.0.pkl). "
            f"{WHERE_TO_GET}.")
    types = MODEL_TYPES if model_type == "auto" else (model_type,)
    of_type = [item for item in found if item[0] in types]
    if not of_type:
        wanted = MODEL_LABELS[model_type]
        raise BodyModelError(f"{folder} has no {wanted} model (found: {_describe(found)}). Choose another body "
                             f"model type, or add {model_type.upper()}_{gender.upper()}.npz from "
                             f"{DOWNLOADS[model_type]}.")
    matching = [item for item in of_type if item[1] == gender]
    if not matching:
        genders = sorted({g for _, g, _ in of_type})
        raise BodyModelError(f"{folder} has no {gender} model (found: {_describe(of_type)}). Choose gender "
                             f"{' or '.join(g.title() for g in genders)}, or add the {gender} model file.")
    matching.sort(key=lambda item: (types.index(item[0]), item[2].suffix.lower() != ".npz", str(item[2])))
    kind, sex, path = matching[0]
    return path, kind, sex


def _read_npz_model(path: Path, model_type: str) -> dict[str, np.ndarray]:
    """The arrays smplx needs from an SMPL / SMPL-H .npz, without unpickling anything; checked for consistency."""
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as error:  # noqa: BLE001  (zip, format and OS errors all mean: not a usable file)
        raise BodyModelError(f"{path} is not a readable .npz model file ({error}); download it again.") from error
    if not hasattr(data, "files"):
        raise BodyModelError(f"{path} holds a single array, not an SMPL model (.npz archive of arrays).")
    with data:
        missing = [key for key in REQUIRED_ARRAYS if key not in data.files]
        if missing:
            raise BodyModelError(f"{path} is not an {MODEL_LABELS[model_type]} model file: missing "
                                 f"{', '.join(missing)} (it has {', '.join(sorted(data.files))}).")
        arrays = {}
        for key in REQUIRED_ARRAYS + ("hands_componentsl", "hands_componentsr", "hands_meanl", "hands_meanr"):
            if key in data.files:
                try:
                    arrays[key] = np.asarray(data[key])
                except Exception as error:  # noqa: BLE001
                    raise BodyModelError(f"{path}: array '{key}' cannot be read without unpickling or is damaged "
                                         f"({error}).") from error
    vertices = arrays["v_template"].shape[0] if arrays["v_template"].ndim == 2 else -1
    joints = arrays["J_regressor"].shape[0] if arrays["J_regressor"].ndim == 2 else -1
    checks = [(arrays["v_template"].shape == (vertices, 3), f"v_template {arrays['v_template'].shape}, want (V, 3)"),
              (arrays["shapedirs"].ndim == 3 and arrays["shapedirs"].shape[:2] == (vertices, 3),
               f"shapedirs {arrays['shapedirs'].shape}, want ({vertices}, 3, betas)"),
              (arrays["J_regressor"].shape == (joints, vertices) and joints >= 24,
               f"J_regressor {arrays['J_regressor'].shape}, want (>= 24 joints, {vertices})"),
              (arrays["weights"].shape == (vertices, joints), f"weights {arrays['weights'].shape}, "
               f"want ({vertices}, {joints})"),
              (arrays["kintree_table"].shape == (2, joints), f"kintree_table {arrays['kintree_table'].shape}, "
               f"want (2, {joints})"),
              (arrays["f"].ndim == 2 and arrays["f"].shape[1] == 3, f"f {arrays['f'].shape}, want (F, 3)"),
              (arrays["posedirs"].ndim == 3 and arrays["posedirs"].shape[:2] == (vertices, 3),
               f"posedirs {arrays['posedirs'].shape}, want ({vertices}, 3, P)")]
    bad = [message for ok, message in checks if not ok]
    if not bad and (arrays["f"].min() < 0 or arrays["f"].max() >= vertices):
        bad.append(f"faces index vertices outside 0..{vertices - 1}")
    if not bad and not all(np.all(np.isfinite(arrays[key])) for key in ("v_template", "shapedirs", "weights")):
        bad.append("non-finite vertices, shape directions or weights")
    if bad:
        raise BodyModelError(f"{path} is not a valid {MODEL_LABELS[model_type]} model: {'; '.join(bad)}.")
    if model_type == "smplh":  # hands stay at rest: identity PCA components when a file has none
        hand_dims = 3 * (joints - NUM_JOINTS) // 2
        arrays.setdefault("hands_componentsl", np.eye(hand_dims))
        arrays.setdefault("hands_componentsr", np.eye(hand_dims))
        arrays.setdefault("hands_meanl", np.zeros(hand_dims))
        arrays.setdefault("hands_meanr", np.zeros(hand_dims))
    return arrays


def _import_smplx():
    try:
        import smplx
        import torch  # noqa: F401  (smplx needs it; say so clearly when it is missing)
    except ImportError as error:
        raise BodyModelError(f"Building an SMPL body needs PyTorch and the smplx package ({error}). In the light "
                             "extension, press Install PyTorch in the MoScale preferences.") from error
    return smplx


def load_body_model(path: str | Path, model_type: str, gender: str, num_betas: int = 10):
    """The smplx module (SMPL, SMPLH or SMPLX) for one model file; raises BodyModelError."""
    smplx = _import_smplx()
    path = Path(path)
    label = MODEL_LABELS.get(model_type, model_type)
    if not path.is_file():
        raise BodyModelError(f"{label} model file not found: {path}.")
    options = dict(gender=gender, num_betas=num_betas)
    hands = dict(use_pca=False, flat_hand_mean=True)
    try:
        if path.suffix.lower() == ".npz" and model_type in ("smpl", "smplh"):
            struct = smplx.utils.Struct(**_read_npz_model(path, model_type))
            if model_type == "smpl":
                model = smplx.SMPL(str(path), data_struct=struct, **options)
            else:
                model = smplx.SMPLH(str(path), data_struct=struct, **options, **hands)
        elif model_type == "smpl":
            model = smplx.SMPL(str(path), **options)
        elif model_type == "smplh":
            model = smplx.SMPLH(str(path), ext=path.suffix[1:].lower(), **options, **hands)
        else:
            model = smplx.SMPLX(str(path), ext=path.suffix[1:].lower(), **options, **hands)
    except BodyModelError:
        raise
    except ModuleNotFoundError as error:
        raise BodyModelError(f"{path} was saved with the '{error.name}' package (old SMPL .pkl files need chumpy). "
                             "Use the .npz version of the model, or remove chumpy from it with smplx's "
                             "tools/clean_ch.py.") from error
    except Exception as error:  # noqa: BLE001  (pickle, zip, missing fields, bad shapes: all "not a model")
        raise BodyModelError(f"{path} could not be loaded as an {label} model through smplx "
                             f"({type(error).__name__}: {error}). Download the file again.") from error
    parents = model.parents.cpu().numpy()
    if len(parents) < NUM_JOINTS + 2 or list(parents[1:NUM_JOINTS]) != list(PARENTS[1:]):
        raise BodyModelError(f"{path}: its kinematic tree is not SMPL's (the first {NUM_JOINTS} joints must have "
                             f"parents {list(PARENTS)}), so it cannot drive the SMPL-22 armature.")
    return model


@dataclass(frozen=True)
class BodyMesh:
    """A body at rest for one shape, in the model frame (Y up, facing +Z, metres)."""

    model_type: str
    gender: str
    path: Path
    betas: np.ndarray        # (B,) the shape used
    vertices: np.ndarray     # (V, 3) rest (T-pose) vertices
    faces: np.ndarray        # (F, 3) vertex indices
    rest_joints: np.ndarray  # (22, 3) the model's body joints for these betas
    weights: np.ndarray      # (V, 22) skinning weights per SMPL-22 joint, rows sum to 1

    def placed(self) -> tuple[np.ndarray, np.ndarray, float]:
        """(joints, vertices, lift): shifted like the built-in character (pelvis over the origin, lowest joint at
        y = 0) and the height of that joint above the lowest vertex, which lifts the body onto the floor."""
        shift = np.array([self.rest_joints[0, 0], self.rest_joints[:, 1].min(), self.rest_joints[0, 2]])
        joints, vertices = self.rest_joints - shift, self.vertices - shift
        return joints, vertices, float(max(0.0, -vertices[:, 1].min()))


def body_weights(lbs_weights_VJ: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """(V, 22) weights: each joint beyond the body's 22 adds its weight to its nearest body ancestor."""
    weights = np.asarray(lbs_weights_VJ, dtype=np.float64)
    merged = weights[:, :NUM_JOINTS].copy()
    for joint in range(NUM_JOINTS, weights.shape[1]):
        ancestor = joint
        while ancestor >= NUM_JOINTS:
            ancestor = int(parents[ancestor])
        merged[:, ancestor] += weights[:, joint]
    total = merged.sum(axis=1, keepdims=True)
    return np.where(total > 0, merged / np.maximum(total, 1e-12), merged)


def _betas_tensor(model, betas: np.ndarray | None):
    import torch

    betas = np.zeros(0) if betas is None else np.asarray(betas, dtype=np.float64).ravel()
    if not np.all(np.isfinite(betas)):
        raise BodyModelError("Shape (betas) values must be finite numbers.")
    if np.any(betas[model.num_betas:] != 0):
        raise BodyModelError(f"This model has {model.num_betas} shape coefficients; betas beyond them must be 0.")
    padded = np.zeros(model.num_betas)
    count = min(len(betas), model.num_betas)
    padded[:count] = betas[:count]
    return torch.tensor(padded[None], dtype=model.shapedirs.dtype), padded


def body_mesh(model, betas: np.ndarray | None = None, path: str | Path = "", gender: str = "") -> BodyMesh:
    """The rest mesh, joints and 22-bone weights of ``model`` for shape ``betas`` (missing values are 0)."""
    import torch
    from smplx.lbs import blend_shapes, vertices2joints

    betas_t, padded = _betas_tensor(model, betas)
    with torch.no_grad():
        shaped = model.v_template[None] + blend_shapes(betas_t, model.shapedirs)  # (1, V, 3)
        joints = vertices2joints(model.J_regressor, shaped)  # (1, J, 3)
    parents = model.parents.cpu().numpy()
    return BodyMesh(
        model_type=model.name().lower().replace("+", "").replace("-", ""), gender=gender or model.gender,
        path=Path(path), betas=padded, vertices=shaped[0].double().numpy(),
        faces=np.asarray(model.faces, dtype=np.int64).reshape(-1, 3),
        rest_joints=joints[0, :NUM_JOINTS].double().numpy(),
        weights=body_weights(model.lbs_weights.double().numpy(), parents))


def posed_vertices(model, betas: np.ndarray | None, global_orient_T3: np.ndarray, body_pose_TJ3: np.ndarray,
                   transl_T3: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """smplx's linear blend skinning (pose correctives included) of the body: ((T, V, 3) vertices, (T, 22, 3) joints).

    ``global_orient`` (T, 3) and ``body_pose`` (T, 21, 3) are axis-angle; hands, jaw and eyes stay at rest.
    """
    import torch
    from smplx.lbs import lbs

    betas_t, _ = _betas_tensor(model, betas)
    count = len(global_orient_T3)
    full = np.zeros((count, len(model.parents), 3))
    full[:, 0] = global_orient_T3
    full[:, 1:NUM_JOINTS] = np.asarray(body_pose_TJ3).reshape(count, NUM_JOINTS - 1, 3)
    dtype = model.shapedirs.dtype
    with torch.no_grad():
        vertices, joints = lbs(betas_t.expand(count, -1), torch.tensor(full.reshape(count, -1), dtype=dtype),
                               model.v_template, model.shapedirs, model.posedirs, model.J_regressor, model.parents,
                               model.lbs_weights, pose2rot=True)
    shift = np.asarray(transl_T3, dtype=np.float64)[:, None]
    return vertices.double().numpy() + shift, joints[:, :NUM_JOINTS].double().numpy() + shift
