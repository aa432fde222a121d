"""A real full disk for tests: a tiny tmpfs mounted in a user + mount namespace (`unshare -rm`, no privileges
needed where the kernel allows unprivileged user namespaces; plain `unshare -m` when already root), so writers meet
a true ENOSPC from the kernel, wherever it strikes (numpy, matplotlib, Pillow, Blender's FBX and .blend writers).

    namespace = mount_namespace()                      # the command prefix, or pytest.skip saying why not
    seen = on_full_disk(namespace, command, tmp_path, size_k=48, previous=old_file, name="out.npz")
    seen.rc, seen.stderr, seen.listing, seen.kept      # what the command left, read inside the namespace

The mount lives only as long as the namespace, so what the command left on it (the names in the folder, the bytes of
the file) is copied out before the namespace ends.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

PAGE_K = 4  # tmpfs counts whole pages

# Run by sh inside the namespace: mount, put the previous file in, run the command ("$@"), copy out what it left.
SCRIPT = r"""
set -e
mount -t tmpfs -o "size=${FULL_SIZE_K}k" tmpfs "$FULL_DISK"
if [ -n "$FULL_PREVIOUS" ]; then cp "$FULL_PREVIOUS" "$FULL_DISK/$FULL_NAME"; fi
set +e
"$@" >"$FULL_OUT/stdout" 2>"$FULL_OUT/stderr"
echo $? >"$FULL_OUT/rc"
ls -A "$FULL_DISK" >"$FULL_OUT/listing"
if [ -e "$FULL_DISK/$FULL_NAME" ]; then cp "$FULL_DISK/$FULL_NAME" "$FULL_OUT/kept"; fi
df -k "$FULL_DISK" >"$FULL_OUT/df"
"""


@functools.lru_cache(maxsize=None)
def _probe() -> tuple[tuple[str, ...] | None, str]:
    """The prefix that runs a command in a mount namespace where it can mount a tmpfs, or None and why not."""
    if shutil.which("unshare") is None:
        return None, "`unshare` (util-linux) is not installed"
    reasons = []
    candidates = [("unshare", "-rm")] + ([("unshare", "-m")] if os.geteuid() == 0 else [])
    for prefix in candidates:
        try:
            with tempfile.TemporaryDirectory(prefix="moscale-full-disk-") as folder:
                probe = subprocess.run([*prefix, "sh", "-c", 'mount -t tmpfs -o size=8k tmpfs "$1" && '
                                        '! dd if=/dev/zero of="$1/f" bs=4k count=4 2>/dev/null', "sh", folder],
                                       capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as error:
            reasons.append(f"{' '.join(prefix)}: {error}")
            continue
        if probe.returncode == 0:
            return prefix, ""
        last = (probe.stderr.strip().splitlines() or [f"exit status {probe.returncode}"])[-1]
        reasons.append(f"{' '.join(prefix)}: {last}")
    return None, "; ".join(reasons)


def mount_namespace() -> tuple[str, ...]:
    """The command prefix (`unshare -rm`), or skip the test: this system refuses the namespace or the mount."""
    prefix, why = _probe()
    if prefix is None:
        pytest.skip(f"no real full disk here: cannot mount a tmpfs in a user + mount namespace ({why})")
    return prefix


def pages_k(size: int) -> int:
    """The space a file of ``size`` bytes takes on a tmpfs, in KiB (whole pages)."""
    return -(-size // (PAGE_K << 10)) * PAGE_K


def half_k(size: int) -> int:
    """Free space, in KiB, for a file of ``size`` bytes to run out of half way through."""
    return max(PAGE_K, pages_k(size) // 2 // PAGE_K * PAGE_K)


@dataclass
class Seen:
    rc: int
    stdout: str
    stderr: str
    listing: list[str]   # the names in the full disk's folder after the command, hidden ones too
    kept: bytes | None   # the bytes of the file at ``name`` after the command, None when there was none
    df: str


def on_full_disk(prefix: tuple[str, ...], command: list[str], work: Path, size_k: int, name: str,
                 previous: Path | None = None, cwd: Path | None = None, timeout: float = 600) -> Seen:
    """Run ``command`` with a ``size_k`` KiB tmpfs mounted at ``work/disk`` (``previous`` copied to ``disk/name``
    first); returns what it printed and left there. The command sees the disk at ``work / 'disk'``."""
    disk, out = work / "disk", work / "seen"
    disk.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "FULL_SIZE_K": str(size_k), "FULL_DISK": str(disk), "FULL_NAME": name,
           "FULL_PREVIOUS": str(previous or ""), "FULL_OUT": str(out)}
    ran = subprocess.run([*prefix, "sh", "-c", SCRIPT, "sh", *command], env=env, cwd=cwd, capture_output=True,
                         text=True, timeout=timeout)
    assert (out / "rc").is_file(), f"the namespace did not run the command: {ran.stderr}"
    kept = out / "kept"
    return Seen(int((out / "rc").read_text()), (out / "stdout").read_text(errors="replace"),
                (out / "stderr").read_text(errors="replace"), (out / "listing").read_text().split(),
                kept.read_bytes() if kept.is_file() else None, (out / "df").read_text())
