"""Training scripts (`moscale train ...`); shared pieces in `moscale.train.common`."""
