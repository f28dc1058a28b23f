"""Use cases: one handler per command, run inside a unit of work, over ports."""
