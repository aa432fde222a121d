"""A motion clip: SMPL-22 joint positions (metres, Y up) at a frame rate, plus optional features and prompt."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from moscale.motion import features as feature_codec
from moscale.motion import limits
from moscale.motion.kinematics import resample_joints
from moscale.motion.skeleton import FEATURE_DIM, FPS, JOINT_NAMES, NUM_JOINTS


def _finite(array: np.ndarray, name: str) -> np.ndarray:
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contain non-finite values (NaN or inf)")
    return array


@dataclass
class Motion:
    joints: np.ndarray  # (T, 22, 3) float32, metres, Y up
    fps: float = FPS
    features: np.ndarray | None = None  # (T, 263) unnormalised HumanML3D features, if the motion came from them
    prompt: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        joints = np.asarray(self.joints, dtype=np.float32)
        if joints.ndim != 3 or joints.shape[1:] != (NUM_JOINTS, 3) or len(joints) == 0:
            raise ValueError(f"joints must have shape (T >= 1, {NUM_JOINTS}, 3), got {joints.shape}")
        self.joints = _finite(joints, "joints")
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"fps must be a positive number, got {self.fps}")
        self.fps = float(self.fps)
        if self.features is not None:
            features = np.asarray(self.features, dtype=np.float32)
            if features.ndim != 2 or features.shape[1] != FEATURE_DIM:
                raise ValueError(f"features must have shape (T, {FEATURE_DIM}), got {features.shape}")
            self.features = _finite(features, "features")

    @classmethod
    def from_features(
        cls,
        features: np.ndarray,
        mean: np.ndarray | None = None,
        std: np.ndarray | None = None,
        fps: float = FPS,
        root_recovery: feature_codec.RootRecovery = "humanml3d",
        **metadata: Any,
    ) -> "Motion":
        """Decode (T, 263) features (denormalised first when ``mean`` and ``std`` are given) into T frames.

        A ``prompt`` keyword becomes the prompt; other keywords go to ``metadata``.
        """
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != FEATURE_DIM:
            raise ValueError(f"features must have shape (T, {FEATURE_DIM}), got {features.shape}")
        _finite(features, "features")
        if (mean is None) != (std is None):
            raise ValueError("give both mean and std, or neither")
        if mean is not None:
            features = feature_codec.denormalize(features, mean, std)
        joints = feature_codec.features_to_joints(features, root_recovery=root_recovery)
        prompt = str(metadata.pop("prompt", ""))
        return cls(joints, fps, features=features, prompt=prompt, metadata=dict(metadata))

    @property
    def num_frames(self) -> int:
        return len(self.joints)

    @property
    def seconds(self) -> float:
        """Duration in seconds (frames / fps)."""
        return self.num_frames / self.fps

    def resample(self, fps: float) -> "Motion":
        """Linear interpolation of joint positions to ``fps``; frame 0 is kept, the clip never extends past its last frame.

        Same fps returns an identical copy. Features are dropped (they are tied to 20 fps).
        """
        if not (np.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number, got {fps}")
        limits.check_frames(int(np.ceil((self.num_frames - 1) * fps / self.fps)) + 1,
                            f"resampling {self.num_frames} frames from {self.fps:g} to {fps:g} fps", "frames")
        if fps == self.fps:
            return replace(self, joints=self.joints.copy(), metadata=dict(self.metadata),
                           features=None if self.features is None else self.features.copy())
        resampled = resample_joints(self.joints, self.fps, fps)
        return replace(self, joints=resampled, fps=fps, features=None, metadata=dict(self.metadata))

    def save(self, path: str | Path, source: str | Path | None = None) -> None:
        """Write by suffix: .npy (joints only), .npz, .bvh (SMPL-22 rig). Every write is atomic.

        The .npz is an AMASS SMPL-H file (poses, trans, betas, mocap_framerate, gender, dmpls) that also holds
        joints, fps, prompt, features and metadata (see ``moscale.motion.amass``).

        An edit (``metadata['kind'] == 'edit'``, with ``edit_start``/``edit_end``) of a file ``source`` (default
        ``metadata['source']``, which ``Motion.load`` sets) is written into that file's own form outside the range:
        a .bvh keeps the source's hierarchy and frame lines verbatim, an .npz its SMPL poses (``moscale.motion.edit_files``).
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if self._save_as_edit(path, source):
            return
        if suffix == ".npy":
            from moscale.utils.atomic import open_for_write

            with open_for_write(path) as handle:
                np.save(handle, self.joints)
        elif suffix == ".npz":
            from moscale.motion.amass import write_npz

            write_npz(path, self)
        elif suffix == ".bvh":
            try:
                from moscale.motion.bvh import write_bvh
                from moscale.motion.bvh_convert import smpl_joints_to_bvh
            except ImportError as error:
                raise NotImplementedError(
                    "saving .bvh needs moscale.motion.bvh_convert.smpl_joints_to_bvh and bvh.write_bvh, which are missing") from error
            write_bvh(path, smpl_joints_to_bvh(self.joints, self.fps))
        else:
            raise ValueError(f"unknown motion file type {path.suffix!r}; use .npy, .npz or .bvh")

    def _save_as_edit(self, path: Path, source: str | Path | None) -> bool:
        meta = self.metadata or {}
        source = source if source is not None else meta.get("source")
        suffix = path.suffix.lower()
        if source is None or meta.get("kind") != "edit" or suffix not in (".bvh", ".npz") \
                or "edit_start" not in meta or "edit_end" not in meta:
            return False
        source = Path(source)
        if suffix == ".bvh" and source.suffix.lower() != ".bvh":
            # a new SMPL-22 rig (the source has no hierarchy to keep) with the source's own bones, so the frames the
            # edit kept come out exactly as the source converted alone (bones measured on the edit moved them ~9 mm)
            from moscale.motion.bvh import write_bvh
            from moscale.motion.bvh_convert import smpl_joints_to_bvh

            try:
                rest = Motion.load(source).joints
            except (OSError, ValueError) as error:
                import warnings

                warnings.warn(f"{path}: bones measured on the edit, not its source ({error})", stacklevel=3)
                return False
            write_bvh(path, smpl_joints_to_bvh(self.joints, self.fps, rest_joints_TJ3=rest))
            return True
        from moscale.motion import edit_files

        start, end = int(meta["edit_start"]), int(meta["edit_end"])
        try:
            if suffix == ".bvh":
                edit_files.write_edit_bvh(path, self, source, start, end, meta.get("joint_map"))
            else:
                edit_files.write_edit_npz(path, self, Motion.load(source), source, start, end)
        except (edit_files.NotAnEdit, OSError) as error:
            import warnings

            warnings.warn(f"{path}: written afresh, not into its source ({error})", stacklevel=3)
            return False
        return True

    @classmethod
    def load(
        cls,
        path: str | Path,
        fps: float = FPS,
        mean: np.ndarray | None = None,
        std: np.ndarray | None = None,
        joint_map: Mapping[str, str] | None = None,
        unit_scale: float | None = None,
    ) -> "Motion":
        """Read .npy ((T, 22, 3) joints or (T, 263) features, at ``fps``), .npz or .bvh.

        An .npz with ``joints`` (as saved) is read as is; an AMASS one (``poses``/``trans``, SMPL, SMPL-H or SMPL-X)
        through forward kinematics of the SMPL-22 skeleton, at its ``mocap_framerate`` (``resample(20)`` before
        editing). Bad files raise ValueError saying what is wrong.

        For .bvh, ``joint_map`` maps SMPL-22 names to the file's joint names (default: the file uses
        ``JOINT_NAMES``, as ours do); ``unit_scale`` converts file units to metres (default: 1, or 0.01 when the
        bones are implausibly long for metres). The file is assumed Y up.

        Sizes are checked from the file system and the headers first (``moscale.motion.limits``): a FIFO, a device,
        an array or clip beyond the limits is refused before anything is allocated.
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in limits.MOTION_SUFFIXES:
            raise ValueError(f"unknown motion file type {path.suffix!r}; use .npy, .npz or .bvh")
        limits.check_motion_file(path)
        motion = cls._load_checked(path, suffix, fps, mean, std, joint_map, unit_scale)
        limits.check_fps(motion.fps, str(path))
        return motion

    @classmethod
    def _load_checked(cls, path: Path, suffix: str, fps: float, mean, std, joint_map, unit_scale) -> "Motion":
        if suffix == ".npy":
            array = np.load(path, allow_pickle=False)
            if array.ndim == 2 and array.shape[1] == FEATURE_DIM:
                return cls.from_features(array, mean, std, fps=fps, source=str(path))
            if array.ndim == 3 and array.shape[1:] == (NUM_JOINTS, 3):
                return cls(array, fps, metadata={"source": str(path)})
            raise ValueError(f"{path}: expected (T, {NUM_JOINTS}, 3) joints or (T, {FEATURE_DIM}) features, "
                             f"got an array of shape {array.shape}")
        if suffix == ".npz":
            from moscale.motion.amass import read_npz

            fields = read_npz(path, fps)
            metadata = fields.pop("metadata")
            metadata = metadata if isinstance(metadata, dict) else {"metadata": metadata}
            # this file is what an edit of the loaded motion is an edit of, unless the file names where it came from
            # (`moscale data extract` records the .blend / .glb)
            return cls(**fields, metadata={"source": str(path), **metadata})
        return cls._load_bvh(path, joint_map, unit_scale)

    @classmethod
    def _load_bvh(cls, path: Path, joint_map: Mapping[str, str] | None, unit_scale: float | None) -> "Motion":
        from moscale.motion.bvh import bvh_to_positions, read_bvh

        clip = read_bvh(path)
        simple_map = joint_map is None or all(isinstance(v, str) for v in joint_map.values())
        names = [(joint_map or {}).get(name, name) for name in JOINT_NAMES] if simple_map else []
        if not simple_map or any(name not in clip.skeleton.names for name in names):
            # Another rig (LAFAN, Mixamo, Bandai, Rigify, ... or a rig-map JSON): the one detection path the add-on
            # and every command share; it says which --joint-map would fit when none does.
            from moscale.motion.sources import RigError, bvh_smpl_joints

            try:
                joints, rig = bvh_smpl_joints(clip, dict(joint_map) if joint_map else None, source=str(path))
            except RigError as error:
                raise ValueError(f"{path}: {error}") from None
            return cls(joints, clip.fps, metadata={"source": str(path), "rig": rig.name})
        # SMPL-22 names (ours) or a name-for-name map: the joints themselves, so frames map exactly onto the file's
        # (edits are written back into it, moscale.motion.edit_files)
        joints = bvh_to_positions(clip, 1.0, names)
        if unit_scale is None:
            from moscale.motion.edit_files import bvh_unit_scale  # the one rule, shared with the writer of edits

            unit_scale = bvh_unit_scale(joints)
        return cls(joints * unit_scale, clip.fps, metadata={"source": str(path)})
