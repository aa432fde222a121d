"""MoScale: next-scale autoregressive text-to-motion.

Packages by layer, each importing only those below it (docs/architecture.md, kept true by tests/test_layers.py):
`moscale.utils` (atomic files, weights) < `moscale.motion` (the Motion type, skeleton, features, files, rigs) <
`moscale.model` (tokenizer, transformer, text encoder, sampling) < `moscale.pipeline` (MoScalePipeline: generate,
edit, extend, timelines) < `moscale.data` < `moscale.evaluation` < `moscale.train` < `moscale.cli` (the `moscale`
command). Only the command line reaches Blender, through the add-on's headless writer.

    from moscale.pipeline import MoScalePipeline
    from moscale.motion import Motion
"""

__version__ = "0.1.0"
