import signal

from opscheck.cli import main

# `python -m opscheck trace | head` should end quietly, as other CLIs do.
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
raise SystemExit(main())
