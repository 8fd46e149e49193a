"""Differences between checkpoints of one container: model changes, changed pages, values that moved."""
