"""MoScale: next-scale autoregressive text-to-motion.

Public modules: `moscale.motion.skeleton` (SMPL-22 facts), `moscale.motion.features` (263-d codec), `moscale.motion.bvh`,
`moscale.motion`, `moscale.data` (corpus and datasets). Nothing in this package imports bpy.
"""

__version__ = "0.1.0"
