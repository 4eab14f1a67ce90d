"""Readers of live systems: the only modules that do I/O."""
