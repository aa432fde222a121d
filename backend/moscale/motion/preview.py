"""Stick-figure previews of a motion: an animated GIF or a filmstrip PNG, drawn with matplotlib (Agg) and Pillow.

`render_preview(joints_TJ3, "clip.gif")` animates joint positions (metres, Y up, HumanML3D's SMPL-22); the camera
follows the root over a floor grid, and the root's path is drawn on the floor. A `.png` path gives N evenly spaced frames side
by side. `moscale preview CLIP -o clip.gif` does the same for a file: `.npy` joints (T, 22, 3), (T, 66) or 263-d
features (T, 263), an `.npz` motion (ours or AMASS), or `.bvh` mocap.
"""
from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from moscale.motion import limits
from moscale.motion.skeleton import FEATURE_DIM, FPS, KINEMATIC_CHAINS, NUM_JOINTS

# One colour per kinematic chain: right leg, left leg, spine/head, right arm, left arm (right = warm, left = cool).
CHAIN_COLORS = ("#d62728", "#1f77b4", "#404040", "#ff7f0e", "#17becf")
HEAD_JOINT = 15
VIEW_RADIUS_M = 1.0  # half-width of the box the camera keeps around the root
GRID_STEP_M = 0.5
FLOOR_RADIUS_M = 0.8  # half-width of the drawn floor (and path) square: a little inside the view box
MIN_SIZE_PX, MAX_SIZE_PX = 16, 4096  # image height; 100000 made matplotlib ask for gigabytes (std::bad_alloc)
MAX_PANELS = 64  # panels of a filmstrip (each 3/4 of the height wide)


def render_preview(
    joints_TJ3: np.ndarray,
    out_path: str | Path,
    fps: float = FPS,
    title: str = "",
    *,
    size_px: int = 360,
    filmstrip_frames: int = 8,
    elevation: float = 15.0,
    azimuth: float = -60.0,
    chains: Sequence[Sequence[int]] = KINEMATIC_CHAINS,
    colors: Sequence[str] = CHAIN_COLORS,
    head_joint: int | None = HEAD_JOINT,
    root_joint: int = 0,
) -> Path:
    """Draw `joints_TJ3` (metres, Y up, the body facing +Z at rest) to a .gif animation or a .png filmstrip.

    size_px: height of the image (a GIF frame is square; a filmstrip panel 3/4 as wide). azimuth/elevation in degrees
    (the default looks at the front of a body that faces +Z, from its left-front). Other skeletons: pass their
    `chains` (joint index paths, e.g. `chains_from_parents(parents)`), `head_joint=None`, and the `root_joint` the
    camera follows. Returns the written path."""
    joints_TJ3 = np.asarray(joints_TJ3, dtype=np.float64)
    if joints_TJ3.ndim != 3 or joints_TJ3.shape[-1] != 3 or len(joints_TJ3) == 0:
        raise ValueError(f"expected joints of shape (frames, joints, 3), got {joints_TJ3.shape}")
    out_path = Path(out_path)
    suffix = out_path.suffix.lower()
    if suffix not in (".gif", ".png"):
        raise ValueError(f"{out_path}: preview format is chosen by suffix, .gif (animation) or .png (filmstrip)")
    check_preview_size(size_px, filmstrip_frames)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    points_TJ3 = _to_plot_axes(joints_TJ3)
    style = dict(elevation=elevation, azimuth=azimuth, chains=chains, colors=colors, head_joint=head_joint,
                 root_joint=root_joint)
    from moscale.utils import atomic

    with atomic.replacing(out_path) as temporary:  # a preview cut off half way keeps the previous one
        if suffix == ".gif":
            _render_gif(points_TJ3, temporary, fps, title, size_px, style)
        else:
            _render_filmstrip(points_TJ3, temporary, fps, title, size_px, filmstrip_frames, style)
    return out_path


def check_preview_size(size_px: int, panels: int, size_label: str = "size_px",
                       panels_label: str = "filmstrip_frames") -> None:
    """ValueError unless the image height and the filmstrip's panels are within MIN/MAX_SIZE_PX and MAX_PANELS."""
    if not MIN_SIZE_PX <= size_px <= MAX_SIZE_PX:
        raise ValueError(f"{size_label} {size_px}: give an image height of {MIN_SIZE_PX} to {MAX_SIZE_PX} pixels")
    if not 1 <= panels <= MAX_PANELS:
        raise ValueError(f"{panels_label} {panels}: give 1 to {MAX_PANELS} filmstrip panels")


