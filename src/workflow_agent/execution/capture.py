"""Bounded capture of a stream: head and tail in memory, the whole stream in a log file if large.

Memory stays flat whatever a script prints: at most ``head + tail`` bytes are held. Until the
stream outgrows that bound nothing touches the disk; once it does, everything seen so far and
everything after it goes to the log file (complete up to ``log_limit`` bytes).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from workflow_agent.execution.redact import StreamRedactor

TRUNCATION_MARKER = "\n[... {skipped} bytes not shown here; see {where} ...]\n"


@dataclass(frozen=True)
class CapturedOutput:
    text: str
    total_bytes: int
    truncated: bool
    log_path: Path | None


class BoundedCapture:
    def __init__(
        self,
        head: int,
        tail: int,
        log_path: Path | None,
        log_limit: int,
        redactor: StreamRedactor | None = None,
    ) -> None:
        self._redactor = redactor
        self._head_limit = head
        self._tail_limit = tail
        self._head = bytearray()
        self._tail: deque[bytes] = deque()
        self._tail_size = 0
        self._total = 0
        self._log_path = log_path
        self._log_limit = log_limit
        self._log: BinaryIO | None = None
        self._logged = 0
        self._pending = bytearray()  # bytes seen before the log was opened, capped by head + tail

    def feed(self, chunk: bytes) -> None:
        if self._redactor is not None:
            chunk = self._redactor.feed(chunk)
        self._keep(chunk)

    def _keep(self, chunk: bytes) -> None:
        self._total += len(chunk)
        room = self._head_limit - len(self._head)
        if room > 0:
            self._head += chunk[:room]
            rest = chunk[room:]
        else:
            rest = chunk
        if rest:
            self._tail.append(rest)
            self._tail_size += len(rest)
            while self._tail and self._tail_size - len(self._tail[0]) >= self._tail_limit:
                self._tail_size -= len(self._tail.popleft())
        self._to_log(chunk)

    def _to_log(self, chunk: bytes) -> None:
        if self._log_path is None:
            return
        if self._log is None:
            if self._total <= self._head_limit + self._tail_limit:
                self._pending += chunk
                return
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self._log_path.open("wb")
            self._write_log(bytes(self._pending))
            self._pending = bytearray()
        self._write_log(chunk)

    def _write_log(self, data: bytes) -> None:
        assert self._log is not None
        room = self._log_limit - self._logged
        if room <= 0:
            return
        self._log.write(data[:room])
        self._logged += min(room, len(data))
        if self._logged >= self._log_limit:
            self._log.write(b"\n[... log limit reached; the rest was not kept ...]\n")

    def finish(self) -> CapturedOutput:
        if self._redactor is not None:
            self._keep(self._redactor.flush())
        if self._log is not None:
            self._log.close()
        tail = b"".join(self._tail)
        kept = len(self._head) + len(tail)
        truncated = self._total > self._head_limit + self._tail_limit
        if not truncated:
            data = bytes(self._head) + tail
            return CapturedOutput(_decode(data), self._total, False, None)
        tail = tail[-self._tail_limit :] if self._tail_limit else b""
        kept = len(self._head) + len(tail)
        where = str(self._log_path) if self._log is not None else "no log file"
        marker = TRUNCATION_MARKER.format(skipped=self._total - kept, where=where)
        text = _decode(bytes(self._head)) + marker + _decode(tail)
        return CapturedOutput(text, self._total, True, self._log_path if self._log is not None else None)


def _decode(data: bytes) -> str:
    # Scripts print anything; stored text must be valid UTF-8 and never raise.
    return data.decode("utf-8", errors="replace").replace("\x00", "\\0")
