"""Rules for the network: uploads and leaks, raw sockets and reverse shells, remote commands,
downloads that are later run, and secrets read by the same script that talks to the network."""

from __future__ import annotations

import re

from . import paths
from .commands import SHELLS
from .context import Cmd, Ctx, handles
from .model import Severity
from .options import parse_opts
from .words import Word, names

_CURL_ARGS = names(
    "-d -F -T -X -H -u -A -e -b -c -K -w -x -m -o -E -r -C -Y -y -z -U -Q --data --data-binary "
    "--data-raw --data-urlencode --data-ascii --form --form-string --upload-file --json --request "
    "--header --user --user-agent --referer --cookie --cookie-jar --config --write-out --proxy "
    "--max-time --output --cert --key --cacert --resolve --retry --connect-timeout --url --limit-rate "
    "--interface --dns-servers --range --continue-at"
)
_CURL_UPLOAD = tuple(
    names(
        "-d -F -T --data --data-binary --data-raw --data-urlencode --data-ascii --form --form-string "
        "--upload-file --json"
    )
)
_WGET_ARGS = names(
    "-O -o -a -P -t -T -w -U -e -i -B --output-document --output-file --directory-prefix --tries "
    "--timeout --user-agent --header --post-data --post-file --body-data --body-file --method --user "
    "--password --limit-rate"
)
_WGET_UPLOAD = ("--post-data", "--post-file", "--body-data", "--body-file")
_SSH_ARGS = names("-b -c -D -E -e -F -I -i -J -L -l -m -O -o -p -Q -R -S -W -w -B")
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)


def egress(ctx: Ctx, cmd: Cmd) -> None:
    """Remember that the script talks to the network; a shell piped into it is a reverse shell."""
    ctx.facts.egress.append(cmd.point)
    if cmd.feed is not None and cmd.feed.kind == "shell":
        ctx.flag(
            "net.reverse-shell",
            Severity.CRITICAL,
            cmd.point,
            cmd.snippet,
            "Pipes a shell into a network connection, giving someone else remote control (a reverse shell).",
        )


def _redirect_downloads(ctx: Ctx, cmd: Cmd) -> None:
    for redirect in cmd.redirects:
        if redirect.op in (">", ">>", ">|") and redirect.target is not None and redirect.target.value:
            ctx.facts.downloads.add(redirect.target.value.rsplit("/", 1)[-1])


def _upload(ctx: Ctx, cmd: Cmd, sources: list[Word]) -> None:
    leaky = [w for w in sources if paths.is_leaky((w.value or w.text).lstrip("@<"))]
    leaky += [w for w in sources if any(paths.is_leaky(m) for m in _PATHS.findall(w.text))]
    feed = cmd.feed
    if leaky or (feed is not None and feed.kind in ("secret", "env")):
        what = leaky[0].text.lstrip("@") if leaky else "secrets"
        ctx.flag(
            "cred.exfiltrate",
            Severity.HIGH,
            cmd.point,
            cmd.snippet,
            f"Sends {what} to another machine, which leaks private data.",
        )
        return
    ctx.flag(
        "net.upload",
        Severity.MEDIUM,
        cmd.point,
        cmd.snippet,
        f"Sends local data to a remote server with {cmd.name}.",
    )


_PATHS = re.compile(r"[~/][\w./-]+")


@handles("curl")
def curl(ctx: Ctx, cmd: Cmd) -> None:
    """``curl``: uploads, and files downloaded for later runs."""
    egress(ctx, cmd)
    opts = parse_opts(cmd.args, _CURL_ARGS)
    sources = [w for name in _CURL_UPLOAD for w in opts.values.get(name, [])]
    method = (opts.value("-X", "--request") or Word([], cmd.point, "")).value or ""
    if sources or (method.upper() in ("POST", "PUT") and cmd.feed is not None):
        _upload(ctx, cmd, sources)
    _redirect_downloads(ctx, cmd)
    output = opts.value("-o", "--output")
    if output is not None and output.value:
        ctx.facts.downloads.add(output.value.rsplit("/", 1)[-1])
    elif opts.has("-O", "--remote-name"):
        for url in opts.positional:
            _remember_url(ctx, url)


