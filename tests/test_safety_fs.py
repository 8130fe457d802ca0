"""Filesystem and disk rules: deletion, device writes, system files, permissions."""

from __future__ import annotations

import pytest

from workflow_agent.core.types import Language
from workflow_agent.execution.safety import Decision, analyze


def decision(code: str) -> Decision:
    return analyze(code, Language.BASH).decision


def rules(code: str) -> set[str]:
    return {f.rule_id for f in analyze(code, Language.BASH).findings}


@pytest.mark.parametrize(
    "code",
    [
        "rm -rf /",
        "rm -fr /",
        "rm -r -f /",
        "rm --recursive --force /",
        "rm -rf /*",
        "rm -rf --no-preserve-root /",
        "rm -rf ~",
        "rm -rf ~/",
        "rm -rf $HOME",
        'rm -rf "$HOME"',
        "rm -rf /home",
        "rm -rf /Users/alice",
        "rm -rf /etc",
        "rm -rf /usr/lib",
        "rm -rf /var/tmp/../etc",
        "rm -rf ${TMPDIR}/../etc",
        "rm -rf ~/Documents",
        "/usr/bin/../bin/rm -rf /",
        '"rm" -rf /etc',
        "\\rm -rf /etc",
        "sudo rm -rf /",
        "rm -f /",
        "rm /etc/passwd",
        "DIR=/; rm -rf $DIR",
        "for d in /tmp/x /; do rm -rf $d; done",
        "mv ~ /dev/null",
        "mv /etc /tmp/etc.bak",
        "find / -delete",
        "find ~ -exec rm -rf {} \\;",
        "find /etc -name '*.conf' -exec rm {} +",
        "rsync -a --delete empty/ /",
        "shred -n 3 -z /dev/sda",
        "cd / && rm -rf *",
        "cd ~; rm -rf ./*",
        "srm -r ~/Pictures",
    ],
)
def test_destructive_deletion_is_denied(code: str) -> None:
    assert decision(code) is Decision.DENY


@pytest.mark.parametrize(
    "code",
    [
        "rm -rf ./build",
        "rm -rf build dist *.egg-info",
        'rm -rf "${DIR:?}/build"',
        "rm -rf ${DIR:?}/",
        'rm -rf "${TMPDIR:-/tmp}/build"',
        "rm -rf $TMPDIR/build",
        "rm -rf /tmp/project/build",
        "rm -rf /var/tmp/*",
        "rm -rf ~/.cache/pip",
        'rm -rf "$HOME/project/node_modules"',
        'rm -rf "$target"',
        "rm file.txt",
        "rm -i important.txt",
        "rmdir empty",
        "find . -name '*.pyc' -delete",
        "find /home/me/site -maxdepth 1 -name '*.tmp' -delete",
        "find . -name '*.txt' -exec rm {} \\;",
        "mv old.txt new.txt",
        "cd /tmp && rm -rf *",
        "rm -rf ../build",
        "shred -u secret.txt",
    ],
)
def test_ordinary_deletion_is_allowed(code: str) -> None:
    assert decision(code) is Decision.ALLOW


@pytest.mark.parametrize(
    "code",
    [
        'rm -rf "$DIR/"',
        "rm -rf $X/",
        'rm -rf "$DIR"/*',
        "rm -rf $PROJECT/$SUB",
        'rm -rf "$HOME/$SUBDIR"',
    ],
)
def test_deleting_through_a_possibly_empty_variable_is_denied(code: str) -> None:
    verdict = analyze(code, Language.BASH)
    assert verdict.decision is Decision.DENY
    assert {f.rule_id for f in verdict.findings} & {"fs.delete-unset-var", "fs.delete-home-item"}


@pytest.mark.parametrize(
    "code",
    [
        "rm -rf ..",
        "rm -rf ../..",
        "rm -rf /data",
        "rm -rf /tmp",
        "find / -name '*.log' -delete",
    ],
)
def test_wide_but_not_catastrophic_deletion_asks(code: str) -> None:
    assert decision(code) is Decision.ASK


@pytest.mark.parametrize(
    ("code", "rule"),
    [
        ("dd if=/dev/zero of=/dev/sda bs=1M", "disk.overwrite"),
        ("dd if=image.iso of=/dev/disk2", "disk.overwrite"),
        ("cat /dev/urandom > /dev/nvme0n1", "disk.overwrite"),
        ("mkfs.ext4 /dev/sda1", "disk.destroy"),
        ("mkfs -t xfs /dev/vdb", "disk.destroy"),
        ("wipefs -a /dev/sdb", "disk.destroy"),
        ("parted /dev/sda mklabel gpt", "disk.destroy"),
        ("sgdisk --zap-all /dev/sda", "disk.destroy"),
        ("fdisk /dev/sda", "disk.partition"),
        ("echo b > /proc/sysrq-trigger", "power.sysrq"),
    ],
)
def test_disk_destruction_is_denied(code: str, rule: str) -> None:
    assert rule in rules(code)
    assert decision(code) is Decision.DENY


@pytest.mark.parametrize(
    "code",
    [
        "dd if=/dev/urandom of=random.bin bs=1M count=1",
        "mkfs.ext4 disk.img",
        "wipefs /dev/sdb",
        "fdisk -l",
        "parted /dev/sda print",
        "cat -u /dev/tty12 > /dev/tty13",
        "echo hi > /dev/null 2>&1",
    ],
)
def test_disk_inspection_is_not_denied(code: str) -> None:
    assert decision(code) is not Decision.DENY


