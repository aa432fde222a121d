"""BVH motion capture files: read, write, forward kinematics, and SMPL-22 export (numpy only).

Conventions (those of the BVH format and of Blender's importer for the root):
- A joint's rotation channels are Euler angles in degrees, applied in the order they are listed: channels
  "Zrotation Xrotation Yrotation" mean ``R = Rz(z) @ Rx(x) @ Ry(y)`` acting on column vectors (intrinsic order).
- A joint's local translation is its OFFSET, except that position channels *replace* the matching offset component
  (``Xposition`` replaces ``offset[0]``...), on the root and on any other joint. Files that key positions on every
  joint (Bandai-Namco) store the offset itself there, so "replace" reproduces them.
- Forward kinematics: ``G_j = G_parent @ R_j`` and ``P_j = P_parent + G_parent @ t_j``.
- ``BvhClip.channels`` is (F, C) float64 in file column order: joint 0's channels, then joint 1's, ... Joints are
  stored parents-first; the writer emits the hierarchy depth-first and permutes columns to match.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from moscale.motion import limits
from moscale.motion import rotations as rot

POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")
ROTATION_CHANNELS = ("Xrotation", "Yrotation", "Zrotation")
CHANNEL_NAMES = POSITION_CHANNELS + ROTATION_CHANNELS
_CANONICAL_CHANNEL = {name.lower(): name for name in CHANNEL_NAMES}
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


class BvhParseError(ValueError):
    """A malformed BVH file; the message starts with the source and line number."""


# ----------------------------------------------------------------------------------------------- data
@dataclass
class BvhSkeleton:
    """A BVH hierarchy. Joints are parents-first (``parents[j] < j``, -1 for a root); offsets in file units."""

    names: list[str]
    parents: list[int]
    offsets: np.ndarray  # (J, 3)
    channels: list[list[str]]  # per joint, e.g. ["Xposition", ..., "Zrotation", "Xrotation", "Yrotation"]
    end_sites: list[np.ndarray | None]  # per joint: the End Site offset (3,), or None

    def __post_init__(self) -> None:
        self.names = list(self.names)
        self.parents = [int(p) for p in self.parents]
        self.offsets = np.asarray(self.offsets, dtype=np.float64).reshape(len(self.names), 3)
        unknown = {c for joint in self.channels for c in joint if c.lower() not in _CANONICAL_CHANNEL}
        if unknown:
            raise ValueError(f"unknown channel names {sorted(unknown)}; expected {CHANNEL_NAMES}")
        self.channels = [[_CANONICAL_CHANNEL[c.lower()] for c in joint] for joint in self.channels]
        self.end_sites = [None if e is None else np.asarray(e, dtype=np.float64).reshape(3) for e in self.end_sites]
        count = len(self.names)
        if not (len(self.parents) == len(self.channels) == len(self.end_sites) == count):
            raise ValueError("names, parents, offsets, channels and end_sites must have one entry per joint")
        for joint, parent in enumerate(self.parents):
            if not -1 <= parent < joint:
                raise ValueError(f"joint {joint} ({self.names[joint]!r}) has parent {parent}: parents must come first")
        starts = np.cumsum([0] + [len(c) for c in self.channels])
        self.channel_starts = starts[:-1]  # (J,) first column of each joint in BvhClip.channels

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def num_channels(self) -> int:
        return sum(len(c) for c in self.channels)

    def joint_index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"no joint named {name!r}; joints: {', '.join(self.names)}") from None

    def children(self, joint: int) -> list[int]:
        return [j for j, p in enumerate(self.parents) if p == joint]

    def depth_first_order(self) -> list[int]:
        """Joint indices in the order a BVH file lists them (pre-order, children in index order)."""
        order: list[int] = []
        stack = [j for j, p in enumerate(self.parents) if p == -1][::-1]
        while stack:
            joint = stack.pop()
            order.append(joint)
            stack.extend(self.children(joint)[::-1])
        return order


@dataclass
class BvhClip:
    skeleton: BvhSkeleton
    frame_time: float  # seconds per frame
    channels: np.ndarray  # (F, C) float64, as in the file (degrees and file units)

    def __post_init__(self) -> None:
        self.channels = np.asarray(self.channels, dtype=np.float64)
        if self.channels.ndim != 2 or self.channels.shape[1] != self.skeleton.num_channels:
            raise ValueError(f"channels must be (frames, {self.skeleton.num_channels}), got {self.channels.shape}")
        self.frame_time = float(self.frame_time)

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    @property
    def num_frames(self) -> int:
        return self.channels.shape[0]

    def joint_index(self, name: str) -> int:
        return self.skeleton.joint_index(name)

    def local_rotations(self) -> np.ndarray:
        """(F, J, 3, 3) local rotation matrices from each joint's rotation channels, in its own channel order."""
        skeleton = self.skeleton
        rotations = np.broadcast_to(np.eye(3), (self.num_frames, skeleton.num_joints, 3, 3)).copy()
        for joint, names in enumerate(skeleton.channels):
            start = skeleton.channel_starts[joint]
            columns = [start + c for c, name in enumerate(names) if name in ROTATION_CHANNELS]
            order = "".join(names[c - start][0] for c in columns)
            angles = self.channels[:, columns]
            if len(order) == 3 and len(set(order)) == 3:
                rotations[:, joint] = rot.euler_to_matrix(angles, order)
            else:  # unusual joints with 1, 2 or repeated rotation channels
                for column, axis in enumerate(order):
                    rotations[:, joint] = rotations[:, joint] @ rot.axis_rotation(
                        rot.AXIS_INDEX[axis], np.radians(angles[:, column]))
        return rotations

    def local_translations(self) -> np.ndarray:
        """(F, J, 3) translations from each parent: the OFFSET, with position channels replacing its components."""
        skeleton = self.skeleton
        translations = np.broadcast_to(skeleton.offsets, (self.num_frames, skeleton.num_joints, 3)).copy()
        for joint, names in enumerate(skeleton.channels):
            for column, name in enumerate(names):
                if name in POSITION_CHANNELS:
                    translations[:, joint, rot.AXIS_INDEX[name[0]]] = self.channels[:, skeleton.channel_starts[joint] + column]
        return translations


