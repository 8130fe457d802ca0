"""What a path means to the user: their whole disk, their home, the system, a disk device,
secrets, shell start-up files, logs, or just some project file.

Paths are judged lexically (``..`` resolved, ``~`` kept as the home marker, a trailing glob
meaning "everything in"), because the analysis never touches the filesystem.
"""

from __future__ import annotations

import posixpath
import re
from enum import IntEnum
from functools import lru_cache

from .words import NONEMPTY, names


class Place(IntEnum):
    """Where a path points, ordered from harmless to catastrophic."""

    OTHER = 0
    TEMP = 1
    TOP_LEVEL = 2  # a directory directly under /, such as /data
    PARENT = 3  # climbs out of the working directory (.., ../..)
    MOUNT = 4  # /mnt/x, /media/x: another disk
    HOME_ITEM = 5  # ~/Documents, ~/.ssh: a top-level folder of a home directory
    SYSTEM = 6  # /etc, /usr, /var/log ...
    DEVICE = 7  # /dev/sda: a raw disk
    HOME = 8  # a home directory itself, or all of them
    ROOT = 9  # the whole filesystem


SYSTEM_DIRS = names(
    "bin boot dev etc lib lib32 lib64 libx32 opt proc root sbin srv sys usr var snap run nix System "
    "Library Applications private cores"
)
_TEMP_PREFIXES = ("/tmp", "/var/tmp", "/dev/shm", "/private/tmp", "/var/folders", "/private/var/folders")
_TEMP_DEPTH = {"tmp": 1, "var": 2, "dev": 2, "private": 2}
_HARMLESS_DEV = re.compile(
    r"^/dev/(null|zero|full|u?random|stdin|stdout|stderr|tty\w*|pts(/.*)?|fd/.*|shm(/.*)?|ptmx|console)$"
)
_HOME_TOP_OK = frozenset({".cache", "tmp", ".tmp", "Downloads", ".npm", ".cargo", ".gradle"})
_SPLIT_HOME = re.compile(r"^/(home|Users)/([^/]+)(/.*)?$")

# Files whose contents are secrets: keys, cloud and registry credentials, keyrings, browsers.
_SECRET = re.compile(
    r"(^|/)(\.ssh(/(id_[^/]*|[^/]*\.pem|[^/]*_key|authorized_keys)?|$)|\.aws(/|$)|\.gnupg(/|$)|\.kube/config|"
    r"\.docker/config\.json|\.netrc|\.git-credentials|\.npmrc|\.pypirc|\.pgpass|\.my\.cnf|\.vault-token|"
    r"\.config/(gcloud|gh|hub|doctl)(/|$)|\.azure(/|$)|\.password-store|\.local/share/keyrings|"
    r"Library/Keychains|\.mozilla/firefox|\.config/(google-chrome|chromium|BraveSoftware)|"
    r"Library/Application Support/(Google/Chrome|Firefox)|\.terraform\.d/credentials|"
    r"\.(bash|zsh|sh|python|mysql|psql)_history$|"
    r"etc/(shadow|gshadow|master\.passwd|sudoers)|etc/ssh/ssh_host_[^/]*key)"
)
# Read by anyone, yet worth stealing once it leaves the machine.
_LEAKY = re.compile(r"(^|/)(etc/(passwd|group|hosts)|\.env|[^/]*\.(pem|key|p12|pfx|kdbx))$")
_STARTUP = re.compile(
    r"(^~?/?(\.bashrc|\.bash_profile|\.bash_login|\.profile|\.zshrc|\.zprofile|\.zshenv|\.zlogin|"
    r"\.xinitrc|\.xprofile|\.config/fish/config\.fish|\.ssh/authorized_keys\d?|\.ssh/rc|"
    r"\.config/autostart(/.*)?|Library/LaunchAgents/.*|\.config/systemd/user(/.*)?)$)|"
    r"(^/etc/(profile|bash\.bashrc|zshrc|zsh/.*|profile\.d/.*|rc\.local|cron.*|systemd/system/.*|"
    r"init\.d/.*|ld\.so\.preload|environment)$)|(^/var/spool/cron.*)|(^/Library/Launch(Agents|Daemons)/.*)"
)
# Git runs hooks, and programs its config names (core.fsmonitor, core.hooksPath, aliases), at the
# next git command: outside any sandbox, as whoever types it.
_GIT_EXEC = re.compile(
    r"(^|/)\.git/(hooks(/.*)?|config)$|^~/(\.gitconfig|\.config/git/(config|hooks(/.*)?))$"
)
_ACCOUNTS = re.compile(
    r"^/etc/(passwd|shadow|group|gshadow|sudoers(\.d(/.*)?)?|master\.passwd|pam\.d(/.*)?)$"
)
_LOG = re.compile(r"^(/var/log(/.*)?|/var/(run|log)/(utmp|wtmp|btmp|lastlog)|~/\.\w*_?history)$")