def _remember_url(ctx: Ctx, url: Word) -> None:
    value = url.value
    if value:
        name = _URL.sub("", value).split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        if (name and "/" in _URL.sub("", value)) or not _URL.match(value):
            ctx.facts.downloads.add(name)


@handles("wget", "fetch", "aria2c")
def wget(ctx: Ctx, cmd: Cmd) -> None:
    """``wget``/``fetch``: uploads, and files downloaded for later runs."""
    egress(ctx, cmd)
    opts = parse_opts(cmd.args, _WGET_ARGS)
    sources = [w for name in _WGET_UPLOAD for w in opts.values.get(name, [])]
    method = (opts.value("--method") or Word([], cmd.point, "")).value or ""
    if sources or method.upper() in ("POST", "PUT"):
        _upload(ctx, cmd, sources)
    _redirect_downloads(ctx, cmd)
    output = opts.value("-O", "--output-document", "-o")
    if output is not None and output.value and output.value != "-":
        ctx.facts.downloads.add(output.value.rsplit("/", 1)[-1])
    elif output is None:
        for url in opts.positional:
            _remember_url(ctx, url)


def raw_socket(ctx: Ctx, cmd: Cmd, word: Word) -> None:
    """bash's /dev/tcp: a shell wired to it is a reverse shell, anything else a raw connection."""
    egress(ctx, cmd)
    shell_like = cmd.name in SHELLS or cmd.name == "exec" or "sh -i" in cmd.snippet
    ctx.flag(
        "net.reverse-shell" if shell_like else "net.raw-socket",
        Severity.CRITICAL if shell_like else Severity.MEDIUM,
        word.point,
        cmd.snippet,
        "Connects a shell to a network socket, giving someone else remote control (a reverse shell)."
        if shell_like
        else "Opens a raw network connection through /dev/tcp, a trick used to send data out.",
    )


@handles("nc", "ncat", "netcat", "cryptcat", "pwncat")
def netcat(ctx: Ctx, cmd: Cmd) -> None:
    """``nc`` and clones: ``-e`` shells, listeners, and data sent out."""
    egress(ctx, cmd)
    values = cmd.values()
    flags = {v for v in values if v.startswith("-")}
    if flags & {"-e", "-c", "--exec", "--sh-exec", "--lua-exec"} or any(
        v.startswith("-") and not v.startswith("--") and ("e" in v or "c" in v) and len(v) <= 4 for v in flags
    ):
        ctx.flag(
            "net.reverse-shell",
            Severity.CRITICAL,
            cmd.point,
            cmd.snippet,
            "Hands a program (usually a shell) to a network connection: a reverse or bind shell.",
        )
    elif any(v in ("-l", "--listen") or (v.startswith("-") and "l" in v and len(v) <= 5) for v in flags):
        ctx.flag(
            "net.listen",
            Severity.MEDIUM,
            cmd.point,
            cmd.snippet,
            "Listens for incoming network connections, letting other machines send or take data.",
        )
    if any(r.op == "<" for r in cmd.redirects) or (cmd.feed is not None and cmd.feed.kind != "literal"):
        _upload(ctx, cmd, [r.target for r in cmd.redirects if r.op == "<" and r.target is not None])


@handles("socat")
def socat(ctx: Ctx, cmd: Cmd) -> None:
    """``socat``: ``exec:``/``system:`` addresses are shells on a socket."""
    egress(ctx, cmd)
    addresses = [v.lower() for v in cmd.values() if not v.startswith("-")]
    if any(a.startswith(("exec:", "system:")) for a in addresses):
        ctx.flag(
            "net.reverse-shell",
            Severity.CRITICAL,
            cmd.point,
            cmd.snippet,
            "Connects a program (usually a shell) to the network: a reverse or bind shell.",
        )
    elif any("listen" in a for a in addresses):
        ctx.flag("net.listen", Severity.MEDIUM, cmd.point, cmd.snippet, "Listens for network connections.")
    elif any(a.startswith(("file:", "open:", "gopen:")) for a in addresses):
        _upload(ctx, cmd, [w for w in cmd.args if (w.value or "").lower().startswith(("file:", "open:"))])