def forward_kinematics(clip: BvhClip) -> tuple[np.ndarray, np.ndarray]:
    """Global joint positions (F, J, 3) in file units and global rotations (F, J, 3, 3)."""
    local_rotations = clip.local_rotations()
    translations = clip.local_translations()
    positions = np.empty_like(translations)
    rotations = np.empty_like(local_rotations)
    for joint, parent in enumerate(clip.skeleton.parents):
        if parent < 0:
            positions[:, joint] = translations[:, joint]
            rotations[:, joint] = local_rotations[:, joint]
        else:
            parent_rotation = rotations[:, parent]
            positions[:, joint] = positions[:, parent] + np.einsum("fij,fj->fi", parent_rotation, translations[:, joint])
            rotations[:, joint] = parent_rotation @ local_rotations[:, joint]
    return positions, rotations


def bvh_to_positions(clip: BvhClip, unit_scale: float = 1.0, joint_names: list[str] | None = None) -> np.ndarray:
    """(F, J, 3) global joint positions times ``unit_scale`` (e.g. 0.01 for centimetre files -> metres).

    With ``joint_names`` only those joints are returned, in that order.
    """
    positions, _ = forward_kinematics(clip)
    if joint_names is not None:
        positions = positions[:, [clip.joint_index(name) for name in joint_names]]
    return positions * unit_scale


# ----------------------------------------------------------------------------------------------- reading
def read_bvh(path: str | Path, *, strict: bool = True) -> BvhClip:
    """Read a BVH file (any hierarchy, Euler order, line endings). Raises BvhParseError naming the line; ValueError
    (FileNotFoundError) before reading anything when the path is no file, or one over ``limits.MAX_TEXT_BYTES``."""
    raw = limits.check_input_file(path, limits.MAX_TEXT_BYTES).read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return parse_bvh(text, source=str(path), strict=strict)


def parse_bvh(text: str, source: str = "<string>", *, strict: bool = True) -> BvhClip:
    """Parse BVH text. ``strict=False`` accepts a frame count that differs from the ``Frames:`` line."""
    text = text.lstrip("\ufeff")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    motion = re.search(r"^[ \t]*MOTION[ \t]*$", text, re.MULTILINE | re.IGNORECASE)
    hierarchy_text = text if motion is None else text[: motion.start()]
    motion_line = hierarchy_text.count("\n") + 1
    end = ("MOTION", motion_line) if motion else ("end of file", motion_line)
    skeleton = _HierarchyParser(hierarchy_text, source, end).parse()
    if motion is None:
        raise BvhParseError(f"{source}: line {motion_line}: expected MOTION after the hierarchy, got end of file")
    header = _parse_motion_header(text, motion.end(), motion_line, source)
    frame_time, frames_declared, frames_line, data, data_line = header
    _check_size(skeleton, frame_time, max(frames_declared, data.count("\n")), frames_line, source)
    channels = _parse_frames(data, data_line, skeleton.num_channels, frames_declared, frames_line, source, strict)
    return BvhClip(skeleton, frame_time, channels)