def _to_plot_axes(joints_TJ3: np.ndarray) -> np.ndarray:
    """Y-up (x, y, z) -> matplotlib's Z-up (x, -z, y): a rotation, so left and right stay left and right."""
    points = np.stack([joints_TJ3[..., 0], -joints_TJ3[..., 2], joints_TJ3[..., 1]], axis=-1)
    points[..., 2] -= points[..., 2].min()  # feet on the floor at height 0
    return points


class _Scene:
    """The artists of one 3-D panel; `show(frame)` moves the figure, the camera, the grid and the trail."""

    def __init__(self, ax, points_TJ3: np.ndarray, style: dict) -> None:
        from mpl_toolkits.mplot3d.art3d import Line3DCollection

        self.ax = ax
        self.points = points_TJ3
        self.root_T3 = points_TJ3[:, style["root_joint"]]
        ax.set_axis_off()
        ax.view_init(elev=style["elevation"], azim=style["azimuth"])
        ax.set_box_aspect((1, 1, 1), zoom=1.3)
        self.grid = Line3DCollection([], colors="#b0b0b0", linewidths=0.6)
        ax.add_collection3d(self.grid, autolim=False)
        (self.path,) = ax.plot([], [], [], color="#9467bd", alpha=0.25, linewidth=1)
        (self.trail,) = ax.plot([], [], [], color="#9467bd", linewidth=1.6)
        self.limbs = [
            (list(chain), ax.plot([], [], [], color=colors, linewidth=3, solid_capstyle="round")[0])
            for chain, colors in zip(style["chains"], itertools.cycle(style["colors"]))
        ]
        self.head_joint = style["head_joint"]
        (self.head,) = ax.plot([], [], [], "o", color=style["colors"][2 % len(style["colors"])], markersize=7)

    def show(self, frame: int) -> None:
        pose = self.points[frame]
        for chain, line in self.limbs:
            line.set_data_3d(pose[chain, 0], pose[chain, 1], pose[chain, 2])
        if self.head_joint is not None and pose.shape[0] > self.head_joint:
            self.head.set_data_3d(*pose[self.head_joint : self.head_joint + 1].T)
        cx, cy = self.root_T3[frame, :2]
        r = VIEW_RADIUS_M
        # mplot3d does not clip to the axes box, so the root's path is cut to the visible square by hand.
        f = FLOOR_RADIUS_M
        inside = (np.abs(self.root_T3[:, 0] - cx) <= f) & (np.abs(self.root_T3[:, 1] - cy) <= f)
        path_T3 = np.where(inside[:, None], self.root_T3, np.nan)
        path_T3[:, 2] = 0.0
        self.path.set_data_3d(*path_T3.T)
        self.trail.set_data_3d(*path_T3[: frame + 1].T)
        self.ax.set_xlim(cx - r, cx + r)
        self.ax.set_ylim(cy - r, cy + r)
        self.ax.set_zlim(-0.15, 2 * r - 0.15)
        self.grid.set_segments(_grid_segments(cx - f, cx + f, cy - f, cy + f))


def _grid_segments(x0: float, x1: float, y0: float, y1: float) -> list[np.ndarray]:
    """Floor lines at fixed world positions inside the visible square, so the floor scrolls as the root moves."""
    segments = []
    for x in np.arange(np.ceil(x0 / GRID_STEP_M), np.floor(x1 / GRID_STEP_M) + 1) * GRID_STEP_M:
        segments.append(np.array([[x, y0, 0.0], [x, y1, 0.0]]))
    for y in np.arange(np.ceil(y0 / GRID_STEP_M), np.floor(y1 / GRID_STEP_M) + 1) * GRID_STEP_M:
        segments.append(np.array([[x0, y, 0.0], [x1, y, 0.0]]))
    return segments


def _figure(width_px: int, height_px: int):
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    dpi = 100
    figure = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    FigureCanvasAgg(figure)  # Agg without touching pyplot's global backend
    return figure


