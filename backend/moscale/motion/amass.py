"""SMPL pose parameters from SMPL-22 joints, and AMASS-style ``.npz`` files (numpy only).

    params = pose_parameters(motion.joints, motion.fps)   # global orientation, 21 body rotations, translation
    joints = joints_from_pose_parameters(params)          # forward kinematics of the SMPL-22 skeleton
    write_npz("walk.npz", motion)                         # AMASS keys + MoScale's own keys in one file
    fields = read_npz("walk.npz")                         # joints if the file has them, else FK of poses/trans

Conventions:

- SMPL's model frame is Y up with the body facing +Z, and zero pose is its T-pose: the same frame as our motions
  and the built-in SMPL character's rest pose (``retarget.smpl_rest_joints``). A joint's pose parameter is its
  rotation relative to its parent (axis-angle, radians); it turns the joint's children about the joint. Joints
  that only positions cannot determine (twist about a bone; the leaves head, feet and wrists) keep the parent's
  orientation, as the retargeted SMPL character does (``retarget.joint_deltas`` is the one source of rotations).
- AMASS stores ``root_orient`` (``poses[:, :3]``) and ``trans`` in a Z-up world. HumanML3D brings AMASS into its
  Y-up world with ``(x, y, z) -> (-x, z, y)`` (its raw_pose_processing: ``positions @ [[1,0,0],[0,0,1],[0,1,0]]``,
  then ``x *= -1``), a proper rotation by 180 degrees about (0, 1, 1)/sqrt(2). ``Y_UP_FROM_AMASS`` is that matrix,
  and this module is the one place it is applied: a body standing in AMASS (model +Y turned to world +Z) stands
  upright here, and a clip made here faces AMASS's +Y where it faced our +Z.
- SMPL rotates the root about the pelvis joint, so ``world pelvis = rest pelvis (model frame) + trans``. The rest
  pelvis comes from the body model when there is one; otherwise ``PELVIS_REST_M``, an approximation of where the
  SMPL family puts it (within a few cm; it only shifts a clip, it never bends it).
- Files written here are AMASS SMPL-H shaped: ``poses`` (T, 156) = root (3) + 21 body joints (63) + 30 hand
  joints (90, zeros: flat hands), ``trans`` (T, 3), ``betas`` (16,), ``mocap_framerate``, ``gender``, ``dmpls``
  (T, 8) zeros, plus our keys ``joints``, ``fps``, ``prompt``, ``features``, ``metadata``. Readers of AMASS ignore
  ours; our reader uses ``joints`` when present, else forward kinematics of the SMPL-22 skeleton (standard
  HumanML3D bone lengths), grounded like HumanML3D (the clip's lowest joint at y = 0). SMPL (T, 72) and SMPL-X
  (T, 165) ``poses`` and separate ``root_orient`` / ``pose_body`` arrays read the same way (the first 66 values).
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from moscale.motion import kinematics, limits, retarget
from moscale.motion import rotations as rot
from moscale.motion.skeleton import FEATURE_DIM, FPS, NUM_JOINTS, PARENTS

Y_UP_FROM_AMASS = np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])  # (x, y, z) -> (-x, z, y)
_Y_UP_FROM_AMASS_QUAT = rot.from_matrix(Y_UP_FROM_AMASS)
PELVIS_REST_M = np.array([0.0, -0.23, 0.025])  # approximate SMPL pelvis joint in the model frame (Y up), metres
BODY_JOINTS = NUM_JOINTS - 1  # 21 rotations after the root
HAND_JOINTS = 30              # SMPL-H: 15 per hand
NUM_BETAS = 16                # AMASS SMPL-H files carry 16 shape coefficients
NUM_DMPLS = 8
GENDERS = ("neutral", "female", "male")
FRAMERATE_KEYS = ("mocap_framerate", "mocap_frame_rate", "fps")
MOSCALE_KEYS = ("joints", "fps", "prompt", "features", "metadata")


def amass_to_y_up(points: np.ndarray) -> np.ndarray:
    """AMASS world (Z up) -> ours (Y up, HumanML3D's convention). Any (..., 3)."""
    return np.asarray(points, dtype=np.float64) @ Y_UP_FROM_AMASS.T


def y_up_to_amass(points: np.ndarray) -> np.ndarray:
    """Ours (Y up) -> AMASS world (Z up). Any (..., 3)."""
    return np.asarray(points, dtype=np.float64) @ Y_UP_FROM_AMASS


@dataclass(frozen=True)
class PoseParameters:
    """SMPL pose parameters of a clip in AMASS's convention (Z-up world)."""

    global_orient: np.ndarray  # (T, 3) axis-angle radians: model frame -> AMASS world
    body_pose: np.ndarray      # (T, 21, 3) axis-angle radians: joints 1..21 relative to their parents
    trans: np.ndarray          # (T, 3) metres, AMASS world: world pelvis - rest pelvis
    fps: float
    betas: np.ndarray = field(default_factory=lambda: np.zeros(NUM_BETAS))
    gender: str = "neutral"

    def __post_init__(self) -> None:
        count = len(self.global_orient)
        for name, shape in (("global_orient", (count, 3)), ("body_pose", (count, BODY_JOINTS, 3)),
                            ("trans", (count, 3))):
            if np.shape(getattr(self, name)) != shape:
                raise ValueError(f"PoseParameters.{name} must have shape {shape}, got {np.shape(getattr(self, name))}")
        if self.gender not in GENDERS:
            raise ValueError(f"gender must be one of {', '.join(GENDERS)}, got {self.gender!r}")

    @property
    def num_frames(self) -> int:
        return len(self.global_orient)

    def poses(self) -> np.ndarray:
        """(T, 156) AMASS SMPL-H ``poses``: root, 21 body joints, 30 hand joints at rest (zeros)."""
        hands = np.zeros((self.num_frames, 3 * HAND_JOINTS))
        return np.concatenate([self.global_orient, self.body_pose.reshape(self.num_frames, -1), hands], axis=1)


def canonical_rest(joints_TJ3: np.ndarray | None = None) -> np.ndarray:
    """(22, 3) SMPL-22 T-pose in the model frame (Y up, facing +Z, pelvis at ``PELVIS_REST_M``), metres.

    With ``joints``: that motion's own bone lengths and pelvis/chest geometry (forward kinematics then reproduces
    it); without: the standard HumanML3D skeleton. The directions are the built-in SMPL character's.
    """
    rest = retarget.smpl_rest_joints(joints_TJ3)
    return rest - rest[0] + PELVIS_REST_M


def _check_rest(rest_joints: np.ndarray) -> np.ndarray:
    rest = np.asarray(rest_joints, dtype=np.float64)
    if rest.shape != (NUM_JOINTS, 3) or not np.all(np.isfinite(rest)):
        raise ValueError(f"rest joints must be finite with shape ({NUM_JOINTS}, 3), got {rest.shape}")
    return rest


def leg_ratio(rest_joints: np.ndarray, joints_TJ3: np.ndarray) -> float:
    """Leg length (hip -> knee -> ankle) of ``rest_joints`` over the motion's mean: the ``root_scale`` that keeps a
    body with other proportions from sliding, as ``retarget.retarget`` scales root motion on a rig."""
    motion_legs = float(np.mean(retarget.leg_length(np.asarray(joints_TJ3, dtype=np.float64))))
    return float(retarget.leg_length(_check_rest(rest_joints))) / max(motion_legs, 1e-9)


def pose_parameters(
    joints_TJ3: np.ndarray,
    fps: float = FPS,
    rest_joints: np.ndarray | None = None,
    betas: np.ndarray | None = None,
    gender: str = "neutral",
    root_scale: float = 1.0,
    lift_m: float = 0.0,
) -> PoseParameters:
    """SMPL pose parameters that put ``rest_joints`` (22, 3; default ``canonical_rest(joints)``) into ``joints``.

    ``joints`` (T, 22, 3) are metres, Y up. The rotations are the SMPL character's retargeted ones
    (``retarget.joint_deltas``: world rotations of each joint's rest bone onto the motion; the rest frame is the
    model frame, so they are SMPL's global joint rotations). ``root_scale`` scales the pelvis path (a body with
    other leg lengths than the motion's, as ``retarget.retarget`` does); ``lift_m`` raises it (a body whose soles
    lie below its lowest joint, which is on the floor in our motions).
    """
    joints = np.asarray(joints_TJ3, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (NUM_JOINTS, 3) or len(joints) == 0:
        raise ValueError(f"expected joints of shape (T >= 1, {NUM_JOINTS}, 3), got {joints.shape}")
    if not np.all(np.isfinite(joints)):
        raise ValueError("joints contain non-finite values")
    rest = canonical_rest(joints) if rest_joints is None else _check_rest(rest_joints)
    deltas = retarget.joint_deltas(joints, rest)  # (T, 22, 4) global rotations, Y-up world
    local = rot.multiply(rot.conjugate(deltas[:, list(PARENTS[1:])]), deltas[:, 1:])  # (T, 21, 4)
    root = rot.multiply(rot.conjugate(_Y_UP_FROM_AMASS_QUAT), deltas[:, 0])  # model frame -> AMASS world
    trans = y_up_to_amass(joints[:, 0] * root_scale + [0.0, lift_m, 0.0]) - rest[0]
    betas = np.zeros(NUM_BETAS) if betas is None else np.asarray(betas, dtype=np.float64).ravel()
    return PoseParameters(rot.to_axis_angle(root), rot.to_axis_angle(local), trans, float(fps), betas, gender)


def joints_from_pose_parameters(params: PoseParameters, rest_joints: np.ndarray | None = None) -> np.ndarray:
    """(T, 22, 3) joints, metres, Y up: forward kinematics of the SMPL-22 skeleton ``rest_joints`` (22, 3, model
    frame; default the standard skeleton ``canonical_rest()``) posed by ``params``."""
    rest = canonical_rest() if rest_joints is None else _check_rest(rest_joints)
    offsets = rest - rest[np.maximum(np.asarray(PARENTS), 0)]
    local = np.concatenate([rot.from_axis_angle(params.global_orient)[:, None],
                            rot.from_axis_angle(params.body_pose)], axis=1)  # (T, 22, 4)
    local[:, 0] = rot.multiply(_Y_UP_FROM_AMASS_QUAT, local[:, 0])
    pelvis = amass_to_y_up(params.trans + rest[0])
    return kinematics.forward_kinematics(local, pelvis, offsets)


# ----------------------------------------------------------------------------------------------- files


def npz_arrays(motion, params: PoseParameters | None = None) -> dict[str, np.ndarray]:
    """Every array of the AMASS-style file for a ``moscale.motion.Motion`` (pose parameters computed if not given)."""
    params = pose_parameters(motion.joints, motion.fps) if params is None else params
    if params.num_frames != motion.num_frames:
        raise ValueError(f"pose parameters have {params.num_frames} frames, the motion {motion.num_frames}")
    betas = np.zeros(max(NUM_BETAS, len(params.betas)))
    betas[:len(params.betas)] = params.betas
    arrays = {
        "poses": params.poses(), "trans": params.trans, "betas": betas,
        "mocap_framerate": np.float64(motion.fps), "gender": np.str_(params.gender),
        "dmpls": np.zeros((motion.num_frames, NUM_DMPLS)),
        "joints": motion.joints, "fps": np.float64(motion.fps), "prompt": np.str_(motion.prompt),
        "metadata": np.str_(json.dumps(motion.metadata, default=str)),
    }
    if motion.features is not None:
        arrays["features"] = motion.features
    return arrays


def write_npz(path: str | Path, motion, params: PoseParameters | None = None) -> Path:
    """Write ``motion`` as an AMASS-style .npz that keeps MoScale's own keys (see the module docstring)."""
    path = Path(path)
    arrays = npz_arrays(motion, params)
    from moscale.utils.atomic import open_for_write

    with open_for_write(path) as handle:  # a handle: np.savez would append ".npz" to other names
        savez(handle, arrays)
    return path


def savez(handle, arrays: dict[str, Any]) -> None:
    """``np.savez(handle, **arrays)`` (the same zip of .npy members), but closing its zip file when a write fails:
    numpy's leaves it open, and its ``__del__`` later printed "seek of closed file" after a full disk's error."""
    with zipfile.ZipFile(handle, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, value in arrays.items():
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)


class _Reader:
    """Lazy access to an open .npz with errors that name the file and the array."""

    def __init__(self, path: Path, data) -> None:
        self.path, self.data = path, data
        self.keys = set(data.files)

    def get(self, key: str) -> np.ndarray:
        try:
            return self.data[key]
        except ValueError as error:  # object arrays need pickle, which is never allowed here
            raise ValueError(f"{self.path}: array '{key}' holds Python objects, which MoScale does not unpickle; "
                             "re-save it as plain numbers") from error
        except (OSError, EOFError, zipfile.BadZipFile) as error:
            raise ValueError(f"{self.path}: array '{key}' is damaged ({error}); the file is incomplete or corrupt, "
                             "download or export it again") from error

    def text(self, key: str, default: str = "") -> str:
        if key not in self.keys:
            return default
        value = self.get(key)
        value = value.item() if value.ndim == 0 else value
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)

    def number(self, key: str) -> float:
        value = np.asarray(self.get(key), dtype=np.float64)
        if value.size != 1 or not np.isfinite(value).all():
            raise ValueError(f"{self.path}: '{key}' must be one finite number, got {value!r}")
        return float(value.ravel()[0])


def read_npz(path: str | Path, fps: float = FPS) -> dict[str, Any]:
    """Fields for ``Motion(**fields)`` from an .npz: ours (``joints``) or AMASS (``poses``/``root_orient`` +
    ``trans``); ``fps`` is used only when an AMASS file has no frame rate. Raises ValueError saying what is wrong."""
    path = limits.check_motion_file(path)  # sizes from the zip directory and the array headers, before loading
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path} is not a readable .npz file ({error}); it may be truncated or not an .npz at all: "
                         "download or export it again") from error
    if not hasattr(data, "files"):
        raise ValueError(f"{path} holds a single array, not an .npz archive; save motions with Motion.save")
    with data:
        reader = _Reader(path, data)
        if "joints" in reader.keys:
            return _read_moscale(reader)
        if ("poses" in reader.keys or "root_orient" in reader.keys) and "trans" in reader.keys:
            return _read_amass(reader, fps)
        raise ValueError(f"{path}: not a motion file: it needs 'joints' (MoScale) or 'poses' and 'trans' (AMASS); "
                         f"it has {', '.join(sorted(reader.keys)) or 'no arrays'}")