def _check_size(skeleton: BvhSkeleton, frame_time: float, frames: int, line: int, source: str) -> None:
    """BvhParseError before the frame rows are read when the clip is beyond moscale.motion.limits."""
    try:
        limits.check_frames(frames, f"{source}: line {line}")
        limits.check_fps(1.0 / frame_time, f"{source}: line {line + 1}: Frame Time {frame_time:g} s")
    except ValueError as error:
        raise BvhParseError(str(error)) from None
    if frames * skeleton.num_joints > limits.MAX_JOINT_FRAMES:
        raise BvhParseError(f"{source}: line {line}: {frames:,} frames of {skeleton.num_joints} joints; MoScale reads "
                            f"at most {limits.MAX_JOINT_FRAMES:,} joint-frames (moscale.motion.limits.MAX_JOINT_FRAMES)")


def _number(token: str, line: int, what: str, source: str) -> float:
    if not _NUMBER.fullmatch(token):
        raise BvhParseError(f"{source}: line {line}: expected a number for {what}, got {token!r}")
    return float(token)


class _HierarchyParser:
    """Recursive descent over (token, line) pairs of the HIERARCHY section."""

    def __init__(self, text: str, source: str, end: tuple[str, int]) -> None:
        self.source, self.end = source, end
        spaced = text.replace("{", " { ").replace("}", " } ")
        self.tokens = [(token, number) for number, line in enumerate(spaced.split("\n"), 1) for token in line.split()]
        self.position = 0
        self.names: list[str] = []
        self.parents: list[int] = []
        self.offsets: list[np.ndarray | None] = []
        self.channels: list[list[str]] = []
        self.end_sites: list[np.ndarray | None] = []

    def error(self, line: int, message: str) -> BvhParseError:
        return BvhParseError(f"{self.source}: line {line}: {message}")

    def next(self, expected: str | Callable[[], str]) -> tuple[str, int]:
        if self.position >= len(self.tokens):
            what, line = self.end
            raise self.error(line, f"expected {expected if isinstance(expected, str) else expected()}, got {what}")
        token = self.tokens[self.position]
        self.position += 1
        return token

    def expect(self, keyword: str, context: str) -> int:
        token, line = self.next(f"{keyword!r} {context}")
        if token.upper() != keyword.upper():
            raise self.error(line, f"expected {keyword!r} {context}, got {token!r}")
        return line

    def parse(self) -> BvhSkeleton:
        self.expect("HIERARCHY", "at the start of the file")
        while self.position < len(self.tokens) or not self.names:
            token, line = self.next("ROOT")
            if token.upper() != "ROOT":
                expected = "ROOT" if not self.names else f"ROOT or {self.end[0]} after the last joint"
                raise self.error(line, f"expected {expected}, got {token!r}")
            self.joint(-1, "ROOT", line)
        return BvhSkeleton(self.names, self.parents, np.stack(self.offsets), self.channels, self.end_sites)

    def joint(self, parent: int, keyword: str, keyword_line: int, depth: int = 1) -> None:
        if len(self.names) >= limits.MAX_JOINTS:
            raise self.error(keyword_line, f"more than {limits.MAX_JOINTS:,} joints; MoScale reads BVH skeletons of "
                                           "at most that many (moscale.motion.limits.MAX_JOINTS)")
        if depth > limits.MAX_DEPTH:
            raise self.error(keyword_line, f"joints nested more than {limits.MAX_DEPTH} deep; MoScale reads BVH "
                                           "skeletons up to that depth (moscale.motion.limits.MAX_DEPTH)")
        name_tokens = []
        while self.position < len(self.tokens) and self.tokens[self.position][1] == keyword_line \
                and self.tokens[self.position][0] != "{":
            name_tokens.append(self.tokens[self.position][0])
            self.position += 1
        if not name_tokens:
            token, line = self.next(f"a joint name after {keyword}")
            raise self.error(line, f"expected a joint name after {keyword}, got {token!r}")
        name = " ".join(name_tokens)
        self.expect("{", f"after {keyword} name {name!r}")
        index = len(self.names)
        self.names.append(name)
        self.parents.append(parent)
        self.offsets.append(None)
        self.channels.append([])
        self.end_sites.append(None)
        seen_channels = False
        while True:
            def closing() -> str:
                return f"'}}' closing {keyword} {name!r} (opened on line {keyword_line})"
            token, line = self.next(closing)
            word = token.upper()
            if token == "}":
                break
            if word == "OFFSET":
                if self.offsets[index] is not None:
                    raise self.error(line, f"second OFFSET in joint {name!r}")
                self.offsets[index] = self.vector(f"OFFSET of joint {name!r}")
            elif word == "CHANNELS":
                if seen_channels:
                    raise self.error(line, f"second CHANNELS line in joint {name!r}")
                seen_channels = True
                self.channels[index] = self.channel_list(name, line)
            elif word == "JOINT":
                self.joint(index, "JOINT", line, depth + 1)
            elif word == "END":
                self.expect("Site", "after End")
                if self.end_sites[index] is not None:
                    raise self.error(line, f"second End Site in joint {name!r}")
                self.expect("{", "after End Site")
                self.expect("OFFSET", f"in the End Site of joint {name!r}")
                self.end_sites[index] = self.vector(f"End Site OFFSET of joint {name!r}")
                self.expect("}", f"closing the End Site of joint {name!r}")
            else:
                raise self.error(line, f"expected OFFSET, CHANNELS, JOINT, End Site or {closing()}, got {token!r}")
        if self.offsets[index] is None:
            raise self.error(keyword_line, f"{keyword} {name!r} has no OFFSET")

    def vector(self, what: str) -> np.ndarray:
        values = []
        for _ in range(3):
            token, line = self.next(f"a number for {what}")
            values.append(_number(token, line, what, self.source))
        return np.array(values)

    def channel_list(self, name: str, line: int) -> list[str]:
        token, count_line = self.next(f"a channel count after CHANNELS in joint {name!r}")
        if not token.isdigit():
            raise self.error(count_line, f"expected a channel count after CHANNELS in joint {name!r}, got {token!r}")
        count = int(token)
        names: list[str] = []
        for number in range(1, count + 1):
            token, token_line = self.next(lambda: f"channel name {number} of {count} in joint {name!r}")
            channel = _CANONICAL_CHANNEL.get(token.lower())
            if channel is None:
                raise self.error(token_line, f"expected channel name {number} of {count} in joint {name!r} "
                                             f"(one of {', '.join(CHANNEL_NAMES)}), got {token!r}")
            if channel in names:
                raise self.error(token_line, f"channel {channel} listed twice in joint {name!r}")
            names.append(channel)
        return names


