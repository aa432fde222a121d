"""A prompt far from the model's training captions: the job keeps the warning, the panel shows it while the job
runs and after it, and the operator reports it; the take is made all the same."""
from __future__ import annotations

from pathlib import Path

import bpy
from moscale.motion import Motion

from blender_helpers import ADDON, draw
from moscale_blender import jobs, panels


def test_job_warnings_reach_the_panel(scene, clip_joints):
    def work(progress, cancel):
        progress(0.0, jobs.WARNING + "'juggles' is far from anything this model was trained on; nearest: 'dances'")
        progress(0.5, "scale 2")
        return [Motion(clip_joints[:40])]

    job = jobs.start_job("generate", work)
    assert job.wait(60)  # the first job of a session imports torch in its thread
    assert jobs.poll_job(job) == jobs.DONE
    assert job.warnings == ["'juggles' is far from anything this model was trained on; nearest: 'dances'"]
    labels = [text for kind, text in draw(panels.MOSCALE_PT_main).log if kind == "label"]
    assert any("'juggles' is far" in text for text in labels)
    second = jobs.start_job("generate", lambda progress, cancel: [])  # a new job clears the old warning
    assert not jobs.last_warnings()
    assert second.wait(60)
    assert jobs.poll_job(second) == jobs.DONE and not jobs.last_warnings()


def test_generate_on_the_bundled_model_warns_and_makes_the_take(scene):
    prefs = bpy.context.preferences.addons[ADDON].preferences
    prefs.model_folder, prefs.device = str(Path(__file__).resolve().parents[2] / "assets" / "model"), "CPU"
    scene.moscale.target, scene.moscale.seconds = 'SMPL', 1.0
    scene.moscale.prompt = "a person juggles three balls"
    try:
        assert bpy.ops.moscale.generate() == {'FINISHED'}
        assert len(scene.moscale.takes) == 1
        assert any("juggles three balls" in warning for warning in jobs.last_warnings())
    finally:
        prefs.model_folder = ""


def test_a_prompt_is_checked_while_typing_and_the_panel_shows_it(scene):
    model = str(Path(__file__).resolve().parents[2] / "assets" / "model")
    jobs.clear_model_cache()
    assert jobs.check_prompt_later(model, "cpu", "a person juggles three balls") is None  # typing loads no model
    jobs.get_pipeline(model, "cpu")
    thread = jobs.check_prompt_later(model, "cpu", "a person juggles three balls")
    assert thread is not None and jobs.check_prompt_later(model, "cpu", "a person juggles three balls") is None
    thread.join(120)
    assert "juggles three balls" in jobs.prompt_warning("a person juggles three balls")
    fine = jobs.check_prompt_later(model, "cpu", "a person walks forward")
    fine.join(120)
    assert jobs.prompt_warning("a person walks forward") == ""  # checked, nothing to say
    flip = jobs.check_prompt_later(model, "cpu", "a person does a backflip")  # trained on, seldom made right
    flip.join(120)
    assert "'does a backflip': this model makes it right only" in jobs.prompt_warning("a person does a backflip")
    scene.moscale.prompt = "a person juggles three balls"
    labels = [text for kind, text in draw(panels.MOSCALE_PT_main).log if kind == "label"]
    assert any("juggles three balls" in text for text in labels)
