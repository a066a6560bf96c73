"""Findings at rest: the record schema, the folder store, bugs, triage and each finding's script."""