def _parse_motion_header(text: str, start: int, motion_line: int, source: str) -> tuple[float, int, int, str, int]:
    """The 'Frames:' and 'Frame Time:' lines after MOTION -> (frame_time, frames, frames line, data, data's first line)."""
    line_number = motion_line
    values = []
    lines = []
    for label, pattern in (("Frames: <count>", r"Frames\s*:\s*(\S*)"), ("Frame Time: <seconds>", r"Frame\s+Time\s*:\s*(\S*)")):
        while True:  # skip blank lines
            newline = text.find("\n", start + 1)
            newline = len(text) if newline < 0 else newline
            line_text, start = text[start + 1: newline], newline
            line_number += 1
            if line_text.strip() or start >= len(text):
                break
        match = re.fullmatch(r"\s*" + pattern + r"\s*", line_text, re.IGNORECASE)
        shown = line_text.strip()[:40] or "end of file"
        if match is None:
            raise BvhParseError(f"{source}: line {line_number}: expected {label!r}, got {shown!r}")
        value = match.group(1)
        lines.append(line_number)
        if label.startswith("Frames:"):
            if not value.isdigit():
                raise BvhParseError(f"{source}: line {line_number}: expected a frame count after 'Frames:', got {value!r}")
            values.append(int(value))
        else:
            seconds = _number(value, line_number, "Frame Time", source)
            if not seconds > 0:
                raise BvhParseError(f"{source}: line {line_number}: Frame Time must be positive, got {value!r}")
            values.append(seconds)
    frames, frame_time = values
    return frame_time, frames, lines[0], text[start + 1:], line_number + 1


