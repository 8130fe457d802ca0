"""``python -m workflow_agent.eval``."""

from __future__ import annotations

import sys

from workflow_agent.eval.cli import main

if __name__ == "__main__":
    sys.exit(main())
