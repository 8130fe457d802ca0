"""Count log lines by level (ERROR, WARNING, INFO, DEBUG) in the *.log files of a folder.

Parameters (environment): LOG_DIR (default: the working directory).
"""

import os
import re
import sys
from collections import Counter
from pathlib import Path

LEVEL = re.compile(r"\b(CRITICAL|ERROR|WARN(?:ING)?|INFO|DEBUG)\b")


def main() -> int:
    folder = Path(os.environ.get("LOG_DIR", "."))
    if not folder.is_dir():
        print(f"error: {folder} is not a folder", file=sys.stderr)
        return 2
    logs = sorted(folder.glob("*.log"))
    print(f"Scanning {len(logs)} log file(s) in {folder.resolve()}")
    counts: Counter[str] = Counter()
    for path in logs:
        try:
            with path.open(encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    match = LEVEL.search(line)
                    if match:
                        counts[match.group(1).replace("WARNING", "WARN")] += 1
        except OSError as exc:
            print(f"warning: cannot read {path}: {exc}", file=sys.stderr)
    for level in ("CRITICAL", "ERROR", "WARN", "INFO", "DEBUG"):
        print(f"  {level:<8} {counts[level]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
