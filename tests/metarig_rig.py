"""A BVH exported from a Rigify metarig as in the ReActIdle dataset: its skeleton (names, offsets in metres, Y up, a
zero-length spine bone at the pelvis, pelvis.L/.R stubs, shoulders starting at the neck, no hands and no toes) with
a made-up motion (legs swing, the spine bends, arms hang and swing). Shared by tests/test_short_spine.py and
tests/blender/test_rigs_metarig.py."""
from __future__ import annotations

from pathlib import Path

import numpy as np

# (name, parent, offset, End Site or None): ReActIdle's acted/001 header, rounded to 0.1 mm
SKELETON = (
    ("pelvis", -1, (0.0, 0.7196, 0.0), None),
    ("spine", 0, (0.0, 0.0, 0.0), None),
    ("spine.001", 1, (0.0, 0.2321, 0.0122), None),
    ("neck", 2, (0.0, 0.2306, -0.0283), None),
    ("face", 3, (0.0, 0.1765, -0.0031), (0.0, -0.0071, 0.0309)),
    ("shoulder.L", 2, (0.0, 0.2306, -0.0283), None),
    ("upper_arm.L", 5, (0.1633, 0.0, 0.0), None),
    ("forearm.L", 6, (0.2524, 0.0009, -0.0001), (0.2213, -0.0012, 0.0038)),
    ("shoulder.R", 2, (0.0, 0.2306, -0.0283), None),
    ("upper_arm.R", 8, (-0.1633, 0.0, 0.0), None),
    ("forearm.R", 9, (-0.2502, 0.0009, -0.0001), (-0.2157, -0.0012, 0.0037)),
    ("pelvis.L", 0, (0.0, 0.0, 0.0), (0.0966, 0.0, 0.0)),
    ("pelvis.R", 0, (0.0, 0.0, 0.0), (-0.0966, 0.0, 0.0)),
    ("thigh.L", 0, (0.0966, 0.0, 0.0), None),
    ("shin.L", 13, (0.0173, -0.3306, 0.0), None),
    ("foot.L", 14, (0.0169, -0.3228, 0.0), (0.0145, -0.0622, 0.1482)),
    ("thigh.R", 0, (-0.0966, 0.0, 0.0), None),
    ("shin.R", 16, (-0.0172, -0.3285, 0.0), None),
    ("foot.R", 17, (-0.0171, -0.3260, 0.0), (-0.0153, -0.0657, 0.1564)),
)
NAMES = tuple(name for name, *_ in SKELETON)


def _angles(name: str, t: float) -> tuple[float, float, float]:
    """X, Y, Z rotation in degrees of one joint at ``t`` seconds: a slow walk-like swing at 1 Hz."""
    s = np.sin(2 * np.pi * t)
    return {
        "pelvis": (0.0, 5.0 * s, 0.0), "spine": (8.0 * s, 0.0, 0.0), "spine.001": (-6.0 * s, 0.0, 3.0 * s),
        "neck": (5.0 * s, 0.0, 0.0), "upper_arm.L": (10.0 * s, 0.0, -70.0), "forearm.L": (0.0, 0.0, -20.0 - 10 * s),
        "upper_arm.R": (-10.0 * s, 0.0, 70.0), "forearm.R": (0.0, 0.0, 20.0 - 10 * s), "thigh.L": (-25.0 * s, 0.0, 0.0),
        "shin.L": (15.0 * (1 + s), 0.0, 0.0), "thigh.R": (25.0 * s, 0.0, 0.0), "shin.R": (15.0 * (1 - s), 0.0, 0.0),
    }.get(name, (0.0, 0.0, 0.0))


def metarig_bvh_text(frames: int = 40, fps: float = 20.0) -> str:
    lines = ["HIERARCHY"]

    def block(joint: int, depth: int) -> None:
        name, parent, offset, end = SKELETON[joint]
        pad = "  " * depth
        lines.append(f"{pad}{'ROOT' if parent < 0 else 'JOINT'} {name}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {offset[0]:.4f} {offset[1]:.4f} {offset[2]:.4f}")
        lines.append(f"{pad}  CHANNELS " + ("6 Xposition Yposition Zposition " if parent < 0 else "3 ")
                     + "Xrotation Yrotation Zrotation")
        for child, (_, child_parent, _, _) in enumerate(SKELETON):
            if child_parent == joint:
                block(child, depth + 1)
        if end is not None:
            lines.append(f"{pad}  End Site")
            lines.append(f"{pad}  {{")
            lines.append(f"{pad}    OFFSET {end[0]:.4f} {end[1]:.4f} {end[2]:.4f}")
            lines.append(f"{pad}  }}")
        lines.append(f"{pad}}}")

    block(0, 0)
    lines += ["MOTION", f"Frames: {frames}", f"Frame Time: {1.0 / fps:.6f}"]
    for row in range(frames):
        t = row / fps
        values = [0.0, SKELETON[0][2][1], 0.4 * t]  # at hip height, walking forward (+Z) at 0.4 m/s
        for name in NAMES:
            values += _angles(name, t)
        lines.append(" ".join(f"{v:.4f}" for v in values))
    return "\n".join(lines) + "\n"


def write_metarig_bvh(path: Path, frames: int = 40, fps: float = 20.0) -> Path:
    path.write_text(metarig_bvh_text(frames, fps), encoding="utf-8")
    return path
