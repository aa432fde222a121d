"""The pipeline layer: one object that generates, edits, extends, prepends, in-betweens and runs timelines.

    from moscale.pipeline import MoScalePipeline
    pipe = MoScalePipeline.from_pretrained("assets/model")

It composes the model layer (moscale.model) and the motion layer (moscale.motion) and imports nothing above it.
"""
from moscale.pipeline.release import (default_model_folder, load_generator, read_release_config, save_random_release,
                                      save_release)
from moscale.pipeline.text_to_motion import MAX_SECONDS, MoScalePipeline

__all__ = ["MAX_SECONDS", "MoScalePipeline", "default_model_folder", "load_generator", "read_release_config",
           "save_random_release", "save_release"]
