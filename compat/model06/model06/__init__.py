"""A slope-through-the-origin model, packaged for ML2P 0.6."""
