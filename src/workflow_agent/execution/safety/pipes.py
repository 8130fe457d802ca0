"""What each stage of a pipeline hands to the next: downloaded bytes, a shell's output, text
that echo prints, or what a decoder (base64, xxd, rev, rot13) turns literal text into."""

from __future__ import annotations

from . import paths
from .commands import DECODERS, FETCHERS, FILTERS, SHELLS, SOCKETS
from .context import Cmd, Output
from .obfuscation import decode
from .options import unwrap
from .words import decode_c_escapes


def stage_output(cmd: Cmd) -> Output:
    """What a pipeline stage writes to the next one."""
    while True:
        wrapped = unwrap(cmd) if cmd.name else None
        if wrapped is None or not wrapped.inner:
            break
        cmd = cmd.inner(wrapped.inner, cmd.name)
    name = cmd.name
    feed = cmd.feed or Output("unknown")
    values = [w.value for w in cmd.args]
    if name in FETCHERS:
        return Output("network")
    if name in SHELLS:
        return Output("shell")
    if name in SOCKETS and (name != "openssl" or "s_client" in values):
        return Output("socket")
    if name in ("env", "printenv") or (name in ("set", "export", "declare") and len(values) <= 1):
        return Output("env")
    if any(v and paths.is_leaky(v.lstrip("@")) for v in values):
        return Output("secret")
    if name in ("echo", "printf"):
        return _echo_output(cmd)
    if name in DECODERS and (name != "tr" or _rot13(values)):
        return _decode(name, values, feed)
    if name in FILTERS:
        keep = feed.kind != "literal" or (name in ("cat", "tee") and not [v for v in values if v != "-"])
        return feed if keep else Output("unknown", obfuscated=feed.obfuscated)
    return Output("unknown")


def _rot13(values: list[str | None]) -> bool:
    return any(v is not None and "n-z" in v.lower() for v in values)


def _echo_output(cmd: Cmd) -> Output:
    words = cmd.args
    escapes = cmd.name == "printf"
    while words and words[0].value in ("-e", "-n", "-ne", "-en", "-E"):
        escapes = escapes or "e" in (words[0].value or "")[1:]
        words = words[1:]
    values = [w.value for w in words]
    if any(v is None for v in values):
        return Output("unknown")
    text = " ".join(v for v in values if v is not None)
    spelled = sum(w.encoded for w in words)
    if escapes:
        text, count = decode_c_escapes(text)
        spelled += count
    return Output("literal", text, obfuscated=spelled >= 2)


def _decode(name: str, values: list[str | None], feed: Output) -> Output:
    decoding = name in ("rev", "uudecode", "gunzip", "zcat", "unxz", "bunzip2", "tr") or any(
        v in ("-d", "--decode", "-D", "-r", "-rp", "-pr") or (v or "").startswith("-d") for v in values
    )
    if not decoding:
        return Output("unknown") if feed.kind == "literal" else feed
    text = None
    if feed.kind == "literal" and feed.text is not None:
        text = decode(name, values, feed.text)
    kind = "literal" if text is not None else ("network" if feed.kind == "network" else "decoded")
    return Output(kind, text, obfuscated=True)
