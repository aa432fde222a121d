"""The built-in SMPL-22 character: an armature (bones named after the joints) with a skinned body, either a capsule
mannequin or, when the user has SMPL / SMPL-H / SMPL-X model files, the real body built through ``smplx``."""
from __future__ import annotations

import bpy
import numpy as np
from moscale.motion import retarget, smpl_rig
from moscale.motion.skeleton import JOINT_NAMES, NUM_JOINTS, PARENTS

SMPL_TAG = "moscale_smpl"
BODY_KEY = "moscale_smpl_body"  # on the rig: {"model_type", "gender", "file", "betas", "lift"} of a real body
REST_KEY = "moscale_smpl_rest"  # on the rig: the body's 22 rest joints in the model frame (flat), for AMASS export
_SIDES = 8  # vertices around each capsule
# Radius (metres) of the body segment parent(j) -> j, by j; the segment moves with the parent's bone.
_SEGMENT_RADIUS = {1: 0.085, 2: 0.085, 3: 0.11, 4: 0.075, 5: 0.075, 6: 0.12, 7: 0.055, 8: 0.055, 9: 0.13, 10: 0.04,
                   11: 0.04, 12: 0.06, 13: 0.07, 14: 0.07, 15: 0.05, 16: 0.055, 17: 0.055, 18: 0.045, 19: 0.045,
                   20: 0.038, 21: 0.038}
# Leaf bones get a capsule along the bone itself: head, hands, toes.
_LEAF_RADIUS = {15: 0.1, 20: 0.04, 21: 0.04, 10: 0.03, 11: 0.03}
_FEET = (7, 8, 10, 11)  # the bones that carry the foot and toe capsules (ankles, toes)


