"""The points of a path drawn in the scene (the Generate panel's Path): a curve or a Grease Pencil drawing, in world
space, first point to last. Main thread only.

    points, note = path_points(obj, context.evaluated_depsgraph_get())  # note: "" or what the user should know

A curve with several splines, or a drawing with several strokes, is followed piece after piece in the order they were
drawn: the end of each is joined to the start of the next by a straight line, and `note` says so (the panel shows it
with the take), so that nothing the user drew is dropped without a word.
"""
from __future__ import annotations

import bpy
import numpy as np


def path_points(obj: bpy.types.Object, depsgraph) -> tuple[np.ndarray, str]:
    """((N, 3) world-space points of a path object, first to last, a note for the user): a curve's splines (Bezier:
    sampled at their resolution; poly: their points; NURBS: the evaluated curve), a Grease Pencil object's strokes on
    its active layer at the current frame; several are joined in order. Raises ValueError when there is nothing to
    follow."""
    evaluated = obj.evaluated_get(depsgraph)
    if obj.type == 'GREASEPENCIL':
        pieces, matrix = _stroke_points(evaluated)
        kind = "strokes"
    elif obj.type == 'CURVE' and len(obj.data.splines):
        pieces, matrix = _curve_pieces(evaluated), np.array(evaluated.matrix_world)
        kind = "splines"
    else:
        raise ValueError(f"Path '{obj.name}' is not a curve or Grease Pencil object with a stroke: draw one first.")
    pieces = [piece @ matrix[:3, :3].T + matrix[:3, 3] for piece in pieces if len(piece)]
    note = ""
    if len(pieces) > 1:
        joins = [float(np.linalg.norm(b[0] - a[-1])) for a, b in zip(pieces[:-1], pieces[1:])]
        note = (f"Path '{obj.name}' has {len(pieces)} {kind}: followed one after the other in the order they were "
                f"drawn, the end of each joined to the start of the next by a straight line "
                f"({', '.join(f'{join:.2f}' for join in joins)} m).")
    return np.concatenate(pieces), note


def _curve_pieces(evaluated: bpy.types.Object) -> list[np.ndarray]:
    splines = list(evaluated.data.splines)
    if all(spline.type in ('BEZIER', 'POLY') for spline in splines):
        return [_spline_points(spline) for spline in splines]
    return _drawn_curve(evaluated)  # NURBS: the evaluated curve as Blender draws it


def _spline_points(spline) -> np.ndarray:
    from mathutils.geometry import interpolate_bezier

    if spline.type == 'BEZIER':
        knots = list(spline.bezier_points) + ([spline.bezier_points[0]] if spline.use_cyclic_u else [])
        points = [tuple(knots[0].co)]
        for a, b in zip(knots[:-1], knots[1:]):
            samples = interpolate_bezier(a.co, a.handle_right, b.handle_left, b.co, max(2, spline.resolution_u) + 1)
            points += [tuple(point) for point in samples[1:]]
        return np.array(points, dtype=np.float64)
    points = [tuple(point.co)[:3] for point in spline.points]
    return np.array(points + (points[:1] if spline.use_cyclic_u else []), dtype=np.float64)


def _drawn_curve(evaluated: bpy.types.Object) -> list[np.ndarray]:
    """The evaluated curve's wire, one piece per spline (its vertices come spline after spline, each a chain of
    consecutive vertices; a cyclic one also joins its last to its first)."""
    mesh = evaluated.to_mesh()
    try:
        if len(mesh.polygons):
            raise ValueError(f"Path '{evaluated.name}': a NURBS curve with a bevel or extrusion cannot be followed; "
                             "use a Bezier or poly curve, or remove the bevel.")
        co = np.empty(3 * len(mesh.vertices))
        mesh.vertices.foreach_get("co", co)
        edges = np.empty(2 * len(mesh.edges), dtype=np.int64)
        mesh.edges.foreach_get("vertices", edges)
    finally:
        evaluated.to_mesh_clear()
    points = co.reshape(-1, 3)
    pairs = {tuple(sorted(pair)) for pair in edges.reshape(-1, 2).tolist()}
    pieces, first = [], 0
    while first < len(points):
        last = first
        while (last, last + 1) in pairs:
            last += 1
        chain = points[first:last + 1]
        if last - first > 1 and (first, last) in pairs:
            chain = np.concatenate([chain, chain[:1]])
        if last > first:  # a lone vertex is no line
            pieces.append(chain)
        first = last + 1
    return pieces


def _stroke_points(evaluated: bpy.types.Object) -> tuple[list[np.ndarray], np.ndarray]:
    layers = evaluated.data.layers
    layer = layers.active or (layers[0] if len(layers) else None)
    frame = layer.current_frame() if layer is not None else None
    strokes = frame.drawing.strokes if frame is not None and frame.drawing is not None else ()
    if not len(strokes):
        raise ValueError(f"Path '{evaluated.name}' has no Grease Pencil stroke on its active layer at this frame: "
                         "draw the path first.")
    pieces = [np.array([tuple(point.position) for point in stroke.points], dtype=np.float64) for stroke in strokes]
    return pieces, np.array(evaluated.matrix_world) @ np.array(layer.matrix_local)
