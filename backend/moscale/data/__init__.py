"""Datasets and the corpus builder (HumanML3D layout)."""
