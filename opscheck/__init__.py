"""opscheck: operations runbooks as a pytest suite."""

__version__ = "0.1.0"