def _parse_frames(data: str, first_line: int, num_channels: int, declared: int, frames_line: int, source: str,
                  strict: bool) -> np.ndarray:
    """(F, C) values from the frame rows; bulk-converted by numpy, diagnosed line by line only on failure."""
    if not data.strip():
        values = np.zeros((0, num_channels))
    else:
        try:
            values = np.loadtxt(io.StringIO(data), dtype=np.float64, comments=None, ndmin=2)
        except ValueError:
            values = None
        if values is None or values.shape[1] != num_channels or not np.isfinite(values).all():
            _diagnose_frames(data, first_line, num_channels, source)
            raise BvhParseError(f"{source}: line {first_line}: could not read the frame rows")
    if strict and len(values) != declared:
        raise BvhParseError(f"{source}: line {frames_line}: 'Frames: {declared}' declares {declared} frames, "
                            f"but {len(values)} frame rows were found")
    return values


def _diagnose_frames(data: str, first_line: int, num_channels: int, source: str) -> None:
    """Raises BvhParseError at the first bad frame row (slow path, only for broken files)."""
    row = 0
    for number, line in enumerate(data.split("\n"), first_line):
        tokens = line.split()
        if not tokens:
            continue
        row += 1
        for token in tokens:
            if not _NUMBER.fullmatch(token):
                raise BvhParseError(f"{source}: line {number}: expected a (finite) number in frame {row}, got {token!r}")
        if len(tokens) != num_channels:
            raise BvhParseError(f"{source}: line {number}: expected {num_channels} values in frame {row} "
                                f"(one per channel), got {len(tokens)}")


# ----------------------------------------------------------------------------------------------- writing
def _format_number(value: float, decimals: int | None) -> str:
    return repr(float(value)) if decimals is None else f"{value:.{decimals}f}"


def format_bvh(clip: BvhClip, *, decimals: int | None = 6) -> str:
    """BVH text for ``clip``. ``decimals=None`` writes shortest round-trip floats (lossless, larger files)."""
    skeleton = clip.skeleton
    order = skeleton.depth_first_order()
    lines = ["HIERARCHY"]

    def vector(values: np.ndarray) -> str:
        return " ".join(_format_number(v + 0.0, decimals) for v in values)

    def write_joint(joint: int, depth: int) -> None:
        indent = "\t" * depth
        keyword = "ROOT" if skeleton.parents[joint] < 0 else "JOINT"
        lines.extend([f"{indent}{keyword} {skeleton.names[joint]}", f"{indent}{{",
                      f"{indent}\tOFFSET {vector(skeleton.offsets[joint])}"])
        # always a CHANNELS line, "CHANNELS 0" too (as Blender's exporter writes a placeholder root): Blender's
        # importer reads the line after OFFSET as the channels, and without one it skipped the first child
        names = skeleton.channels[joint]
        lines.append(f"{indent}\tCHANNELS {len(names)}" + "".join(f" {name}" for name in names))
        for child in skeleton.children(joint):
            write_joint(child, depth + 1)
        if skeleton.end_sites[joint] is not None:
            lines.extend([f"{indent}\tEnd Site", f"{indent}\t{{",
                          f"{indent}\t\tOFFSET {vector(skeleton.end_sites[joint])}", f"{indent}\t}}"])
        lines.append(f"{indent}}}")

    for root in (j for j, p in enumerate(skeleton.parents) if p < 0):
        write_joint(root, 0)
    lines += ["MOTION", f"Frames: {clip.num_frames}", f"Frame Time: {clip.frame_time!r}"]
    columns = np.concatenate([skeleton.channel_starts[j] + np.arange(len(skeleton.channels[j])) for j in order]
                             + [np.zeros(0, dtype=np.int64)]).astype(np.int64)
    values = clip.channels[:, columns]
    if decimals is None:
        rows = (" ".join(map(repr, row)) for row in values.tolist())
    else:
        values = np.round(values, decimals) + 0.0  # no "-0.000000"
        row_format = " ".join([f"%.{decimals}f"] * values.shape[1])
        rows = (row_format % tuple(row) for row in values.tolist())
    return "\n".join(lines + list(rows)) + "\n"


def write_bvh(path: str | Path, clip: BvhClip, *, decimals: int | None = 6) -> None:
    from moscale.utils.atomic import write_text

    write_text(path, format_bvh(clip, decimals=decimals))
