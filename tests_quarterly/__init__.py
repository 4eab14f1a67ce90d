"""Checks (see opscheck/check.py); the directory gives their primary cadence."""