def _render_gif(points_TJ3: np.ndarray, out_path: Path, fps: float, title: str, size_px: int, style: dict) -> None:
    from PIL import Image

    figure = _figure(size_px, size_px)
    ax = figure.add_axes((0, 0, 1, 0.94 if title else 1), projection="3d")
    scene = _Scene(ax, points_TJ3, style)
    if title:
        figure.text(0.5, 0.97, title, ha="center", va="center", fontsize=9)
    clock = figure.text(0.02, 0.02, "", fontsize=8, color="#555555")

    def draw(frame: int) -> np.ndarray:
        scene.show(frame)
        # The clock also keeps every frame distinct: Pillow merges identical consecutive GIF frames.
        clock.set_text(f"{frame / fps:5.2f} s  #{frame}")
        figure.canvas.draw()
        return np.asarray(figure.canvas.buffer_rgba())[..., :3]

    # One palette for the whole clip, from a few sampled frames, so colours do not flicker; frames are quantised as
    # they are drawn (1 byte per pixel kept), which keeps long clips in memory.
    samples = np.linspace(0, len(points_TJ3) - 1, min(len(points_TJ3), 6)).round().astype(int)
    palette = Image.fromarray(np.concatenate([draw(int(f)) for f in samples], axis=0)).quantize(
        colors=64, method=Image.Quantize.MEDIANCUT)
    images = [Image.fromarray(draw(frame)).quantize(palette=palette, dither=Image.Dither.NONE)
              for frame in range(len(points_TJ3))]
    images[0].save(out_path, save_all=True, append_images=images[1:], duration=1000.0 / fps, loop=0,
                   disposal=1, optimize=False)


def _render_filmstrip(points_TJ3: np.ndarray, out_path: Path, fps: float, title: str, size_px: int, count: int,
                      style: dict) -> None:
    count = max(1, min(count, len(points_TJ3)))
    picks = np.linspace(0, len(points_TJ3) - 1, count).round().astype(int)
    panel_w = int(size_px * 0.75)
    figure = _figure(panel_w * count, size_px)
    top = 0.92 if title else 0.97
    for i, frame in enumerate(picks):
        ax = figure.add_axes((i / count, 0.06, 1 / count, top - 0.06), projection="3d")
        _Scene(ax, points_TJ3, style).show(int(frame))
        figure.text((i + 0.5) / count, 0.03, f"{frame / fps:.2f} s", ha="center", fontsize=8, color="#555555")
    if title:
        figure.text(0.5, 0.96, title, ha="center", va="center", fontsize=10)
    figure.savefig(out_path, facecolor="white")


# ----------------------------------------------------------------------------------------------------------------------
# Reading clips


def load_clip_joints(
    path: str | Path,
    *,
    mean: str | Path | None = None,
    std: str | Path | None = None,
    normalized: bool | None = None,
) -> tuple[np.ndarray, float]:
    """(joints (T, 22, 3) metres Y-up, fps) from a .npy file (joints (T, 22, 3) or (T, 66), or 263-d features) or
    an .npz motion (as `moscale generate` writes it, or AMASS).

    Features may be raw or normalised: with Mean/Std (given, or Mean.npy/Std.npy beside the file or one folder up, as in
    HumanML3D's layout) normalised input is detected and denormalised; `normalized=True/False` overrides the guess.
    For .bvh files use `load_bvh_joints`."""
    path = limits.check_motion_file(path)  # what the path is, and the array headers, before loading
    if path.suffix.lower() == ".npz":  # a motion file (ours or AMASS): its joints, at its own frame rate
        from moscale.motion.clip import Motion

        motion = Motion.load(path)
        return motion.joints.astype(np.float64), motion.fps
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise ValueError(f"{path}: not a readable .npy file ({error})") from error
    if not isinstance(array, np.ndarray):
        raise ValueError(f"{path}: not a single array; preview reads .npy joints or features, .npz or .bvh motions")
    if array.ndim == 3 and array.shape[1:] == (NUM_JOINTS, 3):
        return array.astype(np.float64), FPS
    if array.ndim == 2 and array.shape[1] == NUM_JOINTS * 3:
        return array.reshape(len(array), NUM_JOINTS, 3).astype(np.float64), FPS
    if array.ndim == 2 and array.shape[1] == FEATURE_DIM:
        return _features_joints(array.astype(np.float32), path, mean, std, normalized), FPS
    raise ValueError(f"{path}: shape {array.shape}; expected joints (T, 22, 3) / (T, 66) or features (T, 263)")