def _read_moscale(reader: _Reader) -> dict[str, Any]:
    metadata_text = reader.text("metadata", "{}")
    try:
        metadata = json.loads(metadata_text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{reader.path}: 'metadata' is not valid JSON ({error})") from error
    features = reader.get("features") if "features" in reader.keys else None
    if features is not None and (features.ndim != 2 or features.shape[1] != FEATURE_DIM):
        raise ValueError(f"{reader.path}: 'features' must have shape (T, {FEATURE_DIM}), got {features.shape}")
    return {"joints": reader.get("joints"), "fps": reader.number("fps") if "fps" in reader.keys else FPS,
            "features": features, "prompt": reader.text("prompt"), "metadata": metadata}


def _read_amass(reader: _Reader, fps: float) -> dict[str, Any]:
    path = reader.path
    if "poses" in reader.keys:
        poses = np.asarray(reader.get("poses"), dtype=np.float64)
        if poses.ndim != 2 or poses.shape[1] < 3 * NUM_JOINTS:
            raise ValueError(f"{path}: 'poses' must have shape (T, >= {3 * NUM_JOINTS}) (root and 21 body joints, "
                             f"axis-angle), got {poses.shape}")
        root, body = poses[:, :3], poses[:, 3:3 * NUM_JOINTS]
    else:
        if "pose_body" not in reader.keys:
            raise ValueError(f"{path}: has 'root_orient' but no 'pose_body' (the 21 body joints)")
        root = np.asarray(reader.get("root_orient"), dtype=np.float64)
        body = np.asarray(reader.get("pose_body"), dtype=np.float64)
        if root.ndim != 2 or root.shape[1] != 3 or body.shape != (len(root), 3 * BODY_JOINTS):
            raise ValueError(f"{path}: 'root_orient' must be (T, 3) and 'pose_body' (T, {3 * BODY_JOINTS}), "
                             f"got {root.shape} and {body.shape}")
    trans = np.asarray(reader.get("trans"), dtype=np.float64)
    if trans.shape != (len(root), 3):
        raise ValueError(f"{path}: 'trans' must have shape ({len(root)}, 3) to match the poses, got {trans.shape}")
    if len(root) == 0:
        raise ValueError(f"{path}: the clip has no frames")
    if not (np.all(np.isfinite(root)) and np.all(np.isfinite(body)) and np.all(np.isfinite(trans))):
        raise ValueError(f"{path}: poses or trans contain non-finite values (NaN or inf)")
    key = next((k for k in FRAMERATE_KEYS if k in reader.keys), None)
    rate = reader.number(key) if key else float(fps)
    if not rate > 0:
        raise ValueError(f"{path}: frame rate must be positive, got {rate}")
    gender = reader.text("gender", "neutral").strip().lower()
    betas = np.asarray(reader.get("betas"), dtype=np.float64).ravel() if "betas" in reader.keys else np.zeros(0)
    params = PoseParameters(root, body.reshape(len(root), BODY_JOINTS, 3), trans, rate,
                            betas, gender if gender in GENDERS else "neutral")
    joints = joints_from_pose_parameters(params)
    joints[..., 1] -= joints[..., 1].min()  # HumanML3D's floor: the clip's lowest joint at y = 0
    metadata = {"source": str(path), "format": "amass", "gender": gender, "betas": betas[:NUM_BETAS].tolist(),
                "framerate_key": key or "none"}
    return {"joints": joints, "fps": rate, "features": None, "prompt": "", "metadata": metadata}
