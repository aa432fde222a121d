"""The newer corpus sources on tiny fixtures made here: a salsa take whose header lies about its frame rate, a
Rigify-metarig idle BVH, DeepMimic JSON (short loops played again, one-off clips held at their ends), motion .npz
files labelled by their action (in-place cycles, left-out props); every new action with two or more recordings keeps
one out of training; mirror images swap left and right."""
from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from moscale.data.corpus import BuildConfig, assign_splits, build
from moscale.data.discovery import Recording, discover
from moscale.data.recordings import MIN_SECONDS, hold_ends, load_recording, repeat_cycle
from moscale.motion import Motion, bvh
from moscale.motion.kinematics import mirror_joints
from moscale.motion.skeleton import JOINT_INDEX, MIRROR_INDEX
from test_deepmimic import motion_text, row

SMALL = BuildConfig(max_frames=16, stride=12, min_frames=4, compounds=0)
REAL = np.load(__import__("pathlib").Path(__file__).parent / "fixtures" / "humanml3d" / "new_joints" / "012314.npy")

METARIG = """HIERARCHY
ROOT pelvis
{
OFFSET 0 0.9 0
CHANNELS 6 Xposition Yposition Zposition Xrotation Yrotation Zrotation
JOINT spine.001
{ OFFSET 0 0.23 0.01
CHANNELS 3 Xrotation Yrotation Zrotation
JOINT neck
{ OFFSET 0 0.23 -0.03
CHANNELS 3 Xrotation Yrotation Zrotation
JOINT face
{ OFFSET 0 0.18 0
CHANNELS 3 Xrotation Yrotation Zrotation
End Site
{ OFFSET 0 0 0.03 }
}
}
JOINT shoulder.L
{ OFFSET 0 0.23 -0.03
CHANNELS 3 Xrotation Yrotation Zrotation
JOINT upper_arm.L
{ OFFSET 0.16 0 0
CHANNELS 3 Xrotation Yrotation Zrotation
JOINT forearm.L
{ OFFSET 0.25 0 0
CHANNELS 3 Xrotation Yrotation Zrotation
End Site
{ OFFSET 0.22 0 0 }
}
}
}
JOINT shoulder.R
{ OFFSET 0 0.23 -0.03
CHANNELS 3 Xrotation Yrotation Zrotation
JOINT upper_arm.R
{ OFFSET -0.16 0 0
CHANNELS 3 Xrotation Yrotation Zrotation
JOINT forearm.R
{ OFFSET -0.25 0 0
CHANNELS 3 Xrotation Yrotation Zrotation
End Site
{ OFFSET -0.22 0 0 }
}
}
}
}
JOINT thigh.L
{ OFFSET 0.1 0 0
CHANNELS 3 Xrotation Yrotation Zrotation
JOINT shin.L
{ OFFSET 0 -0.42 0
CHANNELS 3 Xrotation Yrotation Zrotation
JOINT foot.L
{ OFFSET 0 -0.41 0
CHANNELS 3 Xrotation Yrotation Zrotation
End Site
{ OFFSET 0 -0.06 0.15 }
}
}
}
JOINT thigh.R
{ OFFSET -0.1 0 0
CHANNELS 3 Xrotation Yrotation Zrotation
JOINT shin.R
{ OFFSET 0 -0.42 0
CHANNELS 3 Xrotation Yrotation Zrotation
JOINT foot.R
{ OFFSET 0 -0.41 0
CHANNELS 3 Xrotation Yrotation Zrotation
End Site
{ OFFSET 0 -0.06 0.15 }
}
}
}
}
MOTION
Frames: {frames}
Frame Time: 0.041667
"""


