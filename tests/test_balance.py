"""Action-balanced sampling for the generator's training (moscale.data.balance, `moscale train generator --balance`)."""
import json

import numpy as np
import pytest

from moscale.data import balance


def test_a_window_teaches_its_recordings_action_or_a_walk_variant_of_its_own():
    assert balance.window_group("push-up", "npz_pushup", "npz_pushup_w00_mirror") == "push-up"
    assert balance.window_group("push-up", "npz_pushup", "npz_pushup_x115_w00") == "push-up"  # a new action's pace
    assert balance.window_group("walk", "bandai1_walk_a", "bandai1_walk_a_x140_w01") == "walk x140"  # a quick walk
    assert balance.window_group("walk", "bandai1_walk_a", "bandai1_walk_a_circle_w00") == "walk circle"
    assert balance.window_group("walk", "bandai1_walk_a", "bandai1_walk_a_w00") == "walk"


def test_rare_actions_are_visited_more_up_to_the_cap():
    groups = ["run"] * 400 + ["wave"] * 100 + ["push-up"] * 4
    repeats = balance.balanced_repeats(groups, power=0.5, cap=8)
    assert repeats[:400].tolist() == [1] * 400
    assert repeats[400:500].tolist() == [2] * 100  # sqrt(400 / 100)
    assert repeats[500:].tolist() == [8] * 4  # sqrt(100) = 10, capped
    assert balance.balanced_repeats(groups, power=0.0, cap=8).tolist() == [1] * len(groups)
    assert balance.balanced_repeats(groups, power=1.0, cap=1000)[500:].tolist() == [100] * 4
    with pytest.raises(ValueError, match="within"):
        balance.balanced_repeats(groups, power=2.0, cap=8)
    with pytest.raises(ValueError, match="cap"):
        balance.balanced_repeats(groups, power=0.5, cap=0)


def test_groups_come_from_the_corpus_manifest(tmp_path):
    manifest = [dict(name="cmu_01", source="cmu", action="run", windows=["cmu_01_w00", "cmu_01_w00_mirror"]),
                dict(name="bandai1_walk_a", source="bandai", action="walk",
                     windows=["bandai1_walk_a_w00", "bandai1_walk_a_circle_w00"])]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    names = ["cmu_01_w00_mirror", "bandai1_walk_a_circle_w00", "compound_0001"]
    groups = balance.window_groups(tmp_path, names)
    assert groups == ["run", "walk circle", "source compound"]
    assert "walk circle 1 -> 2" in balance.group_table(groups, np.array([1, 2, 1]))
    with pytest.raises(ValueError, match="manifest.json"):
        balance.window_groups(tmp_path / "elsewhere", names)
