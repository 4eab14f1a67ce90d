"""Commands run on hosts through testinfra, each bounded in time.

testinfra's `host.run` has no timeout (its SSH backends bound only the connection, 10 s by
default), and `find` over a slow NFS directory or `df` on a hung mount never returns. So
every command runs under coreutils `timeout`, which kills it (KILL 5 s after TERM) after
HOST_COMMAND_TIMEOUT_SECONDS and exits 124 (137 once killed).
"""

from __future__ import annotations

HOST_COMMAND_TIMEOUT_SECONDS = 60
TIMED_OUT = (124, 137)


def bounded(command: str, seconds: float = HOST_COMMAND_TIMEOUT_SECONDS) -> str:
    """`command` (a testinfra format string) run under `timeout`."""
    return f"timeout -k 5 {seconds:g} {command}"


def timed_out(command: str, seconds: float = HOST_COMMAND_TIMEOUT_SECONDS) -> str:
    """The message of a bounded command that `timeout` stopped: "`df` did not finish within 60 s"."""
    return f"`{command.split()[0]}` did not finish within {seconds:g} s"
