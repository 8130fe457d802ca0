"""Undo simple disguises (base64, hex dumps, reversed text, rot13) so hidden commands can be
checked, and spot self-replicating functions (fork bombs)."""

from __future__ import annotations

import base64
import binascii
import codecs
import re

from tree_sitter import Node

from .words import node_text

MAX_DECODED = 100_000  # decoded payloads larger than this are not analysed further


def decode(name: str, values: list[str | None], text: str) -> str | None:
    """Decode ``text`` the way ``name`` with arguments ``values`` would; None when unsure."""
    data = text.strip()
    try:
        if name in ("base64", "basenc"):
            out = base64.b64decode(_pad(data), validate=False)
        elif name == "base32":
            out = base64.b32decode(_pad(data.upper(), 8))
        elif name == "xxd":
            out = binascii.unhexlify(re.sub(r"[^0-9A-Fa-f]", "", data))
        elif name == "rev":
            return "\n".join(line[::-1] for line in text.split("\n"))[:MAX_DECODED]
        elif name == "tr" and any(v and "n-z" in v.lower() for v in values):
            return codecs.decode(text, "rot13")[:MAX_DECODED]
        else:
            return None
    except (ValueError, binascii.Error):
        return None
    return out[:MAX_DECODED].decode("utf-8", "replace")


def _pad(data: str, block: int = 4) -> str:
    data = re.sub(r"\s+", "", data)
    return data + "=" * (-len(data) % block)


def is_fork_bomb(name: str, body: Node) -> bool:
    """A function that calls itself in a pipe or in the background multiplies without end."""
    if not name or (body.text or b"").count(name.encode()) < 1:
        return False
    calls = 0
    spawns = False
    stack = [body]
    while stack:
        node = stack.pop()
        kind = node.type
        if kind == "command_name" and node_text(node) == name:
            calls += 1
        elif kind in {"pipeline", "&"}:
            spawns = True
        stack.extend(node.children)
    return calls >= 1 and spawns and (calls >= 2 or _backgrounded(body))


def _backgrounded(body: Node) -> bool:
    return any(child.type == "&" for child in body.children)
