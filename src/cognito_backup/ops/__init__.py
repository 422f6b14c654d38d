"""Orchestration: each module runs one capability end to end (backup, restore, capture, ...)."""
