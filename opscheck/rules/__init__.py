"""Pure judgments: objects in, offender rows out; no I/O, no pytest."""
