"""Stage 7: train a compiled model on its data streams (augment, losses, metrics, runner)."""
