"""workflow: a command-line tool that teaches itself your routine jobs."""

__version__ = "0.1.0"
