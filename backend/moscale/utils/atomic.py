"""Atomic saves: every output goes to a temporary file in the destination's folder and is renamed over it.

    with atomic.replacing("walk.fbx") as temporary:      # a writer that takes a file name (bpy, matplotlib, PIL)
        bpy.ops.export_scene.fbx(filepath=str(temporary))
    with atomic.open_for_write("walk.npz") as handle:    # a writer that takes an open binary file
        np.savez(handle, **arrays)
    atomic.write_text("walk.bvh", text)
    with atomic.replacing_folder("release/") as folder:  # a model release: config.json + weights, all or nothing
        save_files_into(folder)

A save cut off half way (an exception, a kill, a full disk) leaves the file that was there untouched, and at
most a hidden ``.NAME.*.tmp`` folder next to it; readers never see a half-written file. The temporary file keeps
the destination's name and suffix, because bpy, matplotlib and PIL choose the format from it. ``os.replace`` is atomic
within one file system, which is why the temporary file lives in the same folder and not in /tmp.

``check_writable(path)`` says before any work whether a save there can succeed (it tries: root passes the permission
bits, and /proc or /sys take no files whatever they say). A save that runs out of space raises ``DiskFull``, whose
message is the one line to show: "disk full: writing PATH failed: No space left on device (the previous file is kept)"
("Disk quota exceeded" for a quota, "nothing was written" for a new file), whatever the writer said or did not say.
"""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Iterator


def _mode_for(path: Path) -> int:
    """The permissions the file would get from a plain ``open(path, 'w')``: an existing file's own, else
    0o666 less the umask (mkstemp makes 0o600 files, which would lock other users out of a shared output)."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def shown(path: str | Path, width: int = 120) -> str:
    """``path`` for a message: whole when short, else its start and end (a 5,000-character path is no line)."""
    text = str(path)
    return text if len(text) <= width else f"{text[:width // 2 - 2]}...{text[-(width // 2 - 1):]}"


def check_writable(path: str | Path) -> Path:
    """``path`` as a Path if a file can be saved there; else ValueError saying why, in one line (checked before
    computing). Tried, not guessed: root may write anywhere the permission bits say no, and nowhere in /proc or
    /sys although they say yes, so a scratch folder is made (and removed) in the nearest existing folder."""
    path = Path(path)
    try:
        return _check_writable(path)
    except OSError as error:  # the check itself must not end in a traceback (ENAMETOOLONG from a stat, ...)
        raise ValueError(f"cannot write {shown(path)}: {error.strerror or error}") from None


def _check_writable(path: Path) -> Path:
    if path.name in ("", ".", ".."):
        raise ValueError(f"{path!s}: not a file name")
    absolute = os.fsencode(os.path.abspath(path))
    longest = _limit("PC_PATH_MAX", 4096) - 1
    if len(absolute) > longest:
        raise ValueError(f"cannot write {shown(path)}: the path is {len(absolute):,} bytes long; this system takes "
                         f"at most {longest:,}")
    name_max = _limit("PC_NAME_MAX", 255)
    for part in path.parts:
        if len(os.fsencode(part)) > name_max:
            raise ValueError(f"cannot write {shown(path)}: the name {shown(part, 40)!r} is {len(os.fsencode(part))} "
                             f"bytes long; file names here are at most {name_max} bytes")
    if path.is_dir():
        raise ValueError(f"{path} is a directory; give a file name (e.g. {path / 'motion.npz'})")
    existing = path.parent
    while not existing.exists():  # the writer creates missing folders: the nearest existing one must be writable
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise ValueError(f"cannot write {path}: {existing} is a file, not a folder")
    if path.exists() and not path.is_file():
        raise ValueError(f"cannot write {path}: it is not a regular file (a device, FIFO or socket)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write {path}: no permission to write in {existing}")
    if path.exists() and not (os.access(path, os.W_OK) and path.stat().st_mode & 0o222):
        # the mode bits too: root passes os.access, and the rename would replace a file its owner marked read-only
        raise ValueError(f"cannot write {path}: the file is read-only")
    _try_writing_in(existing, path)
    return path


def _limit(name: str, default: int) -> int:
    try:
        return int(os.pathconf("/", name))
    except (OSError, ValueError):
        return default


def _try_writing_in(folder: Path, path: Path) -> None:
    """What the writer will do there: a scratch folder in ``folder`` with a file of the output's name in it."""
    try:
        scratch = Path(tempfile.mkdtemp(dir=folder, prefix=".moscale-check-"))
    except OSError as error:
        raise ValueError(f"cannot write {shown(path)}: {folder} does not take new files "
                         f"({error.strerror or error})") from None
    try:
        (scratch / path.name).touch()
    except OSError as error:
        raise ValueError(f"cannot write {shown(path)}: {error.strerror or error}") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class DiskFull(OSError):
    """A save that ran out of space (ENOSPC, a quota, a short write); the message is the one line to show."""


FULL = (errno.ENOSPC, errno.EDQUOT)
FULL_WORDS = tuple(os.strerror(code) for code in FULL)  # "No space left on device", "Disk quota exceeded"
ROOM = 64 << 10  # less free space than this in the folder after a failed save: the disk is full


def is_disk_full(error: BaseException, folder: str | Path) -> bool:
    """Whether a writer's ``error`` (any type) came from a full disk or quota in ``folder`` (see ``_disk_full``)."""
    return _disk_full(error, Path(folder)) is not None