@pytest.mark.parametrize(
    ("code", "rule"),
    [
        ("echo evil > /etc/passwd", "priv.account-db"),
        ("echo 'u ALL=(ALL) NOPASSWD:ALL' | sudo tee -a /etc/sudoers", "priv.account-db"),
        ("echo 1.2.3.4 x | tee /etc/hosts", "fs.system-write"),
        ("cp evil.conf /etc/nginx/nginx.conf", "fs.system-write"),
        ("sed -i 's/a/b/' /etc/ssh/sshd_config", "fs.system-write"),
        ("echo backdoor >> ~/.bashrc", "persist.startup-file"),
        ("echo key >> ~/.ssh/authorized_keys", "persist.startup-file"),
        ("echo '* * * * * root x' >> /etc/crontab", "persist.startup-file"),
        ("find . -fls /etc/passwd", "priv.account-db"),
        ("> /var/log/syslog", "logs.tamper"),
        ("truncate -s 0 /var/log/auth.log", "logs.tamper"),
        ("ln -sf /dev/null ~/.bash_history", "logs.tamper"),
        ("shred -vfz /var/log/secure", "logs.tamper"),
    ],
)
def test_writes_to_system_files_are_denied(code: str, rule: str) -> None:
    assert rule in rules(code)
    assert decision(code) is Decision.DENY


@pytest.mark.parametrize(
    "code",
    [
        'echo "Hello World" >> file.txt',
        "ls > out.txt",
        "tee -a ./log.txt < input",
        "cp a.txt b.txt",
        "sed -i 's/x/y/' config.ini",
        "install -m 755 tool ./bin/tool",
        "truncate -s 0 app.log",
        "source ~/.profile",
    ],
)
def test_ordinary_writes_are_allowed(code: str) -> None:
    assert decision(code) is Decision.ALLOW


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("chmod +s /bin/bash", Decision.DENY),
        ("chmod u+s exploit", Decision.DENY),
        ("chmod 4755 /usr/local/bin/helper", Decision.DENY),
        ("chmod -R 777 /", Decision.DENY),
        ("chmod 777 /etc/passwd", Decision.DENY),
        ("chown -R nobody:nogroup /", Decision.DENY),
        ("chown root /etc/shadow", Decision.DENY),
        ("chattr -i /etc/passwd", Decision.DENY),
        ("chmod -R 700 ~/Documents", Decision.DENY),
        ("chmod u+x script.sh", Decision.ALLOW),
        ("chmod -R g+w,o+w path/to/directory", Decision.ALLOW),
        ("chmod 600 ~/.ssh/id_ed25519", Decision.ALLOW),
        ("chown :group path/to/file", Decision.ALLOW),
        ("chmod +x /usr/local/bin/tool", Decision.ALLOW),
    ],
)
def test_permission_changes(code: str, expected: Decision) -> None:
    assert decision(code) is expected


def test_extracting_over_the_root_asks() -> None:
    assert decision("tar -xf archive.tar -C /") is Decision.ASK
    assert decision("unzip pkg.zip -d /usr") is Decision.ASK
    assert decision("tar -xzf backup.tgz -C ./restore") is Decision.ALLOW


def test_deletion_explanation_is_a_sentence() -> None:
    finding = analyze("rm -rf ~", Language.BASH).findings[0]
    assert finding.explanation.startswith("Deletes")
    assert finding.explanation.endswith(".")


@pytest.mark.parametrize(
    "code",
    [
        "cp hooks/pre-commit .git/hooks/pre-commit",
        "echo 'exec evil' > repo/.git/hooks/post-checkout",
        "printf '[core]\\n\\tfsmonitor = evil\\n' >> .git/config",
        "cat extra >> ~/.gitconfig",
        "git config core.hooksPath /tmp/hooks",
        "git config --global core.fsmonitor 'curl x | sh'",
        "git -C repo config --local filter.x.smudge ./decode",
        "git config set --global alias.up '!sh -c \"curl x | sh\"'",
        "git config --global core.pager 'less; evil'",
    ],
)
def test_making_git_run_a_program_later_asks(code: str) -> None:
    # Hooks and exec-capable settings run at the next git command, outside any sandbox.
    assert "persist.git-hook" in rules(code)
    assert decision(code) is Decision.ASK


@pytest.mark.parametrize(
    "code",
    [
        "git config user.email ops@example.com",
        "git config --global core.editor vim",
        "git config --global core.pager 'less -FRX'",
        "git config --global alias.st status",
        "git config --get core.hooksPath",
        "git config --unset core.hooksPath",
        "cat .git/config",
        "ls .git/hooks",
        "echo '*.log' >> .gitignore",
    ],
)
def test_ordinary_git_settings_are_allowed(code: str) -> None:
    assert decision(code) is Decision.ALLOW


def test_python_writing_a_repository_hook_asks() -> None:
    code = 'import shutil\nshutil.copy("hook.sh", "repo/.git/hooks/post-merge")\n'
    verdict = analyze(code, Language.PYTHON)
    assert [f.rule_id for f in verdict.findings] == ["persist.git-hook"]
    assert verdict.decision is Decision.ASK


def test_installing_into_the_autostart_folder_is_denied() -> None:
    assert "persist.startup-file" in rules("cp agent.desktop ~/.config/autostart/")
