"""The teach evaluation harness: how often does a taught workflow do the task?

Run it as ``python -m workflow_agent.eval``.

For each task of a JSONL file (id, instruction, setup, check, reference_solution): set up a fresh
directory, teach a workflow from the instruction with the chosen model (unattended), run it there
through the real run flow and sandbox, and let the task's check decide. ``--validate`` checks the
task file itself with no model. The ``oracle`` and ``noop`` models are self-tests of the harness.
"""

from __future__ import annotations

from workflow_agent.eval.cli import main

__all__ = ["main"]