def _capsule(start: np.ndarray, end: np.ndarray, radius: float) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """An 8-sided tube with pointed caps from ``start`` to ``end``: (vertices (2 * 8 + 2, 3), faces)."""
    axis = end - start
    length = max(float(np.linalg.norm(axis)), 1e-6)
    axis = axis / length
    helper = np.array([0.0, 0.0, 1.0]) if abs(axis[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    side = np.cross(axis, helper)
    side /= np.linalg.norm(side)
    up = np.cross(side, axis)
    angles = np.linspace(0.0, 2.0 * np.pi, _SIDES, endpoint=False)
    ring = radius * (np.cos(angles)[:, None] * side + np.sin(angles)[:, None] * up)  # (8, 3)
    cap = min(radius, 0.45 * length) * axis
    vertices = np.concatenate([start + ring, end + ring, [start - cap], [end + cap]])
    faces: list[tuple[int, ...]] = []
    for i in range(_SIDES):
        j = (i + 1) % _SIDES
        faces.append((i, j, _SIDES + j, _SIDES + i))
        faces.append((2 * _SIDES, j, i))
        faces.append((2 * _SIDES + 1, _SIDES + i, _SIDES + j))
    return vertices, faces


def _mannequin(character: smpl_rig.SmplCharacter) -> tuple[np.ndarray, list, dict[str, list[int]]]:
    """Capsules per body segment: (vertices, faces, vertex indices per bone name). The feet and toes lie on the
    floor the rest pose stands on: their capsules' axes are raised to their radius above it (around the toe joint,
    which is on the floor, a capsule hung 3-4 cm below it and the character stood in the floor)."""
    segments = [(PARENTS[j], character.heads[PARENTS[j]], character.heads[j], r) for j, r in _SEGMENT_RADIUS.items()]
    segments += [(j, character.heads[j], character.tails[j], r) for j, r in _LEAF_RADIUS.items()]
    floor = float(character.heads[:, 2].min())

    def on_floor(point: np.ndarray, radius: float) -> np.ndarray:
        return np.array([point[0], point[1], max(float(point[2]), floor + radius)])

    segments = [(owner, on_floor(start, r), on_floor(end, r), r) if owner in _FEET else (owner, start, end, r)
                for owner, start, end, r in segments]
    vertices, faces, groups = [], [], {name: [] for name in JOINT_NAMES}
    for owner, start, end, radius in segments:
        verts, capsule_faces = _capsule(np.asarray(start), np.asarray(end), radius)
        offset = sum(len(v) for v in vertices)
        vertices.append(verts)
        faces += [tuple(offset + i for i in face) for face in capsule_faces]
        groups[JOINT_NAMES[owner]] += list(range(offset, offset + len(verts)))
    return np.concatenate(vertices), faces, groups


def _ensure_object_mode(context: bpy.types.Context) -> None:
    if context.mode != 'OBJECT' and context.view_layer.objects.active is not None:
        bpy.ops.object.mode_set(mode='OBJECT')


def load_body(folder: str, model_type: str, gender: str, betas) -> "BodyMesh":
    """The real body for the scene's settings (``moscale.motion.body_model``); raises ``BodyModelError`` saying what to fix.
    Reads files only: call it before changing the scene, so a failure leaves nothing behind."""
    from moscale.motion import body_model

    path, kind, sex = body_model.find_model_file(folder, model_type, gender)
    model = body_model.load_body_model(path, kind, sex, num_betas=max(10, len(betas)))
    return body_model.body_mesh(model, np.asarray(betas, dtype=np.float64), path, sex)


def body_of(rig: bpy.types.Object) -> tuple[np.ndarray, np.ndarray, str, float] | None:
    """(rest joints (22, 3) in the model frame, betas, gender, lift in metres) of a rig built from a real body, else
    None. The lift raises the body's soles onto the floor its lowest joint stands on."""
    if rig is None or REST_KEY not in rig or BODY_KEY not in rig:
        return None
    info = rig[BODY_KEY]
    rest = np.asarray(list(rig[REST_KEY]), dtype=np.float64).reshape(NUM_JOINTS, 3)
    return rest, np.asarray(list(info["betas"]), dtype=np.float64), str(info["gender"]), float(info["lift"])


def create_smpl_character(context: bpy.types.Context, joints: np.ndarray | None = None,
                          name: str = "SMPL Character", body=None) -> bpy.types.Object:
    """Add the SMPL armature and its body to the active collection; returns the (active, selected) armature.

    With ``body`` (a ``moscale.motion.body_model.BodyMesh``): the real mesh, skinned with the model's weights, and the
    armature on the model's joints for that shape. Otherwise the mannequin; with ``joints`` (T, 22, 3, Y up) its
    rest pose takes that motion's bone lengths and pelvis/chest geometry, so the motion replays exactly; without,
    HumanML3D's standard proportions.
    """
    _ensure_object_mode(context)
    if body is not None:
        rest_joints, body_vertices, lift = body.placed()
        character = smpl_rig.smpl_character(rest_joints_J3=rest_joints)
    else:
        character = smpl_rig.smpl_character(joints)
    collection = context.collection or context.scene.collection

    armature = bpy.data.armatures.new(name)
    armature.display_type = 'OCTAHEDRAL'
    rig = bpy.data.objects.new(name, armature)
    rig[SMPL_TAG] = True
    rig.show_in_front = True
    collection.objects.link(rig)
    for obj in context.view_layer.objects:
        obj.select_set(False)
    context.view_layer.objects.active = rig
    rig.select_set(True)

    bpy.ops.object.mode_set(mode='EDIT')
    edit_bones = []
    for joint, bone_name in enumerate(character.names):
        bone = armature.edit_bones.new(bone_name)
        bone.head = character.heads[joint]
        bone.tail = character.tails[joint]
        bone.align_roll(character.roll_axes[joint])
        if character.parents[joint] >= 0:
            bone.parent = edit_bones[character.parents[joint]]
        edit_bones.append(bone)
    bpy.ops.object.mode_set(mode='OBJECT')
    for pose_bone in rig.pose.bones:
        pose_bone.rotation_mode = 'QUATERNION'

    if body is not None:
        mesh_object = _body_mesh(collection, rig, name, body, body_vertices)
        rig.location.z = lift  # the lowest joint sits on the floor in motions: lift the soles onto it
        rig[BODY_KEY] = {"model_type": body.model_type, "gender": body.gender, "file": str(body.path),
                         "betas": [float(b) for b in body.betas], "lift": lift}
        rig[REST_KEY] = [float(v) for v in np.asarray(body.rest_joints).ravel()]
    else:
        mesh_object = _mannequin_mesh(collection, rig, name, character)
    modifier = mesh_object.modifiers.new("Armature", 'ARMATURE')
    modifier.object = rig
    return rig


def _mannequin_mesh(collection, rig, name: str, character: smpl_rig.SmplCharacter) -> bpy.types.Object:
    vertices, faces, groups = _mannequin(character)
    mesh = bpy.data.meshes.new(f"{name} Mannequin")
    mesh.from_pydata(vertices.tolist(), [], faces)
    mesh.update()
    for polygon in mesh.polygons:
        polygon.use_smooth = False
    body = bpy.data.objects.new(f"{name} Mannequin", mesh)
    collection.objects.link(body)
    body.parent = rig
    for bone_name, indices in groups.items():
        body.vertex_groups.new(name=bone_name).add(indices, 1.0, 'REPLACE')
    return body


def _body_mesh(collection, rig, name: str, body, vertices_V3: np.ndarray) -> bpy.types.Object:
    """The real body: placed vertices (Y up) turned Z up, one vertex group per joint with the model's weights."""
    label = {"smpl": "SMPL", "smplh": "SMPL-H", "smplx": "SMPL-X"}.get(body.model_type, body.model_type)
    mesh = bpy.data.meshes.new(f"{name} {label} {body.gender}")
    mesh.from_pydata(retarget.to_z_up(vertices_V3).tolist(), [], np.asarray(body.faces).tolist())
    mesh.update()
    mesh.shade_smooth()
    obj = bpy.data.objects.new(mesh.name, mesh)
    collection.objects.link(obj)
    obj.parent = rig
    for joint, bone_name in enumerate(JOINT_NAMES):
        group = obj.vertex_groups.new(name=bone_name)
        weights = body.weights[:, joint]
        for vertex in np.flatnonzero(weights > 1e-6):
            group.add([int(vertex)], float(weights[vertex]), 'REPLACE')
    return obj