def metarig_bvh(frames: int) -> str:
    channels = 6 + 3 * 15  # the root and 15 joints
    lines = [" ".join(["0.0", "0.0", f"{0.002 * t:.4f}"] + ["0.0"] * (channels - 3)) for t in range(frames)]
    return METARIG.replace("{frames}", str(frames)) + "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def folders(fixtures_dir, tmp_path_factory):
    spec = importlib.util.spec_from_file_location("make", fixtures_dir / "bvh" / "src_make_fixtures.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    root = tmp_path_factory.mktemp("new_sources")
    for folder, count, extra in (("salsa", 2, 0), ("indian", 1, 30)):
        (root / "dance" / folder).mkdir(parents=True)
        for k in range(count):  # both at a 120 fps header; salsa is really 60
            clip = make.make_clip(make.CMU, scale=100.0, fps=120.0, frames=120 + 12 * k + extra, toe_end_sites=True)
            bvh.write_bvh(root / "dance" / folder / f"{k + 1:02d}.bvh", clip, decimals=5)
    bvh.write_bvh(root / "dance" / "standard.bvh", make.make_clip(make.CMU, scale=100.0, frames=2, toe_end_sites=True))
    (root / "idle" / "acted").mkdir(parents=True)
    for k in range(2):
        (root / "idle" / "acted" / f"00{k}_acted.bvh").write_text(metarig_bvh(60 + 10 * k))
    (root / "deepmimic").mkdir()
    walk = [row(root_pos=(0.05 * t, 0.9, 0.0)) for t in range(13)]  # 0.4 s looping walk along DeepMimic's +X
    (root / "deepmimic" / "humanoid3d_walk.txt").write_text(motion_text(*walk))
    kick = [row(right_hip=[0.92, 0.0, 0.0, -0.38] if 10 < t < 20 else [1.0, 0, 0, 0]) for t in range(31)]
    (root / "deepmimic" / "humanoid3d_kick.txt").write_text(motion_text(*kick, Loop="none"))
    (root / "npz").mkdir()
    cycle = np.concatenate([REAL[:16], REAL[:1]])  # closes on its first pose: a loop
    Motion(cycle, 24.0, metadata={"action": "Walk_Loop"}).save(root / "npz" / "base__Walk_Loop.npz")
    Motion(REAL[:60], 24.0, metadata={"action": "Crawl"}).save(root / "npz" / "animation-human-crawl__Crawl.npz")
    Motion(REAL[1:61], 24.0, metadata={"action": "Crawl"}).save(root / "npz" / "animation-human-crawl-RM__Crawl.npz")
    Motion(REAL[:12], 24.0, metadata={"action": "T-Pose"}).save(root / "npz" / "base__T-Pose.npz")
    return root


def test_discovery_labels_every_new_kind(folders):
    excluded: list[dict] = []
    dance = discover("dance", folders / "dance", SMALL, excluded=excluded)
    assert sorted(r.action for r in dance) == ["indian-dance", "salsa", "salsa"]
    assert {r.fps for r in dance if r.action == "salsa"} == {60.0} and "skeleton file" in excluded[0]["reason"]
    assert all("salsa" in " ".join(r.captions) for r in dance if r.action == "salsa")
    idle = discover("idle", folders / "idle", SMALL)
    assert [r.rig for r in idle] == ["rigify_metarig"] * 2 and all("stand" in " ".join(r.captions) for r in idle)
    mimic = discover("deepmimic", folders / "deepmimic", SMALL)
    assert sorted(r.action for r in mimic) == ["kick", "walk"]
    excluded = []
    npz = discover("npz", folders / "npz", SMALL, excluded=excluded)
    assert sorted(r.action for r in npz) == ["crawl", "crawl", "walk-in-place"]
    assert [e["name"] for e in excluded] == ["base__T-Pose"]
    assert any("in place" in caption for r in npz for caption in r.captions if r.action == "walk-in-place")


def test_loading_uses_true_rates_loops_and_holds(folders):
    salsa = discover("dance", folders / "dance", SMALL)[1]
    joints, info = load_recording(salsa)
    assert info.source_fps == 60.0 and len(joints) == 1 + int((120 - 1) / 60 * 20)  # 2 s, not 1
    idle = discover("idle", folders / "idle", SMALL)[0]
    joints, info = load_recording(idle)
    assert info.rig == "rigify_metarig" and 0.8 < joints[0, 0, 1] < 1.0 and abs(joints[..., 1].min()) < 1e-5
    walk, kick = sorted(discover("deepmimic", folders / "deepmimic", SMALL), key=lambda r: r.action)[::-1]
    joints, _ = load_recording(walk)
    assert len(joints) / 20 >= MIN_SECONDS - 0.05  # 0.4 s played again until long enough
    assert joints[-1, 0, 2] - joints[0, 0, 2] > 0.5  # and it keeps walking forward (+Z) across the repeats
    joints, _ = load_recording(kick)
    assert len(joints) / 20 >= MIN_SECONDS - 0.05


def test_a_cycle_closing_within_a_few_centimetres_is_played_again_and_a_one_off_is_held(tmp_path):
    # Mesh2Motion's jumping jacks (1.3 s) close on 2.2 cm: a loop of jacks, not one jack with its ends held
    for seam_m, looped in ((0.022, True), (0.06, False)):
        cycle = REAL[:27].astype(np.float64).copy()
        cycle[-1] = cycle[0] + np.array([seam_m, 0.0, 0.0])
        path = tmp_path / f"jacks_{seam_m}.npz"
        Motion(cycle.astype(np.float32), 20.0, metadata={"action": "Jumping Jacks"}).save(path)
        joints, _ = load_recording(Recording(path.stem, "npz", str(path), "jumping-jacks", ("a person does jacks.",)))
        assert len(joints) / 20 >= MIN_SECONDS - 0.05
        # played again, the clip's second frame follows its last; held, its first pose stands still first
        assert np.array_equal(joints[0], joints[1]) is not looped


def test_repeat_cycle_continues_and_hold_ends_keeps_the_motion():
    clip = REAL[:20].astype(np.float64)
    long = repeat_cycle(clip, 20.0, min_seconds=3.0)
    assert len(long) >= 60 and np.array_equal(long[:20], clip)
    # the next repetition starts where the last one ended: its first pelvis step is the clip's first step
    step, first = np.linalg.norm((long[20, 0] - long[19, 0])[[0, 2]]), np.linalg.norm((clip[1, 0] - clip[0, 0])[[0, 2]])
    assert abs(step - first) < 1e-6
    held = hold_ends(clip, 20.0, min_seconds=2.0)
    start = (40 - 20) // 2
    assert len(held) == 40 and np.array_equal(held[start:start + 20], clip) and np.array_equal(held[0], clip[0])


def test_new_actions_keep_one_recording_out_of_training():
    recordings = [Recording(f"npz_crawl_{k}", "npz", f"{k}.npz", "crawl", ("a person crawls.",)) for k in range(3)]
    recordings += [Recording("npz_roll", "npz", "r.npz", "roll", ("a person rolls.",))]
    recordings += [Recording(f"bandai_walk_{k}", "bandai", f"{k}.bvh", "walk", ("a person walks.",)) for k in range(3)]
    assign_splits(recordings)
    splits = {r.name: r.split for r in recordings}
    assert sum(splits[f"npz_crawl_{k}"] == "test" for k in range(3)) == 1
    assert splits["npz_roll"] == "train"  # a single recording stays in training
    assert all(splits[f"bandai_walk_{k}"] == "train" for k in range(3))  # the old sources keep their old rule


def test_mirror_swaps_left_and_right():
    mirrored = mirror_joints(REAL)
    left, right = JOINT_INDEX["left_wrist"], JOINT_INDEX["right_wrist"]
    np.testing.assert_allclose(mirrored[:, left, 0], -REAL[:, right, 0])
    np.testing.assert_allclose(mirror_joints(mirrored), REAL)


def test_a_corpus_builds_from_every_new_kind(folders, tmp_path):
    sources = [(kind, folders / kind) for kind in ("dance", "idle", "deepmimic", "npz")]
    summary = build(sources, tmp_path / "corpus", workers=1, config=SMALL, progress=False)
    assert set(summary["per_source"]) == {"dance", "idle", "deepmimic", "npz"}
    assert sorted(e["name"] for e in summary["excluded"]) == ["base__T-Pose", "standard"]
    texts = list((tmp_path / "corpus" / "texts").glob("*.txt"))
    assert texts and all(path.read_text().strip() for path in texts)
    manifest = json.loads((tmp_path / "corpus" / "manifest.json").read_text())
    assert all(entry["windows"] and not entry["error"] for entry in manifest), [e["error"] for e in manifest]


def test_training_takes_get_mirror_images_and_speed_variants(folders, tmp_path):
    build([("dance", folders / "dance")], tmp_path / "corpus", workers=1, config=SMALL, progress=False)
    root = tmp_path / "corpus"
    split = {name: part for part in ("train", "val", "test") for name in (root / f"{part}.txt").read_text().split()}
    mirrored = [name for name in split if name.endswith("_mirror")]
    faster = [name for name in split if "_x115_" in name]
    assert mirrored and faster and all(split[name] == "train" for name in mirrored + faster)
    test_recordings = {name.rsplit("_w", 1)[0] for name, part in split.items() if part == "test"}
    assert test_recordings and not any(name.startswith(tuple(test_recordings)) and split[name] == "train"
                                       for name in split)  # a held-out take gives no variant to training
    original = np.load(root / "new_joints" / f"{mirrored[0].removesuffix('_mirror')}.npy")
    mirror = np.load(root / "new_joints" / f"{mirrored[0]}.npy")
    # heights follow the swapped joints: the mirror's left wrist is as high as the original's right wrist
    np.testing.assert_allclose(mirror[:, list(MIRROR_INDEX), 1], original[..., 1], atol=0.01)  # up to the refit
    slower = [name for name in split if "_x85_" in name]
    assert slower and len(np.load(root / "new_joints" / f"{slower[0]}.npy")) >= 1


def test_compounds_are_made_from_unmirrored_windows_only(tmp_path):
    from moscale.data.compound import bandai_windows

    root = tmp_path / "corpus"
    root.mkdir()
    manifest = [{"name": "bandai2_wave-right-hand_happy_001", "source": "bandai", "action": "wave-right-hand",
                 "error": None, "windows": ["bandai2_wave-right-hand_happy_001_w00",
                                            "bandai2_wave-right-hand_happy_001_w00_mirror"]}]
    (root / "manifest.json").write_text(json.dumps(manifest))
    (root / "train.txt").write_text("bandai2_wave-right-hand_happy_001_w00\nbandai2_wave-right-hand_happy_001_w00_mirror\n")
    assert [w.name for w in bandai_windows(root, "train")] == ["bandai2_wave-right-hand_happy_001_w00"]


def test_convert_reads_a_rigify_metarig_bvh(tmp_path):
    from moscale.cli import main as cli_main

    source = tmp_path / "idle.bvh"
    source.write_text(metarig_bvh(40))
    assert cli_main(["convert", str(source), "-o", str(tmp_path / "idle.npz")]) == 0
    motion = Motion.load(tmp_path / "idle.npz")
    assert motion.num_frames == 40 and abs(motion.fps - 24) < 1e-3  # the file's own frames and rate
    assert 0.8 < motion.joints[0, 0, 1] - motion.joints[0, :, 1].min() < 1.0  # the pelvis stands at hip height