def _features_joints(features_TD, path: Path, mean, std, normalized: bool | None) -> np.ndarray:
    from moscale.motion.features import features_to_joints

    stats = _find_stats(path, mean, std)
    if normalized is None:
        normalized = stats is not None and looks_normalized(features_TD, *stats)
    if normalized:
        if stats is None:
            raise FileNotFoundError(f"{path}: normalised features need --mean and --std (Mean.npy/Std.npy)")
        features_TD = features_TD * stats[1] + stats[0]
    return np.asarray(features_to_joints(features_TD), dtype=np.float64)


def _find_stats(path: Path, mean, std) -> tuple[np.ndarray, np.ndarray] | None:
    if mean is not None or std is not None:
        if mean is None or std is None:
            raise ValueError("give both --mean and --std")
        return np.load(mean).astype(np.float32), np.load(std).astype(np.float32)
    for folder in (path.parent, path.parent.parent):
        if (folder / "Mean.npy").is_file() and (folder / "Std.npy").is_file():
            return np.load(folder / "Mean.npy").astype(np.float32), np.load(folder / "Std.npy").astype(np.float32)
    return None


def looks_normalized(features_TD: np.ndarray, mean: np.ndarray, std: np.ndarray) -> bool:
    """Guess whether features are already normalised: normalised data has mean square ~1 as it is, while raw data
    has mean square ~1 only after normalising (small-std channels such as velocities blow up otherwise)."""
    as_is = float(np.mean(np.square(features_TD)))
    if_raw = float(np.mean(np.square((features_TD - mean) / std)))
    return abs(np.log(as_is + 1e-12)) < abs(np.log(if_raw + 1e-12))


class BvhPreview(NamedTuple):
    positions: np.ndarray  # (T, J, 3) metres (guessed), Y up
    fps: float
    chains: tuple[tuple[int, ...], ...]
    root_joint: int  # the joint the camera follows
    smpl: bool  # positions are SMPL-22 joints


def load_bvh_joints(
    path: str | Path,
    *,
    rig: str | None = None,
    rig_map: str | Path | None = None,
    own_skeleton: bool = False,
    max_fps: float = 30.0,
) -> BvhPreview:
    """Joint positions of a BVH file for previewing, in the first of these ways that applies:

    1. joints named like SMPL-22 (as `moscale.motion.bvh_convert.smpl_joints_to_bvh` writes): those joints, at the file's rate;
    2. a rig `moscale.motion.sources` knows (`rig` names a built-in map, `rig_map` is a JSON map, else auto-detected): the
       SMPL-22 joints the corpus builder would take from it, at 20 fps (leading T-pose kept, floor at 0);
    3. otherwise, or with `own_skeleton=True`, the file's own skeleton bone by bone (a top joint with a single
       child, like Bandai-Namco's floor-level `joint_Root`, is left out and the camera follows its child); the unit
       is guessed from the figure's height and frames are thinned to at most `max_fps` (GIF players cap the rate).
    The file is taken as Y up except where a rig map says otherwise."""
    from moscale.motion.bvh import bvh_to_positions, read_bvh
    from moscale.motion.skeleton import JOINT_NAMES

    clip = read_bvh(path)
    names = clip.skeleton.names
    if not own_skeleton:
        if set(JOINT_NAMES) <= set(names):
            positions = bvh_to_positions(clip, joint_names=list(JOINT_NAMES))
            return BvhPreview(_thin(positions, clip.fps, max_fps), clip.fps / _step(clip.fps, max_fps),
                              KINEMATIC_CHAINS, 0, True)
        from moscale.motion import sources

        try:
            chosen = sources.resolve_rig(rig, rig_map, names)
        except sources.RigError:
            if rig is not None or rig_map is not None:
                raise
        else:
            joints, info = sources.clip_to_smpl(clip, chosen, source=str(path), trim_tpose=False)
            return BvhPreview(joints.astype(np.float64), info.fps, KINEMATIC_CHAINS, 0, True)
    positions = bvh_to_positions(clip)
    parents = clip.skeleton.parents
    chains = chains_from_parents(parents)
    root = top = parents.index(-1)
    below = [j for j, p in enumerate(parents) if p == top]
    if len(below) == 1:
        root = below[0]
        chains = tuple(c[1:] if c[0] == top else c for c in chains)
        chains = tuple(c for c in chains if len(c) > 1)
    positions = _thin(positions, clip.fps, max_fps) * _unit_guess(positions)
    return BvhPreview(positions, clip.fps / _step(clip.fps, max_fps), chains, root, False)


