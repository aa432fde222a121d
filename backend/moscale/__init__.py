"""MoScale: next-scale autoregressive text-to-motion.

Public modules: `moscale.skeleton` (SMPL-22 facts), `moscale.features` (263-d codec), `moscale.bvh`,
`moscale.motion`, `moscale.data` (corpus and datasets). Nothing in this package imports bpy.
"""

__version__ = "0.1.0"
