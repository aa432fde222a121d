"""Edit Range on a rig whose feet are pinned (issue 25): a Mixamo-style rig walks (the bundled model), frames 40-70
are edited ("a person jumps"), and the new take keeps every key outside the range bit for bit while the evaluated
feet meet the kept frames without a jump. Before, the take-wide choices were made on the edited motion (its leg
length, its floor, its plants), so every foot jumped 14-22 cm at the range's ends."""
from __future__ import annotations

import bpy
import numpy as np

from feet_check import mixamo_style_rig
from moscale_blender import keyframes, rig

FIRST, LAST = 40, 70  # scene frames; the take starts at frame 1
FEET = (7, 8, 10, 11)  # ankles and toes


def foot_points(obj, match, take) -> np.ndarray:
    """(frames, 4, 3) evaluated world positions of the ankles and toes over the take."""
    matrix = np.array(obj.matrix_world)
    points = np.stack([rig.evaluated_joints(obj, match, bpy.context.scene, take.frame_start + row)[list(FEET)]
                       for row in range(take.frame_count)])
    return points @ matrix[:3, :3].T + matrix[:3, 3]


def keys_by_channel(action) -> dict[tuple[str, int], np.ndarray]:
    return {(fc.data_path, fc.array_index): keyframes.read_channel(action, fc.data_path, fc.array_index)
            for fc in keyframes.action_fcurves(action)}


def test_an_edited_range_meets_the_kept_keys_of_a_pinned_rig(scene):
    obj = mixamo_style_rig()
    settings = scene.moscale
    settings.prompt, settings.seconds, settings.seed = "a person walks forward", 6.0, 0
    assert bpy.ops.moscale.generate() == {'FINISHED'}  # the bundled model
    source = settings.takes[-1]
    match = rig.match_bones(obj)
    before, source_keys = foot_points(obj, match, source), keys_by_channel(source.action)
    settings.edit_prompt, settings.edit_range = "a person jumps", 'FRAMES'
    settings.edit_start, settings.edit_end = FIRST, LAST
    assert bpy.ops.moscale.edit() == {'FINISHED'}
    edit = settings.takes[-1]
    assert edit.kind == 'EDIT' and obj.animation_data.action == edit.action

    # (i) every key outside the range is the source's, bit for bit
    edit_keys = keys_by_channel(edit.action)
    assert edit_keys.keys() == source_keys.keys()
    for channel, keys in source_keys.items():
        outside = (keys[:, 0] < FIRST) | (keys[:, 0] > LAST)
        new = edit_keys[channel]
        assert np.array_equal(new[(new[:, 0] < FIRST) | (new[:, 0] > LAST)], keys[outside]), channel

    # (ii) at the range's ends the feet move no more than they do around them, nor than a walk's ordinary step
    after = foot_points(obj, match, edit)
    assert not np.allclose(after[FIRST:LAST - 1], before[FIRST:LAST - 1], atol=0.01)  # the edit did change them
    steps = np.linalg.norm(np.diff(after, axis=0), axis=-1)  # (frames - 1, 4): steps[k] from row k to k + 1
    ordinary = np.percentile(np.linalg.norm(np.diff(before, axis=0), axis=-1), 90, axis=0)  # (4,)
    for border in (FIRST - 2, LAST - 1):  # rows (frame - 1): last kept -> first edited, last edited -> first kept
        around = np.maximum(steps[border - 1], steps[border + 1])
        kept = np.linalg.norm(before[border + 1] - before[border], axis=-1)
        print(f"step into frame {border + 2}: {np.round(100 * steps[border], 2)} cm; around it "
              f"{np.round(100 * around, 2)} cm; the source's there {np.round(100 * kept, 2)} cm")
        assert np.all(steps[border] <= around + 0.005), (border, steps[border], around)
        assert np.all(steps[border] <= ordinary), (border, steps[border], ordinary)