@lru_cache(maxsize=4096)  # rules ask about the same path several times (place, is_log ...)
def normalize(path: str) -> str:
    """Resolve ``.``/``..`` lexically, keep ``~`` as the home marker, drop a trailing slash."""
    if not path:
        return path
    home = path == "~" or path.startswith("~/")
    if home:
        path = "/__HOME__" + path[1:]
    elif path.startswith("~"):
        user, _, rest = path[1:].partition("/")
        path = f"/home/{user}/{rest}"
    absolute = path.startswith("/")
    norm = posixpath.normpath(path)
    if norm.startswith("//"):
        norm = norm[1:]
    if home:
        if norm == "/__HOME__" or norm.startswith("/__HOME__/"):
            return "~" + norm[len("/__HOME__") :]
        return norm  # climbed out of the home directory
    return norm if absolute else norm.lstrip("/") or "."


def _strip_glob(path: str) -> str:
    """``/etc/*`` and ``~/.*`` mean the directory's whole content: judge the directory."""
    while True:
        head, _, tail = path.rpartition("/")
        if head and tail and set(tail) <= set("*.?") and tail not in (".", ".."):
            path = head
        elif not head and path.startswith("/") and tail and set(tail) <= set("*.?"):
            return "/"
        else:
            return path


@lru_cache(maxsize=4096)
def place(path: str, cwd: str | None = None) -> Place:
    """Classify a path (relative paths are joined to a known working directory first)."""
    if not path or path.startswith(NONEMPTY):
        return Place.OTHER
    if not path.startswith(("/", "~")) and cwd is not None and cwd.startswith(("/", "~")):
        path = cwd.rstrip("/") + "/" + path
    full = normalize(path)
    if full.startswith(_TEMP_PREFIXES) and full.count("/") > _TEMP_DEPTH.get(full.split("/")[1], 2):
        return Place.TEMP
    norm = _strip_glob(full)
    if norm in ("/", ""):
        return Place.ROOT if path.startswith("/") else Place.OTHER
    if norm.startswith("~"):
        depth = norm.count("/")
        if depth == 0:
            return Place.HOME
        if depth == 1 and norm[2:] not in _HOME_TOP_OK:
            return Place.HOME_ITEM
        return Place.OTHER
    if not norm.startswith("/"):
        return Place.PARENT if all(part == ".." for part in norm.split("/")) else Place.OTHER
    if norm.startswith(_TEMP_PREFIXES):
        parts = norm.split("/")
        return Place.TOP_LEVEL if len(parts) <= 3 and parts[-1] in ("tmp", "folders", "shm") else Place.TEMP
    if norm.startswith("/dev/"):
        return Place.OTHER if _HARMLESS_DEV.match(norm) or norm.startswith("/dev/tcp") else Place.DEVICE
    match = _SPLIT_HOME.match(norm)
    if norm in ("/home", "/Users", "/root"):
        return Place.HOME
    if match:
        rest = match.group(3)
        if rest is None:
            return Place.HOME
        return Place.HOME_ITEM if rest.count("/") == 1 and rest[1:] not in _HOME_TOP_OK else Place.OTHER
    top, _, rest = norm[1:].partition("/")
    if top in SYSTEM_DIRS:
        return Place.SYSTEM
    if top in ("mnt", "media", "Volumes"):
        return Place.MOUNT if rest.count("/") == 0 else Place.OTHER
    return Place.TOP_LEVEL if not rest else Place.OTHER


# Every _SECRET and _LEAKY match contains one of these inside a single path component, and
# normalising a path only drops or joins whole components: a path without any of them can be
# answered without normalising it (most arguments of a large script take this shortcut).
_MAYBE_SECRET = re.compile(
    r"\.(?:ssh|aws|gnupg|kube|docker|netrc|git-credentials|npmrc|pypirc|pgpass|my|vault|config|azure|"
    r"password|local|mozilla|terraform|env|pem|key|p12|pfx|kdbx|(?:bash|zsh|sh|python|mysql|psql)_history)"
    r"|etc|Library"
)


def _expand_home(path: str) -> str:
    return normalize(path) if path.startswith(("~", "/")) else path


def is_secret(path: str) -> bool:
    """Keys, credentials, keyrings, browser password stores, shell history, /etc/shadow."""
    return bool(_MAYBE_SECRET.search(path)) and bool(_SECRET.search(_expand_home(path)))


def is_leaky(path: str) -> bool:
    """A secret, or a file that is harmless to read but telling once sent elsewhere."""
    if not _MAYBE_SECRET.search(path):
        return False
    norm = _expand_home(path)
    return bool(_SECRET.search(norm) or _LEAKY.search(norm))


def is_startup_file(path: str) -> bool:
    """Files that make code run later: shell rc files, authorized_keys, cron, autostart."""
    return bool(_STARTUP.match(_expand_home(path)))


def is_git_exec(path: str) -> bool:
    """A repository's hooks or config, or the user's git config: git runs what they name."""
    return bool(_GIT_EXEC.search(_expand_home(path)))


def is_account_db(path: str) -> bool:
    """/etc/passwd, shadow, sudoers and friends: editing them grants or removes access."""
    return bool(_ACCOUNTS.match(_expand_home(path)))


def is_log(path: str) -> bool:
    """System logs and shell history."""
    return bool(_LOG.match(_expand_home(path)))


def is_network_device(path: str) -> bool:
    """Bash's /dev/tcp and /dev/udp pseudo-files, which open sockets."""
    return path.startswith(("/dev/tcp/", "/dev/udp/"))
