"""Secret redaction for everything stored: history rows and log files.

Values of environment variables that look secret (by name, or declared in the workflow's
permissions) are replaced before output reaches the disk. Redaction works on a stream, so a
secret split across two reads is still caught.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

SECRET_NAME = re.compile(
    r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|PRIVATE|AUTH", re.IGNORECASE
)
# Shorter values would redact ordinary words and digits all over the output.
MIN_SECRET_LENGTH = 6
PLACEHOLDER = b"[REDACTED]"


def secret_values(env: Mapping[str, str], declared: Iterable[str] = ()) -> list[str]:
    """The values to hide: secret-looking names in ``env`` plus the ``declared`` names."""
    names = {name for name in env if SECRET_NAME.search(name)} | set(declared)
    values = {env[name] for name in names if name in env and len(env[name]) >= MIN_SECRET_LENGTH}
    return sorted(values, key=len, reverse=True)


class StreamRedactor:
    """Replaces secrets in a byte stream fed in arbitrary chunks."""

    def __init__(self, secrets: Iterable[str]) -> None:
        encoded = sorted({s.encode() for s in secrets if s}, key=len, reverse=True)
        self._pattern = re.compile(b"|".join(re.escape(s) for s in encoded)) if encoded else None
        self._keep = max((len(s) for s in encoded), default=1) - 1
        self._carry = b""

    @property
    def active(self) -> bool:
        return self._pattern is not None

    def feed(self, chunk: bytes) -> bytes:
        if self._pattern is None:
            return chunk
        data = self._pattern.sub(PLACEHOLDER, self._carry + chunk)
        # Hold back a tail that could be the start of a secret completed by the next chunk.
        cut = max(len(data) - self._keep, 0)
        self._carry = data[cut:]
        return data[:cut]

    def flush(self) -> bytes:
        data, self._carry = self._carry, b""
        return self._pattern.sub(PLACEHOLDER, data) if self._pattern is not None else data


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """One-shot redaction of a string (error messages, explanations)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, PLACEHOLDER.decode())
    return text
