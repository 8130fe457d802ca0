"""Tests for the deterministic failure classifier.

The corpus (shared/cases/errors.jsonl) measures accuracy on real messages; the examples below are
written from what the usual tools print (curl, wget, git, ssh, pip, npm, docker, aws, python,
node, bash), so the rules are checked on more than the rows they were tuned on.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import FrozenInstanceError
from pathlib import Path
from typing import Any

import pytest

from workflow_agent.cases import CasesMissing, read_cases
from workflow_agent.core.types import FailureClass
from workflow_agent.execution import classify as classify_module
from workflow_agent.execution.classify import (
    EVIDENCE_MAX,
    SCAN_HEAD,
    SCAN_TAIL,
    Diagnosis,
    classify_failure,
)
from workflow_agent.execution.classify_rules import RULES

F = FailureClass
MIN_ACCURACY = 0.90
MIN_CLASS_ROWS = 5


# --- the corpus -----------------------------------------------------------------------------


def load_cases() -> list[dict[str, Any]]:
    try:
        return read_cases("errors")
    except CasesMissing as exc:
        pytest.fail(f"error corpus not found: {exc}", pytrace=False)


def test_missing_corpus_fails_with_a_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKFLOW_CASES_DIR", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match="WORKFLOW_CASES_DIR"):
        load_cases()


def test_corpus_accuracy_overall_and_per_class() -> None:
    cases = load_cases()
    rows: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    misses = []
    for case in cases:
        got = classify_failure(case["text"], exit_code=case["exit_code"]).failure_class
        rows[case["label"]] += 1
        if got.value == case["label"]:
            correct[case["label"]] += 1
        else:
            misses.append(f"{case['label']} -> {got.value}: {case['text'][:80]!r}")
    table = "\n".join(
        f"{label:20} {correct[label]:3}/{rows[label]:3} {correct[label] / rows[label]:6.1%}"
        for label in sorted(rows)
    )
    report = f"{table}\nmisses:\n" + "\n".join(misses)
    assert len(cases) >= 50, report
    assert sum(correct.values()) / len(cases) >= MIN_ACCURACY, report
    for label, count in rows.items():
        if count >= MIN_CLASS_ROWS:
            assert correct[label] / count >= MIN_ACCURACY, f"class {label}\n{report}"


@pytest.mark.parametrize(
    ("expected", "text", "exit_code"),
    [
        (F.RATE_LIMIT, '403 Forbidden {"message": "API rate limit exceeded for 1.2.3.4."}', None),
        (F.RATE_LIMIT, "HTTP/1.1 400 Bad Request\n<Error><Code>Throttling</Code></Error>", None),
        (F.API_ERROR, "RateLimitError: 429 {'code': 'insufficient_quota'}", None),
        (F.OTHER, "worker exited with exit code 137", 137),
        (F.PERMISSION, "sudo: ./install.sh: command not found", 1),
        (F.MISSING_DEPENDENCY, "sudo: terraform: command not found", 1),
        (F.PERMISSION, "rm: das Entfernen von '/x' ist nicht möglich: Keine Berechtigung", 1),
        (F.NETWORK, "curl: (7) 无法连接到服务器", 7),
    ],
)
def test_trap_kinds_named_in_sources(expected: FailureClass, text: str, exit_code: int | None) -> None:
    """The kinds of trap SOURCES.md names, in wording of our own."""
    assert classify_failure(text, exit_code=exit_code).failure_class is expected


# --- written examples -----------------------------------------------------------------------

KNOWN: list[tuple[FailureClass, str]] = [
    (F.RATE_LIMIT, "HTTP/1.1 429 Too Many Requests"),
    (F.RATE_LIMIT, "curl: (22) The requested URL returned error: 429"),
    (
        F.RATE_LIMIT,
        "requests.exceptions.HTTPError: 429 Client Error: Too Many Requests for url: https://api.example.com/v1/items",
    ),
    (F.RATE_LIMIT, "urllib.error.HTTPError: HTTP Error 429: Too Many Requests"),
    (F.RATE_LIMIT, "gh: API rate limit exceeded for user ID 1234567. (HTTP 403)"),
    (
        F.RATE_LIMIT,
        "remote: You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
    ),
    (
        F.RATE_LIMIT,
        "Error response from daemon: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit",
    ),
    (
        F.RATE_LIMIT,
        "An error occurred (ThrottlingException) when calling the ListObjects operation (reached max retries: 4): Rate exceeded",
    ),
    (
        F.RATE_LIMIT,
        "An error occurred (SlowDown) when calling the PutObject operation (reached max retries: 4): Please reduce your request rate.",
    ),
    (
        F.RATE_LIMIT,
        "anthropic.RateLimitError: Error code: 429 - {'type': 'error', 'error': {'type': 'rate_limit_error', 'message': 'Number of request tokens has exceeded your per-minute rate limit'}}",
    ),
    (
        F.RATE_LIMIT,
        "googleapiclient.errors.HttpError: <HttpError 429 when requesting https://www.googleapis.com/youtube/v3/search returned \"Quota exceeded for quota metric 'Queries' and limit 'Queries per minute'\">",
    ),
    (F.RATE_LIMIT, "Error: Request failed with status code 429"),
    (
        F.RATE_LIMIT,
        "requests.exceptions.RetryError: HTTPSConnectionPool(host='api.x.com', port=443): Max retries exceeded with url: /v1 (Caused by ResponseError('too many 429 error responses'))",
    ),
    (F.NETWORK, "curl: (7) Failed to connect to localhost port 8080 after 0 ms: Connection refused"),
    (F.NETWORK, "curl: (6) Could not resolve host: example.invalid"),
    (F.NETWORK, "wget: unable to resolve host address 'example.invalid'"),
    (F.NETWORK, "ssh: Could not resolve hostname gitlab.internal: Name or service not known"),
    (F.NETWORK, "ssh: connect to host 10.0.0.5 port 22: No route to host"),
    (
        F.NETWORK,
        "fatal: unable to access 'https://github.com/org/repo.git/': Could not resolve host: github.com",
    ),
    (
        F.NETWORK,
        "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='api.example.com', port=443): Max retries exceeded with url: /v1/data (Caused by NewConnectionError('<urllib3.connection.HTTPSConnection object at 0x7f>: Failed to establish a new connection: [Errno -3] Temporary failure in name resolution'))",
    ),
    (F.NETWORK, "urllib.error.URLError: <urlopen error [Errno 111] Connection refused>"),
    (F.NETWORK, "ConnectionRefusedError: [Errno 111] Connection refused"),
    (F.NETWORK, "ConnectionResetError: [Errno 104] Connection reset by peer"),
    (F.NETWORK, "Error: getaddrinfo ENOTFOUND registry.npmjs.org"),
    (
        F.NETWORK,
        "npm ERR! code EAI_AGAIN\nnpm ERR! errno EAI_AGAIN\nnpm ERR! request to https://registry.npmjs.org/express failed, reason: getaddrinfo EAI_AGAIN registry.npmjs.org",
    ),
    (F.NETWORK, "Error: socket hang up\n    at connResetException (node:internal/errors:720:14)"),
    (
        F.NETWORK,
        "WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object>: Failed to establish a new connection: [Errno 101] Network is unreachable')': /simple/requests/\nERROR: Could not find a version that satisfies the requirement requests (from versions: none)\nERROR: No matching distribution found for requests",
    ),
    (
        F.NETWORK,
        'psql: error: connection to server at "db" (172.18.0.2), port 5432 failed: Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?',
    ),
    (
        F.NETWORK,
        "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
    ),
    (
        F.NETWORK,
        'Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on 127.0.0.53:53: no such host',
    ),
    (
        F.NETWORK,
        "requests.exceptions.SSLError: HTTPSConnectionPool(host='self-signed.badssl.com', port=443): Max retries exceeded with url: / (Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate (_ssl.c:1006)')))",
    ),
    (
        F.NETWORK,
        "fatal: unable to access 'https://git.corp/x.git/': server certificate verification failed. CAfile: none CRLfile: none",
    ),
    (F.NETWORK, "x509: certificate signed by unknown authority"),
    (F.NETWORK, "curl: (35) OpenSSL/3.0.2: error:0A00010B:SSL routines::wrong version number"),
    (F.NETWORK, "Error: unable to verify the first certificate\n  code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'"),
    (F.NETWORK, "curl: (56) Recv failure: Connection reset by peer"),
    (
        F.NETWORK,
        "The connection to the server localhost:8080 was refused - did you specify the right host or port?",
    ),
    (F.NETWORK, "Unable to connect to the server: dial tcp 10.0.0.1:6443: connect: no route to host"),
    (F.NETWORK, "curl: (7) Couldn't connect to server"),
    (F.NETWORK, "ssh: connect to host example.com port 22: Connection refused"),
    (F.NETWORK, "curl: （7） 无法连接到服务器"),
    (F.NETWORK, "ping: example.com: Temporärer Fehler bei der Namensauflösung"),
    (F.NETWORK, "curl: (7) Failed to connect to 127.0.0.1 port 80: Connexion refusée"),
    (F.NETWORK, "socket.gaierror: [Errno -2] Name or service not known"),
    (F.AUTH, "HTTP/1.1 401 Unauthorized"),
    (F.AUTH, "curl: (22) The requested URL returned error: 401"),
    (
        F.AUTH,
        "requests.exceptions.HTTPError: 401 Client Error: Unauthorized for url: https://api.github.com/user",
    ),
    (
        F.AUTH,
        "remote: Invalid username or password.\nfatal: Authentication failed for 'https://github.com/org/repo.git/'",
    ),
    (
        F.AUTH,
        "git@github.com: Permission denied (publickey).\nfatal: Could not read from remote repository.\n\nPlease make sure you have the correct access rights\nand the repository exists.",
    ),
    (F.AUTH, "fatal: could not read Username for 'https://github.com': terminal prompts disabled"),
    (
        F.AUTH,
        "remote: Permission to org/repo.git denied to someuser.\nfatal: unable to access 'https://github.com/org/repo.git/': The requested URL returned error: 403",
    ),
    (
        F.AUTH,
        "openai.AuthenticationError: Error code: 401 - {'error': {'message': 'Incorrect API key provided: sk-abc***. You can find your API key at https://platform.openai.com/account/api-keys.', 'type': 'invalid_request_error', 'param': None, 'code': 'invalid_api_key'}}",
    ),
    (
        F.AUTH,
        "anthropic.AuthenticationError: Error code: 401 - {'type': 'error', 'error': {'type': 'authentication_error', 'message': 'invalid x-api-key'}}",
    ),
    (
        F.AUTH,
        "An error occurred (InvalidClientTokenId) when calling the GetCallerIdentity operation: The security token included in the request is invalid.",
    ),
    (
        F.AUTH,
        "An error occurred (ExpiredToken) when calling the ListBuckets operation: The provided token has expired.",
    ),
    (F.AUTH, "An error occurred (AccessDenied) when calling the ListBuckets operation: Access Denied"),
    (F.AUTH, 'Unable to locate credentials. You can configure credentials by running "aws configure".'),
    (
        F.AUTH,
        "Error response from daemon: pull access denied for myorg/private, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
    ),
    (
        F.AUTH,
        'npm ERR! code E401\nnpm ERR! Unable to authenticate, need: Basic realm="GitHub Package Registry"',
    ),
    (
        F.AUTH,
        'psql: error: connection to server at "localhost" (::1), port 5432 failed: FATAL:  password authentication failed for user "postgres"',
    ),
    (F.AUTH, "ERROR 1045 (28000): Access denied for user 'root'@'localhost' (using password: YES)"),
    (F.AUTH, "Host key verification failed."),
    (
        F.AUTH,
        "To get started with GitHub CLI, please run:  gh auth login\nAlternatively, populate the GH_TOKEN environment variable with a GitHub API authentication token.",
    ),
    (F.AUTH, "Error: HTTP 403: Forbidden (https://api.github.com/repos/o/r/releases)"),
    (
        F.AUTH,
        'Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:default:x" cannot list resource "pods"',
    ),
    (F.AUTH, "sshpass: Permission denied, please try again."),
    (F.TIMEOUT, "curl: (28) Connection timed out after 10001 milliseconds"),
    (
        F.TIMEOUT,
        "requests.exceptions.ConnectTimeout: HTTPSConnectionPool(host='10.255.255.1', port=443): Max retries exceeded with url: / (Caused by ConnectTimeoutError(<urllib3.connection.HTTPSConnection object at 0x7f>, 'Connection to 10.255.255.1 timed out. (connect timeout=5)'))",
    ),
    (F.TIMEOUT, "TimeoutError: [Errno 110] Connection timed out"),
    (F.TIMEOUT, "ssh: connect to host 10.0.0.9 port 22: Connection timed out"),
    (F.TIMEOUT, "Error: connect ETIMEDOUT 93.184.216.34:443"),
    (F.TIMEOUT, "asyncio.exceptions.TimeoutError"),
    (F.TIMEOUT, "subprocess.TimeoutExpired: Command '['sleep', '10']' timed out after 2 seconds"),
    (F.TIMEOUT, "Error: context deadline exceeded"),
    (F.TIMEOUT, 'Get "https://example.com": dial tcp 93.184.216.34:443: i/o timeout'),
    (F.TIMEOUT, 'Error: Timeout of 2000ms exceeded. For async tests and hooks, ensure "done()" is called'),
    (F.TIMEOUT, "wget: download timed out"),
    (F.TIMEOUT, "httpx.ReadTimeout: The read operation timed out"),
    (F.TIMEOUT, "java.net.SocketTimeoutException: Read timed out"),
    (F.TIMEOUT, "curl: (28) 连接超时"),
    (F.PERMISSION, "bash: ./deploy.sh: Permission denied"),
    (F.PERMISSION, "mkdir: cannot create directory '/opt/app': Permission denied"),
    (F.PERMISSION, "PermissionError: [Errno 13] Permission denied: '/etc/hosts'"),
    (
        F.PERMISSION,
        "npm ERR! code EACCES\nnpm ERR! syscall mkdir\nnpm ERR! path /usr/lib/node_modules/x\nnpm ERR! errno -13\nnpm ERR! Error: EACCES: permission denied, mkdir '/usr/lib/node_modules/x'",
    ),
    (F.PERMISSION, "rm: cannot remove '/sys/kernel': Operation not permitted"),
    (F.PERMISSION, "touch: cannot touch '/usr/bin/x': Read-only file system"),
    (
        F.PERMISSION,
        "E: Could not open lock file /var/lib/dpkg/lock-frontend - open (13: Permission denied)\nE: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), are you root?",
    ),
    (
        F.PERMISSION,
        'Got permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: Post "http://%2Fvar%2Frun%2Fdocker.sock/v1.24/containers/create": dial unix /var/run/docker.sock: connect: permission denied',
    ),
    (
        F.PERMISSION,
        "sudo: a terminal is required to read the password; either use the -S option to read from standard input or configure an askpass helper",
    ),
    (F.PERMISSION, "cp: impossible de créer le fichier standard '/etc/x': Permission non accordée"),
    (F.PERMISSION, 'mkdir: 无法创建目录"/opt/x": 权限不够'),
    (F.PERMISSION, "OSError: [Errno 30] Read-only file system: '/usr/lib/python3/x'"),
    (F.PERMISSION, "Error: EPERM: operation not permitted, unlink '/x'"),
    (F.MISSING_DEPENDENCY, "bash: jq: command not found"),
    (F.MISSING_DEPENDENCY, "./run.sh: line 4: yq: command not found"),
    (F.MISSING_DEPENDENCY, "/bin/sh: 1: rsync: not found"),
    (F.MISSING_DEPENDENCY, "zsh: command not found: terraform"),
    (
        F.MISSING_DEPENDENCY,
        "Traceback (most recent call last):\n  File \"/tmp/x.py\", line 1, in <module>\n    import requests\nModuleNotFoundError: No module named 'requests'",
    ),
    (
        F.MISSING_DEPENDENCY,
        "ImportError: libGL.so.1: cannot open shared object file: No such file or directory",
    ),
    (F.MISSING_DEPENDENCY, "Error: Cannot find module 'express'\nRequire stack:\n- /app/index.js"),
    (
        F.MISSING_DEPENDENCY,
        "node:internal/modules/cjs/loader:1080\n  throw err;\n  ^\n\nError: Cannot find module 'lodash'\n  code: 'MODULE_NOT_FOUND',",
    ),
    (F.MISSING_DEPENDENCY, "/usr/bin/env: 'python': No such file or directory"),
    (F.MISSING_DEPENDENCY, "env: node: No such file or directory"),
    (
        F.MISSING_DEPENDENCY,
        "ffmpeg: error while loading shared libraries: libavdevice.so.58: cannot open shared object file: No such file or directory",
    ),
    (F.MISSING_DEPENDENCY, "E: Unable to locate package foobar"),
    (
        F.MISSING_DEPENDENCY,
        "ERROR: Could not find a version that satisfies the requirement nonexistent-pkg (from versions: none)\nERROR: No matching distribution found for nonexistent-pkg",
    ),
    (F.MISSING_DEPENDENCY, 'exec: "kubectl": executable file not found in $PATH'),
    (
        F.MISSING_DEPENDENCY,
        "Can't locate JSON.pm in @INC (you may need to install the JSON module) (@INC contains: /etc/perl)",
    ),
    (
        F.MISSING_DEPENDENCY,
        'Exception in thread "main" java.lang.NoClassDefFoundError: org/apache/commons/lang3/StringUtils',
    ),
    (
        F.MISSING_DEPENDENCY,
        "bash: ./script.sh: /usr/local/bin/python3.9: bad interpreter: No such file or directory",
    ),
    (F.MISSING_DEPENDENCY, "bash: jq: Befehl nicht gefunden"),
    (F.MISSING_DEPENDENCY, "bash: jq：未找到命令"),
    (F.MISSING_DEPENDENCY, "which: no docker in (/usr/local/bin:/usr/bin:/bin)"),
    (F.MISSING_DEPENDENCY, "npm ERR! 404 'leftpad-nonexist@*' is not in this registry."),
    (F.SYNTAX_ERROR, "./backup.sh: line 12: syntax error near unexpected token `fi'"),
    (F.SYNTAX_ERROR, "./backup.sh: line 30: syntax error: unexpected end of file"),
    (F.SYNTAX_ERROR, "./x.sh: line 5: unexpected EOF while looking for matching `\"'"),
    (
        F.SYNTAX_ERROR,
        '  File "/tmp/x.py", line 3\n    print "hello"\n    ^^^^^^^^^^^^^\nSyntaxError: Missing parentheses in call to \'print\'. Did you mean print(...)?',
    ),
    (F.SYNTAX_ERROR, '  File "/tmp/x.py", line 4\n    return x\n    ^\nIndentationError: unexpected indent'),
    (F.SYNTAX_ERROR, "/app/index.js:3\n});\n ^\n\nSyntaxError: Unexpected token '}'"),
    (F.SYNTAX_ERROR, "PHP Parse error:  syntax error, unexpected '}' in /var/www/x.php on line 10"),
    (F.SYNTAX_ERROR, "./x.sh: line 3: ${x,,}: bad substitution"),
    (F.SYNTAX_ERROR, "TabError: inconsistent use of tabs and spaces in indentation"),
    (F.OOM, "MemoryError"),
    (
        F.OOM,
        'Traceback (most recent call last):\n  File "x.py", line 2, in <module>\n    a = [0] * 10**12\nMemoryError',
    ),
    (
        F.OOM,
        "<--- Last few GCs --->\nFATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory",
    ),
    (
        F.OOM,
        "terminate called after throwing an instance of 'std::bad_alloc'\n  what():  std::bad_alloc\nAborted (core dumped)",
    ),
    (F.OOM, 'Exception in thread "main" java.lang.OutOfMemoryError: Java heap space'),
    (
        F.OOM,
        "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 15.78 GiB total capacity)",
    ),
    (F.OOM, "fatal error: runtime: out of memory"),
    (F.OOM, "memory allocation of 1073741824 bytes failed\nAborted (core dumped)"),
    (F.OOM, "bash: fork: Cannot allocate memory"),
    (
        F.OOM,
        "PHP Fatal error:  Allowed memory size of 134217728 bytes exhausted (tried to allocate 20480 bytes)",
    ),
    (
        F.OOM,
        "c++: fatal error: Killed signal terminated program cc1plus\ncompilation terminated.\nvirtual memory exhausted: Cannot allocate memory",
    ),
    (F.OOM, "Container was OOMKilled"),
    (F.OOM, "[ 1234.5678] Out of memory: Killed process 4242 (python3) total-vm:16384000kB"),
    (
        F.OOM,
        "tensorflow.python.framework.errors_impl.ResourceExhaustedError: OOM when allocating tensor with shape[1024,1024,1024]",
    ),
    (F.DISK_FULL, "cp: error writing '/mnt/backup/big.tar': No space left on device"),
    (
        F.DISK_FULL,
        "tar: /backup/x.tar: Wrote only 4096 of 10240 bytes\ntar: Error is not recoverable: exiting now",
    ),
    (F.DISK_FULL, "OSError: [Errno 28] No space left on device"),
    (F.DISK_FULL, "Error: ENOSPC: no space left on device, write"),
    (F.DISK_FULL, "write /var/lib/docker/tmp/x: no space left on device"),
    (F.DISK_FULL, "cp: error writing 'x': Disk quota exceeded"),
    (F.DISK_FULL, "sqlite3.OperationalError: database or disk is full"),
    (F.DISK_FULL, "dd: error writing '/dev/sdb': No space left on device"),
    (F.DISK_FULL, "cp: Fehler beim Schreiben von 'x': Auf dem Gerät ist kein Speicherplatz mehr verfügbar"),
    (F.DISK_FULL, "cp: erreur d'écriture de 'x': Aucun espace disponible sur le périphérique"),
    (F.DISK_FULL, "cp: 写入'x' 出错: 设备上没有空间"),
    (F.DISK_FULL, "File size limit exceeded (core dumped)"),
    (F.API_ERROR, "HTTP/1.1 500 Internal Server Error"),
    (F.API_ERROR, "curl: (22) The requested URL returned error: 503"),
    (
        F.API_ERROR,
        "requests.exceptions.HTTPError: 502 Server Error: Bad Gateway for url: https://api.example.com/v1",
    ),
    (
        F.API_ERROR,
        "openai.InternalServerError: Error code: 500 - {'error': {'message': 'The server had an error while processing your request. Sorry about that!', 'type': 'server_error'}}",
    ),
    (
        F.API_ERROR,
        "anthropic.InternalServerError: Error code: 529 - {'type': 'error', 'error': {'type': 'overloaded_error', 'message': 'Overloaded'}}",
    ),
    (F.API_ERROR, "Error: 503 Service Unavailable"),
    (
        F.API_ERROR,
        "openai.RateLimitError: Error code: 429 - {'error': {'message': 'You exceeded your current quota, please check your plan and billing details.', 'type': 'insufficient_quota'}}",
    ),
    (
        F.API_ERROR,
        "anthropic.BadRequestError: Error code: 400 - {'type': 'error', 'error': {'type': 'invalid_request_error', 'message': 'Your credit balance is too low to access the Anthropic API.'}}",
    ),
    (
        F.API_ERROR,
        "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
    ),
    (F.API_ERROR, "504 Gateway Time-out"),
    (
        F.API_ERROR,
        "requests.exceptions.HTTPError: 404 Client Error: Not Found for url: https://api.example.com/v1/nothing",
    ),
    (
        F.RATE_LIMIT,
        "google.api_core.exceptions.ResourceExhausted: 429 Resource has been exhausted (e.g. check quota).",
    ),
    (
        F.RATE_LIMIT,
        "openai.RateLimitError: Rate limit reached for gpt-4 in organization org-x on tokens per min.",
    ),
    (
        F.NETWORK,
        "fatal: unable to access 'https://github.com/o/r.git/': OpenSSL SSL_connect: SSL_ERROR_SYSCALL in connection to github.com:443",
    ),
    (
        F.NETWORK,
        "error: RPC failed; curl 56 GnuTLS recv error (-54): Error in the pull function.\nfatal: the remote end hung up unexpectedly",
    ),
    (F.NETWORK, "openai.APIConnectionError: Connection error."),
    (F.NETWORK, "fatal: unable to access 'https://example.com/r.git/': something unusual happened"),
    (F.AUTH, "remote: HTTP Basic: Access denied. The provided password or token is incorrect."),
    (F.AUTH, '{"message":"Requires authentication","documentation_url":"https://docs.github.com/rest"}'),
    (F.AUTH, "HTTP/2 403\ncontent-type: application/json"),
    (
        F.TIMEOUT,
        "urllib3.exceptions.ReadTimeoutError: HTTPSConnectionPool(host='x', port=443): Read timed out.",
    ),
    (F.TIMEOUT, "openai.APITimeoutError: Request timed out."),
    (
        F.PERMISSION,
        "E: This command has to be run with superuser privileges (under the root user on most systems).",
    ),
    (F.MISSING_DEPENDENCY, "src/main.c:1:10: fatal error: openssl/ssl.h: No such file or directory"),
    (F.MISSING_DEPENDENCY, "Package libffi was not found in the pkg-config search path."),
    (F.SYNTAX_ERROR, "./x.sh: line 9: unexpected EOF"),
    (F.OOM, "java.lang.OutOfMemoryError: GC overhead limit exceeded"),
    (F.OOM, "Error: container exceeds memory limit"),
    (
        F.API_ERROR,
        "openai.NotFoundError: Error code: 404 - {'error': {'code': 'model_not_found', 'message': 'The model `gpt-5x` does not exist'}}",
    ),
    (
        F.API_ERROR,
        "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
    ),
    (F.API_ERROR, "curl: (22) The requested URL returned error: 404"),
    (F.API_ERROR, "anthropic.APIStatusError: something odd"),
    (F.RATE_LIMIT, "HttpError 403: User Rate Limit Exceeded"),
    (
        F.RATE_LIMIT,
        "Error: You have exceeded a secondary rate limit and have been temporarily blocked from content creation.",
    ),
    (
        F.RATE_LIMIT,
        "botocore.exceptions.ClientError: An error occurred (Throttling) when calling the DescribeStacks operation (reached max retries: 4): Rate exceeded",
    ),
    (F.RATE_LIMIT, "[429] Too Many Requests"),
    (F.RATE_LIMIT, "Error: Request failed with status code 429"),
    (F.RATE_LIMIT, "HTTP Error 429: Too Many Requests"),
    (
        F.API_ERROR,
        "openai.error.RateLimitError: You exceeded your current quota, please check your plan and billing details.",
    ),
    (
        F.API_ERROR,
        "Error code: 429 - {'error': {'message': 'You exceeded your current quota', 'type': 'insufficient_quota'}}",
    ),
    (
        F.API_ERROR,
        'API Error: 500 {"type":"error","error":{"type":"api_error","message":"Internal server error"}}',
    ),
    (F.API_ERROR, "503 Service Temporarily Unavailable"),
    (F.API_ERROR, "openai.error.ServiceUnavailableError: The server is overloaded or not ready yet."),
    (F.API_ERROR, "Error: 502 Bad Gateway"),
    (F.AUTH, "Error: Bad credentials"),
    (F.AUTH, '{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}'),
    (F.AUTH, "HTTP 401: Unauthorized"),
    (F.AUTH, "openai.PermissionDeniedError: Project does not have access to this model."),
    (F.AUTH, '{"type":"error","error":{"type":"authentication_error","message":"bad key"}}'),
    (F.API_ERROR, "openai.BadRequestError: Unrecognized request argument supplied: foo"),
    (F.AUTH, "fatal: Authentication failed for 'https://gitlab.com/x/y.git/'"),
    (F.AUTH, "Permission denied (publickey,gssapi-keyex,gssapi-with-mic)."),
    (F.AUTH, "openai.error.AuthenticationError: Incorrect API key provided: sk-xxxx"),
    (F.AUTH, "Error: Invalid API Key"),
    (F.NETWORK, "Error: connect ECONNREFUSED 127.0.0.1:27017"),
    (F.NETWORK, "curl: (6) Could not resolve host: github.com"),
    (F.NETWORK, "cURL error 7: Failed to connect to localhost port 9200: Connection refused"),
    (F.NETWORK, "curl: (60) SSL certificate problem: self signed certificate in certificate chain"),
    (F.NETWORK, "SSL: CERTIFICATE_VERIFY_FAILED"),
    (F.NETWORK, "Error: getaddrinfo ENOTFOUND api.example.com"),
    (F.NETWORK, "MongoNetworkError: failed to connect to server [localhost:27017] on first connect"),
    (
        F.NETWORK,
        "redis.exceptions.ConnectionError: Error 111 connecting to localhost:6379. Connection refused.",
    ),
    (F.NETWORK, "curl: (35) error:1408F10B:SSL routines:ssl3_get_record:wrong version number"),
    (F.TIMEOUT, "cURL error 28: Connection timed out after 10001 milliseconds"),
    (
        F.TIMEOUT,
        "requests.exceptions.ReadTimeout: HTTPConnectionPool(host='localhost', port=8000): Read timed out. (read timeout=60)",
    ),
    (F.TIMEOUT, "socket.timeout: The read operation timed out"),
    (F.TIMEOUT, "Error: ETIMEDOUT"),
    (F.TIMEOUT, "TimeoutError: Navigation timeout of 30000 ms exceeded"),
    (F.TIMEOUT, "ERROR: Job failed: execution took longer than 1h0m0s seconds"),
    (
        F.OOM,
        "MemoryError: Unable to allocate 1.00 TiB for an array with shape (1000000, 1000000) and data type float64",
    ),
    (F.OOM, "numpy.core._exceptions._ArrayMemoryError: Unable to allocate 3.73 GiB for an array"),
    (F.OOM, "RuntimeError: CUDA out of memory. Tried to allocate 20.00 MiB"),
    (
        F.OOM,
        "FATAL ERROR: Ineffective mark-compacts near heap limit Allocation failed - JavaScript heap out of memory",
    ),
    (F.OOM, "Killed (OOM)"),
    (F.DISK_FULL, "IOError: [Errno 28] No space left on device"),
    (F.DISK_FULL, "npm ERR! nospc ENOSPC: no space left on device, write"),
    (F.DISK_FULL, "write error: No space left on device"),
    (F.MISSING_DEPENDENCY, "ImportError: No module named requests"),
    (F.MISSING_DEPENDENCY, "-bash: docker-compose: command not found"),
    (F.MISSING_DEPENDENCY, "/bin/sh: 1: python: not found"),
    (F.MISSING_DEPENDENCY, "ModuleNotFoundError: No module named 'cv2'"),
    (F.MISSING_DEPENDENCY, "Error: Cannot find module 'webpack'"),
    (F.PERMISSION, "bash: /usr/local/bin/x: Permission denied"),
    (F.PERMISSION, "OSError: [Errno 13] Permission denied: '/var/log/app.log'"),
    (F.PERMISSION, "Error: EACCES: permission denied, open '/root/.npm/_cacache'"),
    (F.PERMISSION, "cp: cannot create regular file '/etc/x': Permission denied"),
    (F.PERMISSION, "mkdir: impossible de créer le répertoire « /opt/x »: Permission non accordée"),
    (F.SYNTAX_ERROR, "SyntaxError: invalid syntax"),
    (F.SYNTAX_ERROR, "SyntaxError: Unexpected token 'export'"),
    (F.SYNTAX_ERROR, "./install.sh: line 42: syntax error near unexpected token `('"),
    (F.SYNTAX_ERROR, "IndentationError: expected an indented block"),
    (F.SYNTAX_ERROR, "SyntaxError: f-string: expecting '}'"),
]

UNRECOGNISED: list[str] = [
    "Container exited with exit code -137",
    "cat: config.yaml: No such file or directory",
    "Segmentation fault (core dumped)",
    "ValueError: invalid literal for int() with base 10: 'abc'",
    "KeyError: 'name'",
    "fatal: not a git repository (or any of the parent directories): .git",
    "",
    "Killed",
    "error: pathspec 'main' did not match any file(s) known to git",
    "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)",
    "grep: x.txt: No such file or directory",
    "python3: can't open file '/tmp/missing.py': [Errno 2] No such file or directory",
    'Traceback (most recent call last):\n  File "/tmp/x.py", line 5, in <module>\n    main()\n  File "/tmp/x.py", line 3, in main\n    1/0\nZeroDivisionError: division by zero',
    "AssertionError: expected 3 got 4",
    "Error: ENOSPC: System limit for number of file watchers reached, watch '/app/src'",
    "bus error",
    "bash: fork: retry: Resource temporarily unavailable",
    "Error: Process completed with exit code 1.",
    "npm ERR! code ELIFECYCLE",
    "TypeError: Cannot read properties of undefined (reading 'map')",
    "AttributeError: 'NoneType' object has no attribute 'group'",
]


@pytest.mark.parametrize(
    ("expected", "text"), KNOWN, ids=[f"{c.value}-{i}" for i, (c, _) in enumerate(KNOWN)]
)
def test_written_examples(expected: FailureClass, text: str) -> None:
    diagnosis = classify_failure(text)
    assert diagnosis.failure_class is expected, diagnosis.evidence
    assert diagnosis.evidence is not None
    assert diagnosis.evidence in text


@pytest.mark.parametrize("text", UNRECOGNISED)
def test_other_failures_stay_other(text: str) -> None:
    assert classify_failure(text, exit_code=1).failure_class is F.OTHER


def test_every_class_has_a_written_example() -> None:
    assert {cls for cls, _ in KNOWN} | {F.OTHER} == set(FailureClass)


# --- how the exit status combines with the text ---------------------------------------------


def test_runner_timeout_wins_over_everything() -> None:
    diagnosis = classify_failure("MemoryError\nPermission denied", exit_code=137, timed_out=True)
    assert diagnosis.failure_class is F.TIMEOUT
    assert diagnosis.evidence is None
    assert "time limit" in diagnosis.explanation


@pytest.mark.parametrize(
    ("exit_code", "signal"), [(137, None), (-9, None), (None, 9), (1, 9)], ids=["137", "-9", "sig", "both"]
)
def test_sigkill_alone_is_not_out_of_memory(exit_code: int | None, signal: int | None) -> None:
    diagnosis = classify_failure("", exit_code=exit_code, signal=signal)
    assert diagnosis.failure_class is F.OTHER
    assert "SIGKILL" in diagnosis.explanation
    assert "dmesg" in diagnosis.suggestion


def test_shell_killed_line_with_137_is_other_but_says_why() -> None:
    diagnosis = classify_failure("./run.sh: line 3:  4242 Killed   python big.py", exit_code=137)
    assert diagnosis.failure_class is F.OTHER
    assert diagnosis.evidence == "./run.sh: line 3:  4242 Killed   python big.py"
    assert "SIGKILL" in diagnosis.explanation


def test_docker_state_saying_not_oom_killed_is_not_oom() -> None:
    state = '"State": {\n  "Status": "exited",\n  "OOMKilled": false,\n  "ExitCode": 137\n}'
    assert classify_failure(state, exit_code=137).failure_class is F.OTHER
    assert classify_failure(state.replace("false", "true"), exit_code=137).failure_class is F.OOM


def test_sigkill_with_memory_evidence_is_out_of_memory() -> None:
    assert classify_failure("Killed\nMemoryError", exit_code=137).failure_class is F.OOM
    assert classify_failure("Memory cgroup out of memory: Killed process 42", signal=9).failure_class is F.OOM


@pytest.mark.parametrize(
    ("exit_code", "signal", "expected", "word"),
    [
        (124, None, F.TIMEOUT, "timeout"),
        (126, None, F.PERMISSION, "126"),
        (127, None, F.MISSING_DEPENDENCY, "127"),
        (None, 24, F.TIMEOUT, "CPU"),
        (152, None, F.TIMEOUT, "CPU"),
        (None, 25, F.DISK_FULL, "file-size"),
        (-11, None, F.OTHER, "crashed"),
        (139, None, F.OTHER, "crashed"),
        (None, 6, F.OTHER, "crashed"),
        (None, 15, F.OTHER, "terminated"),
        (130, None, F.OTHER, "interrupted"),
    ],
)
def test_exit_status_hints_when_the_text_says_nothing(
    exit_code: int | None, signal: int | None, expected: FailureClass, word: str
) -> None:
    diagnosis = classify_failure("some unrelated output", exit_code=exit_code, signal=signal)
    assert diagnosis.failure_class is expected
    assert word in diagnosis.explanation
    assert diagnosis.evidence is None


@pytest.mark.parametrize(
    ("exit_code", "signal"), [(1, None), (2, None), (None, None), (None, 10), (-137, None)]
)
def test_no_signal_no_text_is_plain_other(exit_code: int | None, signal: int | None) -> None:
    diagnosis = classify_failure("", "", exit_code=exit_code, signal=signal)
    assert diagnosis == Diagnosis(
        F.OTHER,
        None,
        "The run failed for a reason the classifier does not recognise.",
        "Read the last lines of the output for the error message.",
    )


def test_text_wins_over_the_exit_status() -> None:
    assert classify_failure("No space left on device", exit_code=126).failure_class is F.DISK_FULL
    assert classify_failure("bash: ./x: Permission denied", exit_code=127).failure_class is F.PERMISSION


def test_missing_file_is_a_missing_program_only_under_exit_127() -> None:
    line = "bash: ./tool: No such file or directory"
    as_program = classify_failure(line, exit_code=127)
    assert as_program.failure_class is F.MISSING_DEPENDENCY
    assert as_program.evidence == line
    assert "127" in as_program.explanation
    as_file = classify_failure(line, exit_code=1)
    assert as_file.failure_class is F.OTHER
    assert as_file.evidence == line
    assert "does not exist" in as_file.explanation


def test_a_crash_line_keeps_its_own_explanation_under_a_signal() -> None:
    diagnosis = classify_failure("Segmentation fault (core dumped)", signal=11)
    assert diagnosis.failure_class is F.OTHER
    assert diagnosis.evidence == "Segmentation fault (core dumped)"
    assert "segmentation fault" in diagnosis.explanation


# --- which line decides ---------------------------------------------------------------------


def test_last_decisive_line_wins() -> None:
    noisy_then_fatal = "find: '/proc/1/fd': Permission denied\nloading...\nMemoryError\n"
    assert classify_failure(noisy_then_fatal).failure_class is F.OOM
    fatal_last = (
        "MemoryError was caught and retried\nmkdir: cannot create directory '/x': Permission denied\n"
    )
    assert classify_failure(fatal_last).failure_class is F.PERMISSION


def test_body_after_status_line_decides() -> None:
    text = 'HTTP/1.1 403 Forbidden\nContent-Type: application/json\n\n{"message": "API rate limit exceeded"}'
    diagnosis = classify_failure(text)
    assert diagnosis.failure_class is F.RATE_LIMIT
    assert diagnosis.evidence == '{"message": "API rate limit exceeded"}'


def test_on_one_line_the_more_specific_rule_wins() -> None:
    line = "openai.RateLimitError: Error code: 429 - {'code': 'insufficient_quota'}"
    diagnosis = classify_failure(line)
    assert diagnosis.failure_class is F.API_ERROR
    assert "billing" in diagnosis.explanation
    assert classify_failure("git@host: Permission denied (publickey).").failure_class is F.AUTH


def test_strong_wording_anywhere_beats_weak_wording_later() -> None:
    text = (
        "ssh: connect to host h port 22: Connection refused\n"
        + "x\n" * 10_000
        + "cat: f: No such file or directory\n"
    )
    assert classify_failure(text).failure_class is F.NETWORK


def test_pip_after_network_errors_is_network() -> None:
    text = (
        "WARNING: Retrying after connection broken by 'NewConnectionError(... Connection refused)'\n"
        "ERROR: No matching distribution found for requests\n"
    )
    assert classify_failure(text).failure_class is F.NETWORK
    assert classify_failure("ERROR: No matching distribution found for reqests").failure_class is (
        F.MISSING_DEPENDENCY
    )


def test_stderr_is_read_before_stdout() -> None:
    both = classify_failure("curl: (6) Could not resolve host: x", "Permission denied")
    assert both.failure_class is F.NETWORK
    weak_err = classify_failure("cat: x: No such file or directory", "No space left on device")
    assert weak_err.failure_class is F.DISK_FULL
    assert classify_failure("", "ModuleNotFoundError: No module named 'x'").failure_class is (
        F.MISSING_DEPENDENCY
    )


def test_earlier_region_is_searched_when_the_end_is_quiet() -> None:
    quiet = "\n".join(f"step {i} ok, nothing to report here" for i in range(2_000))
    text = "fatal: Authentication failed for 'https://h/r.git/'\n" + quiet
    assert len(text) < SCAN_HEAD + SCAN_TAIL
    diagnosis = classify_failure(text)
    assert diagnosis.failure_class is F.AUTH
    assert diagnosis.evidence == "fatal: Authentication failed for 'https://h/r.git/'"


# --- bounds ---------------------------------------------------------------------------------


def test_only_head_and_tail_are_read() -> None:
    filler = ("progress line without anything special\n" * 4_000)[: SCAN_HEAD + SCAN_TAIL]
    in_middle = filler + "No space left on device\n" + filler
    assert classify_failure(in_middle).failure_class is F.OTHER
    assert classify_failure("No space left on device\n" + filler + filler).failure_class is F.DISK_FULL
    assert classify_failure(filler + filler + "No space left on device").failure_class is F.DISK_FULL


def test_head_and_tail_do_not_fuse_into_one_line() -> None:
    # "connection" ends the head and " refused" starts the tail: only a fused line would match.
    head = "x" * (SCAN_HEAD - len("connection")) + "connection"
    tail = " refused" + "y" * (SCAN_TAIL - len(" refused"))
    assert classify_failure(head + "z" * 1_000 + tail).failure_class is F.OTHER
    assert classify_failure(head + tail).failure_class is F.NETWORK  # short enough to be read whole


def test_evidence_is_stripped_and_bounded_around_the_match() -> None:
    assert classify_failure("   \tcurl: (6) Could not resolve host: h   \n").evidence == (
        "curl: (6) Could not resolve host: h"
    )
    long_line = "a" * 5_000 + " No space left on device " + "b" * 5_000
    evidence = classify_failure(long_line).evidence
    assert evidence is not None
    assert len(evidence) <= EVIDENCE_MAX
    assert "No space left on device" in evidence
    at_end = "a" * 5_000 + " Permission denied"
    tail_evidence = classify_failure(at_end).evidence
    assert tail_evidence is not None
    assert tail_evidence.endswith("Permission denied")
    assert len(tail_evidence) <= EVIDENCE_MAX


@pytest.mark.parametrize(
    "chunk",
    ["a", "sh: ", 'File "', "connection to ", "Timeout", "error: ", "unable to allocate ", "5", "\u00e9"],
)
def test_pathological_output_stays_fast(chunk: str) -> None:
    text = chunk * (10 * 1024 * 1024 // len(chunk))
    started = time.perf_counter()
    classify_failure(text, text)
    # Normal cost is tens of milliseconds; backtracking blow-ups take far longer than this.
    assert time.perf_counter() - started < 2.0


def test_non_ascii_case_does_not_shift_offsets() -> None:
    # "İ" lowers to two code points with str.lower(); offsets must stay aligned with the original.
    text = "İ" * 300 + "\nconnect ECONNREFUSED 127.0.0.1:5432"
    assert classify_failure(text).evidence == "connect ECONNREFUSED 127.0.0.1:5432"


# --- the result type and the rule table -----------------------------------------------------


def test_diagnosis_is_frozen_and_serialisable() -> None:
    diagnosis = classify_failure("curl: (6) Could not resolve host: h")
    with pytest.raises(FrozenInstanceError):
        diagnosis.failure_class = F.OTHER  # type: ignore[misc]
    data = diagnosis.to_dict()
    assert json.loads(json.dumps(data)) == {
        "failure_class": "network",
        "evidence": "curl: (6) Could not resolve host: h",
        "explanation": diagnosis.explanation,
        "suggestion": diagnosis.suggestion,
    }


@pytest.mark.parametrize("failure_class", list(FailureClass))
def test_every_class_explains_itself_in_a_sentence(failure_class: FailureClass) -> None:
    explanation, suggestion = classify_module._DEFAULTS[failure_class]
    assert explanation.endswith(".")
    assert suggestion.endswith(".")


def _unescaped(pattern: str) -> str:
    return re.sub(r"\\.", "", pattern)


def _top_level_alternation(pattern: str) -> bool:
    depth = 0
    in_class = False
    escaped = False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            return True
    return False


@pytest.mark.parametrize("rule", RULES, ids=[rule.name for rule in RULES])
def test_rule_patterns_keep_the_fast_path(rule: Any) -> None:
    for pattern in rule.patterns:
        source = pattern.pattern
        # A leading literal lets the engine search for it directly; escapes like \( count.
        assert source[0] not in "([.^$|?*+{" and not re.match(r"\\[bBwWdDsSAZ]", source), source
        assert not _top_level_alternation(source), source
        if rule.lowered:
            assert not re.search("[A-Z]", _unescaped(source)), source


def test_rule_names_are_unique_and_priorities_ordered() -> None:
    assert len({rule.name for rule in RULES}) == len(RULES)
    assert [rule.priority for rule in RULES] == list(range(len(RULES)))
