"""Errors opscheck raises on purpose, each with a one-line message meant for an operator."""

from __future__ import annotations


class OpscheckError(Exception):
    """Base class: the message is complete and safe to show (it never carries a secret)."""


class ProfileError(OpscheckError):
    """The environment profile (or a file it names) is unusable: the run cannot start."""


class CatalogError(OpscheckError):
    """A check is declared wrongly (unknown runbook key, bad severity, duplicate id)."""


class DependencyError(OpscheckError):
    """A system a check reads could not be reached or answered wrongly.

    The check's outcome is `error` (could not evaluate), not `failed`.
    """


class RunDeadlineReached(OpscheckError):
    """The run-wide deadline (`--deadline`, profile `run.deadline`) passed before the check finished.

    The check's outcome is `error`: it was not evaluated in the time the run was given.
    """
