#!/usr/bin/env bash
# Summarise disk usage of the working directory: totals and the ten biggest entries.
# Parameters (environment): TOP (default 10).
set -euo pipefail

top="${TOP:-10}"
here="$(pwd)"
echo "Disk report for ${here}"

files=$(find . -xdev -type f 2>/dev/null | wc -l)
dirs=$(find . -xdev -mindepth 1 -type d 2>/dev/null | wc -l)
total=$(du -sh . 2>/dev/null | cut -f1)
echo "  ${files} files in ${dirs} folders, ${total} in all"

echo "Biggest ${top} entries:"
# Write the sorted list first: piping straight into head would end sort with SIGPIPE.
report=$(mktemp)
trap 'rm -f "$report"' EXIT
du -sk -- ./* ./.[!.]* 2>/dev/null | sort -rn > "$report" || true
head -n "$top" "$report" | while read -r size path; do
    printf '  %8s KiB  %s\n' "$size" "${path#./}"
done

avail=$(df -Pk . | awk 'NR == 2 {print $4}')
echo "Free space on this filesystem: $((avail / 1024)) MiB"
