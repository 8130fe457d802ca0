"""`python -m workflow_agent` runs the CLI."""

from workflow_agent.cli import run

run()
