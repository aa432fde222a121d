"""Evaluation (`moscale eval ...`): tokenizer reconstruction and, later, generation metrics."""