def _step(fps: float, max_fps: float) -> int:
    return max(1, int(math.ceil(fps / max_fps - 1e-6)))


def _thin(positions_TJ3: np.ndarray, fps: float, max_fps: float) -> np.ndarray:
    return positions_TJ3[:: _step(fps, max_fps)]


def _unit_guess(positions_TJ3: np.ndarray) -> float:
    """Metres per file unit, assuming a standing adult about 1.7 m tall; 1 when the file already looks like metres."""
    height = float(np.percentile(np.ptp(positions_TJ3[..., 1], axis=1), 90))
    if 1.0 <= height <= 2.5 or height <= 0:
        return 1.0
    return 1.7 / height


def chains_from_parents(parents: Sequence[int]) -> tuple[tuple[int, ...], ...]:
    """Split a hierarchy into chains: each starts at a root or a branching joint and runs down while joints have
    exactly one child."""
    children: dict[int, list[int]] = {}
    for joint, parent in enumerate(parents):
        children.setdefault(parent, []).append(joint)
    chains = []
    for joint, parent in enumerate(parents):
        starts_chain = parent >= 0 and (parents[parent] < 0 or len(children[parent]) > 1)
        if not starts_chain:
            continue
        chain = [parent, joint]
        while len(children.get(chain[-1], [])) == 1:
            chain.append(children[chain[-1]][0])
        chains.append(tuple(chain))
    return tuple(chains)


# ----------------------------------------------------------------------------------------------------------------------
# edits


def edit_figure(reference_TJ3: np.ndarray, edited_TJ3: np.ndarray, start: int, end: int, path: str | Path,
                fps: float = 20, title: str = "") -> Path:
    """A PNG of a source and its edit on the edit's timeline: the root path from above, joint heights, root X/Z and the
    mean joint speed over time, the edited range shaded. `reference` has NaN on frames it lacks (new frames)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    reference, edited = np.asarray(reference_TJ3, np.float64), np.asarray(edited_TJ3, np.float64)
    seconds = np.arange(len(edited)) / fps
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), dpi=100)
    top, heights, root, speed = axes.ravel()
    top.plot(reference[:, 0, 0], reference[:, 0, 2], "--", color="0.55", label="source")
    top.plot(edited[:, 0, 0], edited[:, 0, 2], color="#1f77b4", lw=1, label="edit")
    top.plot(edited[start:end, 0, 0], edited[start:end, 0, 2], color="#d62728", lw=2, label="edited range")
    top.set(xlabel="x (m)", ylabel="z (m)", title="root path, from above", aspect="equal")
    top.legend(fontsize=8)
    for joint, name, color in ((15, "head", "#404040"), (20, "left wrist", "#17becf"), (21, "right wrist", "#ff7f0e"),
                               (10, "left foot", "#1f77b4"), (11, "right foot", "#d62728")):
        heights.plot(seconds, reference[:, joint, 1], "--", color=color, alpha=0.5)
        heights.plot(seconds, edited[:, joint, 1], color=color, label=name)
    heights.set(ylabel="height (m)", title="joint heights (dashed: source)")
    heights.legend(fontsize=7, ncol=3)
    for axis, name, color in ((0, "root x", "#2ca02c"), (2, "root z", "#9467bd")):
        root.plot(seconds, reference[:, 0, axis], "--", color=color, alpha=0.5)
        root.plot(seconds, edited[:, 0, axis], color=color, label=name)
    root.set(xlabel="time (s)", ylabel="metres", title="root position")
    root.legend(fontsize=8)
    for joints, style, label in ((reference, "--", "source"), (edited, "-", "edit")):
        velocity = np.linalg.norm(np.diff(joints, axis=0), axis=-1) * fps
        speed.plot(seconds[1:], velocity.mean(1), style, color="0.55" if style == "--" else "#1f77b4", label=label)
    speed.set(xlabel="time (s)", ylabel="m/s", title="mean joint speed")
    speed.legend(fontsize=8)
    for axis in (heights, root, speed):
        axis.axvspan(start / fps, end / fps, color="#d62728", alpha=0.12, lw=0)
    fig.suptitle(title or f"edit of frames {start}-{end}", fontsize=10)
    fig.tight_layout()
    from moscale.utils.atomic import replacing

    path = Path(path)
    with replacing(path) as temporary:
        fig.savefig(temporary, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path