@handles("openssl")
def openssl(ctx: Ctx, cmd: Cmd) -> None:
    """``openssl s_client`` can carry data out like ``nc``."""
    values = cmd.values()
    if values and values[0] == "s_client":
        egress(ctx, cmd)
        if any(r.op == "<" for r in cmd.redirects) or (cmd.feed is not None and cmd.feed.kind != "literal"):
            _upload(ctx, cmd, [r.target for r in cmd.redirects if r.op == "<" and r.target is not None])


@handles("ssh", "autossh")
def ssh(ctx: Ctx, cmd: Cmd) -> None:
    """``ssh``: remote commands (analysed as shell), proxy commands, reverse tunnels."""
    egress(ctx, cmd)
    opts = parse_opts(cmd.args, _SSH_ARGS)
    for option in opts.values.get("-o", []):
        key, _, val = (option.value or "").replace("=", " ", 1).partition(" ")
        if key.lower() in ("proxycommand", "localcommand", "remotecommand") and val:
            ctx.run("bash", val, option.point)
    if opts.has("-R"):
        ctx.flag(
            "net.tunnel",
            Severity.MEDIUM,
            cmd.point,
            cmd.snippet,
            "Opens a reverse tunnel so another machine can reach into this one.",
        )
    remote = opts.positional[1:]
    if not remote:
        return
    text = " ".join(w.value if w.value is not None else w.text for w in remote)
    ctx.run("bash", text, remote[0].point)
    if cmd.feed is not None and not re.match(r"^\s*(sudo\s+)?(ba|z|da)?sh\b", text):
        _upload(ctx, cmd, [])


@handles("scp", "sftp", "rsync", "rclone")
def remote_copy(ctx: Ctx, cmd: Cmd) -> None:
    """``scp``/``sftp``/``rsync``/``rclone`` to another machine."""
    opts = parse_opts(cmd.args, _SSH_ARGS | frozenset({"--rsync-path", "--rsh", "-P"}))
    positional = [w for w in opts.positional if w.value is not None]
    if len(positional) < 2:
        return
    *sources, dest = positional
    if not re.match(r"^[\w.@-]+:", dest.value or ""):
        return
    egress(ctx, cmd)
    if any(re.match(r"^[\w.@-]+:", w.value or "") for w in sources):
        return  # a download
    _upload(ctx, cmd, sources)


@handles("ftp", "tftp", "telnet", "rlogin", "rsh", "rexec", "rcp", "finger", "smbclient")
def legacy(ctx: Ctx, cmd: Cmd) -> None:
    """Old cleartext protocols used to move data out."""
    egress(ctx, cmd)
    if not cmd.args and cmd.feed is None:
        return
    if cmd.name == "finger" and not any("@" in v for v in cmd.values()):
        return
    ctx.flag(
        "net.legacy",
        Severity.MEDIUM,
        cmd.point,
        cmd.snippet,
        f"Talks to another machine with {cmd.name}, an old unencrypted protocol often used to move data out.",
    )


@handles("whois")
def whois(ctx: Ctx, cmd: Cmd) -> None:
    """``whois`` against a chosen server can carry data out."""
    if any(v in ("-h", "--host", "-p", "--port") for v in cmd.values()):
        legacy(ctx, cmd)


