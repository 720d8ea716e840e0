"""Training runs: a model trained on a snapshot in the background, its live progress, and its learnability."""
