"""Runners on top of the session: the pipeline plan, batch, executors, progress, CLI, inspect."""