@handles("dig", "nslookup", "host", "drill", "ping", "ping6", "traceroute", "hping3", "ab", "xh", "http")
def probes(ctx: Ctx, cmd: Cmd) -> None:
    """DNS and ping tools fed command output, and load testers posting files."""
    egress(ctx, cmd)
    leak = [w for w in cmd.args if any(p for p in w.parts if getattr(p, "kind", "") == "cmd")]
    if leak and cmd.name in ("dig", "nslookup", "host", "drill", "ping", "ping6", "traceroute"):
        ctx.flag(
            "net.dns-exfiltration",
            Severity.MEDIUM,
            leak[0].point,
            cmd.snippet,
            "Puts the output of a command into a host name, a way to leak data through DNS lookups.",
        )
    values = cmd.values()
    file_opts = {"hping3": ("--file", "-E"), "ab": ("-p", "-u")}.get(cmd.name, ())
    files = [cmd.args[i + 1] for i, v in enumerate(values[:-1]) if v in file_opts]
    files += [w for w in cmd.args if (w.value or "").startswith("@") and cmd.name in ("http", "xh")]
    if files:
        _upload(ctx, cmd, files)


@handles("nmap", "masscan", "zmap", "tcpdump", "tshark", "ettercap", "arpspoof", "bettercap", "responder")
def recon(ctx: Ctx, cmd: Cmd) -> None:
    """Port scanners and packet sniffers."""
    if not cmd.args or all(v in ("--version", "-V", "-h", "--help", "-D") for v in cmd.values()):
        return
    sniff = cmd.name in ("tcpdump", "tshark", "ettercap", "arpspoof", "bettercap", "responder")
    ctx.flag(
        "net.sniff" if sniff else "net.scan",
        Severity.MEDIUM,
        cmd.point,
        cmd.snippet,
        "Captures network traffic, which can include other people's passwords."
        if sniff
        else "Scans other machines for open ports, which networks treat as an attack.",
    )


@handles("code", "lt", "localtunnel", "frpc", "sshuttle")
def tunnels(ctx: Ctx, cmd: Cmd) -> None:
    """Tunnel services that open remote access."""
    values = [v for v in cmd.values() if not v.startswith("-")]
    if cmd.name == "code" and (not values or values[0] != "tunnel"):
        return
    ctx.flag(
        "net.tunnel",
        Severity.MEDIUM,
        cmd.point,
        cmd.snippet,
        "Opens remote access to this machine through a tunnel service.",
    )


_KEYSTORE = {
    "security": ("dump-keychain", "find-generic-password", "find-internet-password", "export"),
    "secret-tool": ("lookup", "search"),
    "gpg": ("--export-secret-keys", "--export-secret-subkeys"),
    "gpg2": ("--export-secret-keys", "--export-secret-subkeys"),
    "keyctl": ("print", "read", "pipe"),
}


@handles(*_KEYSTORE)
def keystores(ctx: Ctx, cmd: Cmd) -> None:
    """Reading keychains, secret services and private keys."""
    if any(v in _KEYSTORE[cmd.name] for v in cmd.values()):
        ctx.facts.secret_reads.append((cmd.point, f"the {cmd.name} secret store", cmd.snippet))
        ctx.flag(
            "cred.read",
            Severity.MEDIUM,
            cmd.point,
            cmd.snippet,
            f"Reads secrets out of a password store or keychain with {cmd.name}.",
        )


@handles("env", "printenv")
def env_dump(ctx: Ctx, cmd: Cmd) -> None:
    """Printing the whole environment (a note: it often holds tokens)."""
    if cmd.args and cmd.name == "env":
        return
    ctx.flag(
        "cred.env-dump",
        Severity.LOW,
        cmd.point,
        cmd.snippet,
        "Prints every environment variable; these often hold API keys and tokens.",
    )


def secrets_and_network(ctx: Ctx) -> None:
    """A script that reads secrets and also sends data out may be leaking them."""
    if not ctx.facts.egress:
        return
    for point, path, snippet in ctx.facts.secret_reads:
        ctx.sink.add(
            "cred.exfiltrate",
            Severity.HIGH,
            point,
            snippet,
            f"Reads {path} and the script also sends data over the network, which could leak it.",
        )
