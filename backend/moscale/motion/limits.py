"""What a motion file may hold before it is read: sizes checked from the file system and the headers, never by
allocating first.

    path = check_motion_file("walk.npz")   # ValueError (one line, naming the limit) / FileNotFoundError
    check_fps(clip_fps, "walk.bvh")         # 1 to 1000 frames per second

Why: a 4 MB .npz can hold 4 GiB of zeros, an .npy header can claim 10^9 frames, a BVH can nest 10,000 joints; each
used to end in a MemoryError, a RecursionError or a killed process (in Blender: the user's session) instead of a
line saying what is wrong. The limits are far above any real take (a 30-minute capture at 120 fps is 216,000 frames).
"""
from __future__ import annotations

import math
import os
import stat
import zipfile
from pathlib import Path

import numpy as np

MAX_FRAMES = 250_000              # frames of one clip: 35 minutes at 120 fps
MAX_ARRAY_BYTES = 1 << 30         # an .npy's data, or an .npz's arrays together, once loaded (1 GiB)
MAX_TEXT_BYTES = 512 << 20        # a .bvh file (text; 512 MiB is about 200,000 frames of a 60-joint rig)
MAX_JOINTS = 1_000                # joints of a BVH skeleton (a full-face rig has a few hundred)
MAX_DEPTH = 200                   # joints from a BVH root to its deepest joint (real rigs: under 60)
MAX_JOINT_FRAMES = 20_000_000     # frames x joints of a BVH (its forward kinematics: 72 bytes each)
MIN_FPS, MAX_FPS = 1.0, 1000.0    # mocap runs at up to a few hundred fps; below 1 a clip is a slide show
MOTION_SUFFIXES = (".bvh", ".npz", ".npy")


def _size(count: float) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{int(count)} bytes"


def what_it_is(path: Path) -> str | None:
    """None for a regular file (or a link to one); else what the path is, for a message ("a FIFO (named pipe)")."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            return f"a link to {os.readlink(path)}, which does not exist"
        return None
    except OSError as error:
        return f"unreadable ({error.strerror or error})"
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return None


def check_input_file(path: str | Path, limit: int | None = None) -> Path:
    """``path`` if it is a regular file of at most ``limit`` bytes; FileNotFoundError when nothing is there,
    ValueError saying what it is otherwise (a FIFO would block the reader, /dev/zero would never end)."""
    path = Path(path)
    kind = what_it_is(path)
    if kind is not None:
        hint = f"; give a motion file ({', '.join(MOTION_SUFFIXES)})" if kind == "a directory" else \
            "" if kind.startswith(("a link", "unreadable")) else ", not a file: give a motion file saved on disk"
        raise ValueError(f"{path} is {kind}{hint}")
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except OSError as error:
        raise ValueError(f"{path}: cannot read it ({error.strerror or error})") from None
    if limit is not None and size > limit:
        raise ValueError(f"{path} is {_size(size)}; MoScale reads files of this type up to {_size(limit)} "
                         "(moscale.motion.limits)")
    return path


def check_frames(count: int, where: str, what: str = "frames") -> None:
    if count > MAX_FRAMES:
        raise ValueError(f"{where}: {count:,} {what}; MoScale handles clips of at most {MAX_FRAMES:,} frames "
                         f"(moscale.motion.limits.MAX_FRAMES)")


def check_fps(fps: float, where: str) -> float:
    """``fps`` as a float when it is a frame rate MoScale works with (MIN_FPS to MAX_FPS), else ValueError."""
    fps = float(fps)
    if not (math.isfinite(fps) and MIN_FPS <= fps <= MAX_FPS):
        raise ValueError(f"{where}: a frame rate of {fps:g} fps; MoScale reads clips at {MIN_FPS:g} to {MAX_FPS:g} "
                         "frames per second")
    return fps


def check_array_header(shape: tuple[int, ...], dtype: np.dtype, where: str) -> int:
    """The bytes an array of this header needs; ValueError over MAX_ARRAY_BYTES or MAX_FRAMES (its first axis)."""
    count = math.prod(int(n) for n in shape)
    needed = count * np.dtype(dtype).itemsize
    if needed > MAX_ARRAY_BYTES:
        raise ValueError(f"{where}: its header declares an array of shape {tuple(shape)} ({_size(needed)}); MoScale "
                         f"loads at most {_size(MAX_ARRAY_BYTES)} (moscale.motion.limits.MAX_ARRAY_BYTES)")
    if len(shape) >= 2:
        check_frames(int(shape[0]), where, "frames in its header")
    return needed


def read_npy_header(handle, where: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, bytes of data) from an open .npy stream, reading only its header."""
    try:
        version = np.lib.format.read_magic(handle)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = reader(handle)
    except (ValueError, OSError, EOFError) as error:
        raise ValueError(f"{where}: not a readable .npy array ({error})") from None
    return tuple(shape), dtype, check_array_header(shape, dtype, where)


def check_npy(path: Path) -> None:
    """ValueError when an .npy file's header asks for more than the limits, or for more data than the file holds."""
    with open(path, "rb") as handle:
        _, dtype, needed = read_npy_header(handle, str(path))
        offset = handle.tell()
    if dtype.hasobject:
        return  # np.load(allow_pickle=False) refuses it with its own message
    size = os.stat(path).st_size
    if offset + needed > size:
        raise ValueError(f"{path}: its header declares {_size(needed)} of data, the file holds {_size(size - offset)}: "
                         "it is truncated or damaged; export it again")


def check_npz(path: Path) -> None:
    """ValueError when the arrays of an .npz (a zip of .npy files) would need more than MAX_ARRAY_BYTES loaded:
    from the zip's directory and each member's .npy header, nothing decompressed beyond the headers."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if m.filename.endswith(".npy")]
            total = sum(m.file_size for m in members)
            if total > MAX_ARRAY_BYTES:
                raise ValueError(f"{path}: its arrays unpack to {_size(total)}; MoScale loads at most "
                                 f"{_size(MAX_ARRAY_BYTES)} (moscale.motion.limits.MAX_ARRAY_BYTES)")
            declared = 0
            for member in members:
                with archive.open(member) as handle:
                    declared += read_npy_header(handle, f"{path}: array '{member.filename[:-4]}'")[2]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError):
        return  # not a readable zip: the reader says so with its own message
    if declared > MAX_ARRAY_BYTES:
        raise ValueError(f"{path}: its array headers declare {_size(declared)}; MoScale loads at most "
                         f"{_size(MAX_ARRAY_BYTES)} (moscale.motion.limits.MAX_ARRAY_BYTES)")


def check_motion_file(path: str | Path) -> Path:
    """Every check that needs no parsing: what the path is, its size, and for .npy / .npz the array headers."""
    path = Path(path)
    suffix = path.suffix.lower()
    check_input_file(path, MAX_TEXT_BYTES if suffix == ".bvh" else None)
    if suffix == ".npy":
        check_npy(path)
    elif suffix == ".npz":
        check_npz(path)
    return path
