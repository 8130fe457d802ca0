"""The rule table behind ``classify.classify_failure``: which wording means which failure class.

Each rule names a class of failure a person would recognise (an HTTP status, an errno, a tool's
usual message), never a fragment of one collected example. Order is priority: when one line
matches several rules, the earliest rule wins, so specific wording (``insufficient_quota``,
``Permission denied (publickey)``) sits above the generic wording it contains (``429``,
``Permission denied``).

How the patterns are written, and why:

* Case-insensitive alternatives are lower case and run against an ASCII-lowered copy of the
  output. Lowering only ASCII keeps every offset equal to the original's.
* Each alternative is compiled on its own and starts with a literal (no leading ``\\b``, class
  or alternation): the regex engine then finds candidates with a fast substring search instead
  of trying the pattern at every position, which is 20-50 times quicker on long output.
  A word boundary before a literal is written as a look-behind *after* it (see ``_word``).
* Every quantifier is bounded and nothing crosses a newline, so a match stays on one line and
  a huge line cannot make a pattern backtrack for long.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from workflow_agent.core.types import FailureClass

F = FailureClass


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    failure_class: FailureClass
    patterns: tuple[re.Pattern[str], ...]
    strong: bool  # weak rules decide only when no strong rule matched anywhere
    lowered: bool  # matched against the ASCII-lowered text
    priority: int
    explanation: str | None = None
    suggestion: str | None = None


@dataclass(frozen=True, slots=True)
class _Spec:
    name: str
    failure_class: FailureClass
    alternatives: tuple[str, ...]
    strong: bool = True
    lowered: bool = True
    explanation: str | None = None
    suggestion: str | None = None


def _spec(
    name: str,
    failure_class: FailureClass,
    *alternatives: str,
    weak: bool = False,
    cased: bool = False,
    why: str | None = None,
    fix: str | None = None,
) -> _Spec:
    return _Spec(name, failure_class, alternatives, not weak, not cased, why, fix)


def _word(literal: str) -> str:
    """``literal`` not preceded by a word character, without giving up the literal prefix."""
    return rf"{literal}(?<!\w{literal})\b"


_STATUS_WORDS = ("http", "status", "response", "error", "code", "exception", "returned")


def _status(*codes: str) -> tuple[str, ...]:
    """HTTP status ``codes`` (regexes) in the usual client phrasings, one alternative each.

    "HTTP/1.1 429", "Error code: 429", "Status: 400.", "API Error (529", "Exception 403",
    "returned error: 503", requests' "429 Client Error", and "[429:insufficient_quota]".
    """
    either = "|".join(codes)
    return (
        *(rf"{word}(?:/[\d.]{{1,3}}|[ _]?code)?[^\w\n]{{0,4}}(?:{either})\b" for word in _STATUS_WORDS),
        *(rf"{code} (?:client |server )?(?:error|response)" for code in codes),
        rf"\[(?:{either})[:\]]",
    )


# Shared with the exit-status hint, which says the same when only the status shows the kill.
SIGKILL_EXPLANATION = (
    "The process was killed (SIGKILL) and the output does not say why (the kernel's out-of-memory "
    "killer is one common cause, a kill -9 or a container stop another)."
)
SIGKILL_SUGGESTION = (
    "Check the system log (dmesg or journalctl -k) for an out-of-memory kill before changing the script."
)

_SPECS: tuple[_Spec, ...] = (
    # Billing and quota exhaustion is often served as 429 or RateLimitError, but waiting and
    # retrying never helps, so it must outrank every rate-limit rule below.
    _spec(
        "quota_or_billing",
        F.API_ERROR,
        r"insufficient[_ ]quota",
        r"exceeded your (?:current |monthly )?quota",
        r"check your plan and billing",
        r"billing[_ ](?:hard[_ ]limit|not[_ ]active)",
        r"credit balance (?:is )?too low",
        r"insufficient credit",
        r"insufficient balance",
        r"insufficient funds",
        r"payment required",
        *_status("402"),
        r"额度不足",
        r"余额不足",
        r"欠费",
        why="The service refused the request because the account's quota or credit is used up (billing), "
        "not because requests came too fast.",
        fix="Check the account's plan, billing and usage limits; retrying will not help until that is fixed.",
    ),
    _spec(
        "out_of_memory_text",
        F.OOM,
        r"out of memory",
        r"cannot allocate memory",
        r"could not allocate (?:\d|memory)",
        r"failed to allocate (?:\d|memory)",
        r"unable to allocate (?:[\d.]{1,20} ?[kmgtpe]i?b|array|memory)",
        r"bad_alloc",
        r"memory allocation (?:of \d{1,20} bytes )?failed",
        r"memory exhausted",
        r"memory size of \d{1,20} bytes exhausted",
        r"not enough memory",
        r"not enough free memory",
        r"insufficient memory",
        r"memory limit exceeded",
        r"memory limit reached",
        r"exceeded the memory limit",
        r"exceeded memory limit",
        r"exceeds? (?:the )?memory limit",
        r'oom[-_ ]?kill(?!ed"?[ \t]{0,3}[:=][ \t]{0,3}false)',  # not docker inspect's "OOMKilled": false
        r"无法分配内存",
        r"内存不足",
        r"内存溢出",
        r"nicht genügend (?:haupt)?speicher",
        r"impossible d'allouer de la mémoire",
        r"mémoire insuffisante",
        r"no se puede asignar memoria",
        r"memoria insuficiente",
        r"メモリを確保できません",
        r"メモリ不足",
    ),
    _spec(
        "out_of_memory_names",
        F.OOM,
        r"MemoryError\b",  # also numpy's ArrayMemoryError / _ArrayMemoryError
        r"OutOfMemory",
        _word("OOM"),
        _word("ENOMEM"),
        cased=True,
    ),
    # ENOSPC from inotify is not about disk space at all; it must outrank the ENOSPC rule.
    _spec(
        "inotify_watchers",
        F.OTHER,
        r"limit for number of file watchers",
        r"inotify watch limit",
        r"max_user_watches",
        why="The system ran out of inotify file watchers (a kernel limit), not disk space.",
        fix="Raise fs.inotify.max_user_watches with sysctl, or watch fewer files.",
    ),
    _spec(
        "disk_full",
        F.DISK_FULL,
        r"no space left",
        r"enospc\b",
        r"errno 28\b",
        r"oserror\(28\b",
        r"edquot\b",
        r"disk quota exceeded",
        r"not enough (?:free )?(?:disk|storage) space",
        r"insufficient (?:free )?(?:disk|storage) space",
        r"insufficient storage",
        r"not enough space on (?:the )?(?:disk|device|drive|volume)",
        r"out of (?:disk|storage) space",
        r"disk (?:is )?full\b",
        r"device (?:is )?full\b",
        r"filesystem (?:is )?full\b",
        r"file system (?:is )?full\b",
        r"volume (?:is )?full\b",
        r"partition (?:is )?full\b",
        r"file too large",
        r"efbig\b",
        r"file size limit exceeded",
        r"wrote only \d{1,20} of \d{1,20} bytes",  # tar/dd short write: the device filled up
        r"kein (?:freier )?speicherplatz",
        r"kein platz mehr",
        r"aucun espace disponible",
        r"espace disque insuffisant",
        r"设备上没有空间",
        r"磁盘空间不足",
        r"磁盘已满",
        r"no queda espacio",
        r"空き領域がありません",
    ),
    _spec(
        "rate_limit",
        F.RATE_LIMIT,
        r"rate[ _-]?limit",
        r"ratelimit",
        r"rate exceeded",
        r"throttl",
        r"too many requests",
        r"toomanyrequests",
        r"too many (?:api )?calls",
        r"too many 429",
        r"reduce your request rate",
        r"\(slowdown\)",
        r"request ?limit ?exceeded",
        r"quota exceeded",
        r"resource[_ ]exhausted",
        r"resourceexhausted",
        r"resource has been exhausted",
        r"abuse detection",
        *_status("429"),
        r"请求过于频繁",
        r"请求太频繁",
        r"频率限制",
        r"限流",
        r"zu viele anfragen",
        r"trop de requêtes",
        r"demasiadas solicitudes",
    ),
    _spec(
        "ssh_auth",
        F.AUTH,
        r"permission denied \((?:publickey|password|keyboard|gssapi|hostbased)",
        r"permission denied, please try again",
        r"host key verification failed",
        r"too many authentication failures",
        why="The server rejected the SSH login (key or password not accepted).",
        fix="Check that the right SSH key is loaded and authorised on the server, and the user name.",
    ),
    _spec(
        "auth",
        F.AUTH,
        r"authenticat\w{0,5} (?:failed|failure|error|required)",
        r"authentication_error",
        r"authenticationerror",
        r"permission_error",  # API error types: a 403 about the key, not about files
        r"permissiondeniederror",
        r"failed to authenticate",
        r"unable to authenticate",
        r"could not authenticate",
        r"not authenticated",
        r"unauthenticated",
        r"unauthori[sz]ed\b",
        r"not authori[sz]ed to",
        # "invalid token" alone is also Python's tokenizer error, so the kind of token is required.
        *(
            rf"{adjective} (?:api[ _-]?key|credentials?|password|user ?name or password|client[ _-]?secret"
            r"|(?:access|auth|bearer|api|oauth|refresh)[ _-]?token)"
            for adjective in ("bad", "invalid", "incorrect", "wrong", "missing", "expired", "revoked")
        ),
        r"token (?:is )?(?:invalid|not valid)",
        r"invalid_api_key",
        r"invalid_token",
        r"invalid_grant",
        r"invalid_client",
        r"expiredtoken",
        r"token (?:has |is )?expired",
        *(rf"{thing} (?:is|was) (?:incorrect|invalid|wrong)" for thing in ("password", "token", "key")),
        r"credentials (?:have )?expired",
        r"session (?:has )?expired",
        r"password (?:has )?expired",
        r"api key (?:not valid|is invalid|invalid)",
        r"unable to log ?in",
        r"failed to log ?in",
        r"could not log ?in",
        r"log ?in (?:failed|incorrect|required)",
        r"not logged in",
        r"access denied for user",
        r"password authentication failed",
        r"invalidaccesskeyid",
        r"signaturedoesnotmatch",
        r"invalidclienttokenid",
        r"unrecognizedclientexception",
        r"security token included in the request is invalid",
        r"unable to locate credentials",
        r"no credentials (?:found|provided)",
        r"credentials not found",
        r"accessdenied",
        r"pull access denied",
        r"requested access to the resource is denied",
        r"forbidden\b",
        r"could not read username",
        r"terminal prompts disabled",
        r"permission to [^\s:]{1,200} denied to",
        r"no basic auth credentials",
        r"http basic: access denied",
        r"requires authentication",
        r"invalid login",
        r"jwt expired",
        r"jwt malformed",
        _word("e401"),
        *(
            rf"{tool} login\b"
            for tool in ("gh auth", "gcloud auth", "docker", "az", "aws sso", "npm", "heroku")
        ),
        *_status("401"),
        r"authentifizierung fehlgeschlagen",
        r"anmeldung fehlgeschlagen",
        r"chec de l'authentification",
        r"authentification (?:a )?échoué",
        r"认证失败",
        r"身份验证失败",
        r"鉴权失败",
        r"登录失败",
        r"autenticación fallida",
        r"error de autenticación",
    ),
    # sudo says "command not found" for a script it cannot execute; with a path given, the file
    # is there and the missing execute bit is the usual cause.
    _spec(
        "sudo_not_executable",
        F.PERMISSION,
        r"sudo: [^\s:]{0,200}/[^\s:]{1,200}: command not found",
        why="sudo could not run the script, usually because it is not marked executable.",
        fix="Make the script executable (chmod +x) or run it through its interpreter (sudo bash script.sh).",
    ),
    _spec(
        "permission",
        F.PERMISSION,
        r"permission denied",
        r"eacces\b",
        _word("eperm"),
        r"errno 13\b",
        r"permissionerror",
        r"operation not permitted",
        r"not permitted\b",
        r"access (?:is )?denied",
        r"read-only file system",
        _word("erofs"),
        r"must be (?:run as )?(?:root|superuser|administrator)",
        r"need to be (?:run as )?(?:root|superuser|administrator)",
        r"are you root",
        r"unless you are root",
        r"only root can",
        *(rf"{who} privileges" for who in ("root", "superuser", "administrator", "elevated")),
        r"is not writable",
        r"requires? (?:root|superuser|administrator|admin|elevated) (?:privileges|permissions|rights)",
        r"insufficient (?:privileges|permissions)",
        r"not in the sudoers",
        r"sudo: a (?:terminal|password) is required",
        r"keine berechtigung",
        r"zugriff verweigert",
        r"nicht erlaubt",
        r"permission non accordée",
        r"accès refusé",
        r"opération non permise",
        r"权限不够",
        r"权限被拒绝",
        r"拒绝访问",
        r"没有权限",
        r"permiso denegado",
        r"acceso denegado",
        r"operación no permitida",
        r"許可がありません",
        r"アクセスが拒否されました",
        r"отказано в доступе",
        r"операция не позволена",
    ),
    _spec("syntax_names", F.SYNTAX_ERROR, r"SyntaxError", r"IndentationError", r"TabError", cased=True),
    _spec(
        "syntax",
        F.SYNTAX_ERROR,
        r"syntax error",
        r"invalid syntax",
        r"parse error",
        r"unexpected eof while",
        r"unexpected end of file",
        r"unexpected token",
        r"unterminated (?:string|quoted|char)",
        r"bad substitution",
        # Python gives a syntax error's location as a frame line without ", in <function>".
        r'file "[^"\n]{1,500}", line \d{1,9}[ \t]*$',
    ),
    _spec(
        "missing_dependency",
        F.MISSING_DEPENDENCY,
        r"no module named",
        r"cannot find module",
        r"cannot find package",
        r"module_not_found",
        r"command not found",
        r"sh: (?:\d{1,9}: |line \d{1,9}: )?[^:\n]{1,200}: not found",  # dash: "sh: 1: jq: not found"
        r"is not recognized as an internal or external command",
        r"executable file not found",
        r"which: no [^\s]{1,200} in",
        r"error while loading shared libraries",
        r"cannot open shared object file",
        r"library not loaded",
        r"dll load failed",
        r"bad interpreter: no such file",
        r"env: [^\n]{1,200}: no such file or directory",  # "#!/usr/bin/env python" without python
        r"unable to locate package",
        r"has no installation candidate",
        r"no package [^\s]{1,200} available",
        r"is not in the npm registry",
        r"is not in this registry",
        r"can't locate [^\s]{1,200} in @inc",
        r"cannot load such file",
        r"is not installed",
        r"could not find module",
        r"fatal error: [^\n]{1,200}\.h: no such file",  # a C header: the -dev package is missing
        r"could not find a package configuration file",
        r"package [^\s]{1,200} (?:was )?not found",
        r"failed opening required",
        r"program not found",
        r"executable not found",
        r"befehl nicht gefunden",
        r"kommando nicht gefunden",
        r"commande introuvable",
        r"未找到命令",
        r"找不到命令",
        r"orden no encontrada",
        r"comando no encontrado",
        r"コマンドが見つかりません",
        r"команда не найдена",
    ),
    _spec(
        "missing_dependency_names",
        F.MISSING_DEPENDENCY,
        r"ModuleNotFoundError",
        r"ImportError",
        r"ClassNotFoundException",
        r"NoClassDefFoundError",
        cased=True,
    ),
    # A 5xx is the service failing on its side; 504 says "Timeout" but it is the server's, so
    # this sits above the time-out rules.
    _spec(
        "server_error",
        F.API_ERROR,
        *_status(r"5\d\d"),
        r"internal server error",
        r"bad gateway",
        r"service (?:is )?(?:temporarily )?unavailable",
        r"gateway time-?out",
        r"overloaded",
        r"server_error",
        r"internalservererror",
        r"serviceunavailable",
        _word("api_error"),
        r"the server had an error",
        r"upstream connect error",
        why="The remote service failed on its side (server error or overload).",
        fix="Retry later, with backoff; if it persists, check the service's status page.",
    ),
    # The request itself was wrong for the service: retrying the same request cannot succeed.
    _spec(
        "invalid_request",
        F.API_ERROR,
        r"invalid_request_error",
        r"model_not_found",
        r"context_length_exceeded",
        r"maximum context length",
        r"does not exist or you do not have access",
        why="The service rejected the request itself (bad model name, parameters or size).",
        fix="Check the request's model, parameters and size against the service's documentation.",
    ),
    _spec(
        "timeout",
        F.TIMEOUT,
        r"timed out",
        r"time-?out (?:error|exceeded|expired|reached|occurred)",
        r"timeout of \d{1,9} ?m?s exceeded",
        # "read timeout" and friends, but not a setting such as "read timeout=100".
        *(
            rf"{kind}[ _-]?time-?out\b(?![ \t]{{0,3}}=)"
            for kind in ("read", "connect", "operation", "request", "socket", "idle", "execution", "response")
        ),
        r"deadline[ _]exceeded",
        r"i/o timeout",
        r"timeout was reached",
        r"operation too slow",
        r"took too long",
        r"took longer than",
        r"maximum execution time",
        r"time limit exceeded",
        r"exceeded the time limit",
        r"due to (?:a )?time-?out",
        r"err_timed_out",
        r"err_socket_timeout",
        _word("etimedout"),
        _word("esockettimedout"),
        r"curl: \(28\)",
        r"curl error 28\b",
        r"\[curl\] 28:",
        r"zeitüberschreitung",
        r"délai d'attente",
        r"delai d'attente",
        r"dépassé le délai",
        r"超时",
        r"tiempo de espera agotado",
        r"タイムアウト",
        r"время ожидания",
    ),
    _spec(
        "timeout_names",
        F.TIMEOUT,
        r"Timeout(?<=[a-zA-Z]Timeout)\b",  # ReadTimeout, ConnectTimeout, SocketTimeout...
        r"Timeout(?:Error|Exception|Expired)\b",
        cased=True,
    ),
    _spec(
        "dns",
        F.NETWORK,
        r"could not resolve host",
        r"couldn't resolve host",
        r"could not resolve proxy",
        r"couldn't resolve proxy",
        r"name or service not known",
        r"nodename nor servname",
        r"no address associated with hostname",
        r"name resolution",
        r"nameresolution",
        r"getaddrinfo",
        r"enotfound\b",
        r"eai_again\b",
        r"no such host",
        r"unable to resolve",
        r"failed to resolve",
        r"unknown host",
        r"unknownhost",
        r"无法解析",
        r"name oder (?:der )?dienst (?:ist )?nicht bekannt",
        r"fehler bei der namensauflösung",
        r"nom ou service inconnu",
        r"chec temporaire dans la résolution",
        r"nombre o servicio desconocido",
        r"名前またはサービスが不明です",
        why="The host name could not be resolved to an address (DNS failure or no network).",
        fix="Check the host name and the network or DNS settings, and that the workflow declares network "
        "access.",
    ),
    _spec(
        "tls",
        F.NETWORK,
        r"ssl certificate problem",
        r"certificate[ _]verify[ _]failed",
        r"certificate verification failed",
        r"sslerror\b",
        r"ssl routines",
        r"x509: certificate",
        r"unable to get local issuer certificate",
        r"self[- _]signed[ _]cert",
        r"certificate has expired",
        r"cert_has_expired",
        r"unable_to_verify_leaf_signature",
        r"unable to verify the first certificate",
        r"err_tls_cert",
        r"tls handshake",
        r"handshake failure",
        r"wrong version number",
        r"eof occurred in violation of protocol",
        r"does not match certificate",
        r"ssl_error_",
        r"gnutls_handshake",
        why="The secure (TLS) connection failed because the server's certificate could not be verified.",
        fix="Install the CA certificates (ca-certificates) or the proxy's CA; do not turn verification off.",
    ),
    _spec(
        "network",
        F.NETWORK,
        r"econnrefused\b",
        r"connection refused",
        r"econnreset\b",
        r"connection reset",
        r"econnaborted\b",
        r"connection aborted",
        r"connection closed (?:by|unexpectedly)",
        r"remote end closed connection",
        r"socket hang up",
        r"remotedisconnected",
        r"connection(?:refused|reset|aborted)error",
        r"ehostunreach\b",
        r"enetunreach\b",
        r"enetdown\b",
        r"network is (?:unreachable|down)",
        r"no route to host",
        r"host is unreachable",
        r"failed to connect to",
        r"unable to connect to",
        r"could not connect to",
        r"couldn't connect to",
        r"cannot connect to",
        r"can't connect to",
        r"failed to establish a new connection",
        r"max retries exceeded",
        r"connectionerror",
        r"connecterror",
        r"connectexception",
        r"network ?error",
        r"err_network",
        r"npm err! network",
        r"is the docker daemon running",
        r"connection to [^\n]{1,200}? was refused",
        r"connection_refused",
        r"connection_reset",
        r"err_connection",
        r"err_name_not_resolved",
        r"apiconnectionerror",
        r"remote end hung up unexpectedly",
        r"rpc failed; curl",
        r"连接被拒绝",
        r"拒绝连接",
        r"无法连接",
        r"网络不可达",
        r"没有到主机的路由",
        r"连接被重置",
        r"verbindungsaufbau abgelehnt",
        r"verbindung abgelehnt",
        r"netzwerk ist nicht erreichbar",
        r"connexion refusée",
        r"le réseau n'est pas accessible",
        r"conexión rehusada",
        r"接続を拒否されました",
        r"в соединении отказано",
    ),
    # Weak rules: hints that decide only when nothing more telling appears anywhere.
    _spec("forbidden_status", F.AUTH, *_status("403"), weak=True),
    _spec(
        "client_error",
        F.API_ERROR,
        *_status("400", "404", "405", "409", "410", "413", "415", "422"),
        r"bad request",
        r"unprocessable entity",
        weak=True,
        why="The service rejected the request as invalid.",
        fix="Check the request's URL, parameters and payload against the service's documentation.",
    ),
    _spec(
        "api_error_names",
        F.API_ERROR,
        r"APIError",
        r"APIStatusError",
        r"BadRequestError",
        r"UnprocessableEntityError",
        weak=True,
        cased=True,
    ),
    _spec(
        "pip_no_distribution",
        F.MISSING_DEPENDENCY,
        # pip prints these after failed downloads too, so an earlier network error outranks them.
        r"could not find a version that satisfies",
        r"no matching distribution found",
        weak=True,
    ),
    _spec("unexpected_eof", F.SYNTAX_ERROR, r"unexpected eof", weak=True),
    _spec("unable_to_access", F.NETWORK, r"unable to access '", weak=True),
    _spec("exit_127_text", F.MISSING_DEPENDENCY, r"exit (?:code|status) 127\b", weak=True),
    _spec("exit_126_text", F.PERMISSION, r"exit (?:code|status) 126\b", weak=True),
    _spec(
        "no_such_file",
        F.OTHER,
        r"no such file or directory",
        r"enoent\b",
        r"filenotfounderror",
        r"errno 2\b",
        r"datei oder verzeichnis nicht gefunden",
        r"aucun fichier ou (?:dossier|répertoire) de ce type",
        r"没有那个文件或目录",
        r"no existe el archivo o (?:el )?directorio",
        r"そのようなファイルやディレクトリはありません",
        r"нет такого файла или каталога",
        weak=True,
        why="A file or directory the script uses does not exist.",
        fix="Check the path, and that the step that should create the file ran first.",
    ),
    _spec(
        "killed",
        F.OTHER,
        _word("killed"),
        r"sigkill\b",
        r"exit (?:code|status) -?137\b",
        weak=True,
        why=SIGKILL_EXPLANATION,
        fix=SIGKILL_SUGGESTION,
    ),
    _spec(
        "process_limit",
        F.OTHER,
        r"fork: retry",
        r"cannot fork",
        r"resource temporarily unavailable",
        r"can't start new thread",
        weak=True,
        why="The script could not start another process or thread (a process-count limit was reached).",
        fix="Start fewer processes at once, or raise the workflow's process limit.",
    ),
    _spec(
        "crashed",
        F.OTHER,
        r"segmentation fault",
        r"sigsegv\b",
        r"core dumped",
        r"bus error",
        r"speicherzugriffsfehler",
        r"段错误",
        weak=True,
        why="A program crashed (segmentation fault or abort) instead of reporting an error.",
        fix="Rerun the crashing command alone; update or reinstall it if it keeps crashing.",
    ),
)


def _compile(specs: tuple[_Spec, ...]) -> tuple[Rule, ...]:
    return tuple(
        Rule(
            name=spec.name,
            failure_class=spec.failure_class,
            patterns=tuple(re.compile(alt, re.MULTILINE) for alt in spec.alternatives),
            strong=spec.strong,
            lowered=spec.lowered,
            priority=index,
            explanation=spec.explanation,
            suggestion=spec.suggestion,
        )
        for index, spec in enumerate(specs)
    )


RULES: tuple[Rule, ...] = _compile(_SPECS)
STRONG_RULES: tuple[Rule, ...] = tuple(rule for rule in RULES if rule.strong)
WEAK_RULES: tuple[Rule, ...] = tuple(rule for rule in RULES if not rule.strong)
