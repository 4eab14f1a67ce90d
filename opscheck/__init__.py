"""opscheck: operations runbooks as a pytest suite."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("opscheck")  # the installed distribution's, so it is the one pyproject says
except PackageNotFoundError:  # a source tree used without installing it
    __version__ = "0+unknown"