def _disk_full(error: BaseException, folder: Path) -> BaseException | None:
    """The error that says the disk is full, when a writer's error (of any type: numpy's short write, zipfile's
    "seek of closed file" after it, a bpy operator's RuntimeError carrying an exporter's traceback or Blender's
    "Error: No space left on device") came from one: ENOSPC/EDQUOT anywhere in its chain, or their words in its
    text; else, when the writer said nothing of it (numpy's "N requested and M written", Blender's .blend writer
    reporting success for a file the disk cut short), the folder's own answer (``_no_room``); else None."""
    seen, first = set(), error
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        text = str(error).lower()
        if isinstance(error, OSError) and error.errno in FULL or any(w.lower() in text for w in FULL_WORDS):
            return error
        error = error.__cause__ or error.__context__
    full = _no_room(folder)
    return None if full is None else full if full.errno == errno.EDQUOT else first


def _no_room(folder: Path) -> OSError | None:
    """ENOSPC when ``folder`` has less than ROOM free (a writer cut short leaves its partial file in the scratch
    folder: the disk stays full), or the ENOSPC / EDQUOT of writing ROOM bytes there (a quota: the disk has space,
    the user none; a writer that removed its partial file); None when there is room, or the folder cannot say."""
    try:
        if shutil.disk_usage(folder).free < ROOM:
            return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        with tempfile.TemporaryFile(dir=folder, prefix=".moscale-room-") as probe:
            probe.write(bytes(ROOM))
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as error:
        return error if error.errno in FULL else None
    return None


def _full_disk_error(error: BaseException, path: Path, existed: bool) -> DiskFull:
    """The one line for ``error`` (from ``_disk_full``). Its detail is the system's own words, never the writer's:
    those are a traceback (a bpy exporter's), byte counts (numpy's short write) or Blender's "unreadable file"."""
    kept = "the previous file is kept" if existed else "nothing was written"
    text = str(error).lower()
    if isinstance(error, OSError) and error.errno in FULL:
        detail = os.strerror(error.errno)
    else:
        detail = next((words for words in FULL_WORDS if words.lower() in text), FULL_WORDS[0])
    full = DiskFull(f"disk full: writing {shown(path)} failed: {detail} ({kept})")
    full.errno = FULL[FULL_WORDS.index(detail)]
    return full


@contextlib.contextmanager
def replacing(path: str | Path, *, allow_empty: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write (same name, in a fresh hidden folder next to ``path``); on success the file
    replaces ``path``, on any exception (or when the writer wrote nothing) it is removed and ``path`` is left as it
    was. Creates the destination folder if needed.

    A folder of its own, not just a temporary name: writers that add files beside their output (Blender's
    ``.blend1`` backups, an FBX's ``.fbm`` textures folder) leave them in it, and it goes away with it."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; give a file name")
    existed = path.exists()
    try:  # on a disk full to the last block even the folders fail (ext4; a tmpfs takes folders without space)
        path.parent.mkdir(parents=True, exist_ok=True)
        # the scratch folder's name is cut short: with ".NAME.XXXXXXXX.tmp" a 250-byte NAME would pass NAME_MAX
        scratch = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name[:100]}.", suffix=".tmp"))
    except OSError as error:
        if error.errno not in FULL:
            raise
        raise _full_disk_error(error, path, existed) from None
    mode = _mode_for(path)
    temporary = scratch / path.name
    try:
        yield temporary
        if not temporary.is_file():
            raise OSError(f"writing {path} produced no file; the previous file was kept")
        if temporary.stat().st_size == 0 and not allow_empty:
            raise OSError(f"writing {path} produced an empty file; the previous file was kept")
        with open(temporary, "rb+") as written:  # the data is on disk before the rename makes it visible
            os.fsync(written.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except Exception as error:
        cause = None if isinstance(error, DiskFull) else _disk_full(error, path.parent)
        if cause is None:
            raise
        raise _full_disk_error(cause, path, existed) from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def open_for_write(path: str | Path, *, text: bool = False, encoding: str = "utf-8") -> Iterator[IO]:
    """An open file (binary, or text with ``text=True``) whose contents replace ``path`` when the block ends
    without an exception."""
    with replacing(path, allow_empty=True) as temporary:  # an empty file written on purpose is still a file
        with (open(temporary, "w", encoding=encoding, newline="") if text else open(temporary, "wb")) as handle:
            yield handle


def write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    with open_for_write(path, text=True, encoding=encoding) as handle:
        handle.write(text)
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    with open_for_write(path) as handle:
        handle.write(data)
    return Path(path)


def save_safetensors(path: str | Path, tensors: dict, metadata: dict[str, str] | None = None) -> Path:
    """``safetensors.torch.save_file``, atomically (model weights: a cut-off save keeps the previous weights)."""
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    with replacing(path) as temporary:
        try:
            save_file(tensors, str(temporary), metadata=metadata)
        except SafetensorError as error:  # its I/O errors (a full disk) are not OSErrors
            raise OSError(f"writing {path} failed ({error}); the previous file was kept") from None
    return Path(path)


@contextlib.contextmanager
def replacing_folder(folder: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder next to ``folder``; on success it takes ``folder``'s place (the old one is
    moved aside first and deleted after), on an exception it is deleted and ``folder`` is untouched.

    Two renames, not one (a directory cannot be renamed over a non-empty one), so there is an instant with no
    folder at ``folder`` — but never a folder holding half a release."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file, not a folder")
    folder.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".tmp"))
    try:
        yield temporary
        aside = None
        if folder.exists():
            aside = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".old"))
            os.replace(folder, aside / folder.name)
        os.replace(temporary, folder)
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
