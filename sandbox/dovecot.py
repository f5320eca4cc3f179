"""A real Dovecot IMAP and POP3 server (Debian's dovecot-imapd and dovecot-pop3d) on free loopback
ports, for tests."""

import grp
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devstack import NotInstalled, free_port, stop_process

CONFIG = """\
instance_name = mcs{port}
base_dir = {root}/run
state_dir = {root}/state
protocols = {protocols}
pop3_uidl_format = %08Xu%08Xv
listen = 127.0.0.1
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = {mail_uid}
first_valid_gid = {mail_gid}
mail_location = maildir:{root}/mail/%n
mail_fsync = never
auth_failure_delay = 0
protocol imap {{
  mail_max_userip_connections = 100
}}
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={root}/home/%n
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
{pop3}service anvil {{
  chroot =
}}
"""


POP3_BINARY = "/usr/lib/dovecot/pop3"
POP3_SERVICE = """\
service pop3-login {{
  chroot =
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
"""


@dataclass(frozen=True)
class Imap:
    host: str
    port: int
    user: str
    password: str
    tls_port: int = 0  # IMAP over TLS, when the server was given a certificate
    pop3_port: int = 0  # POP3 (plain and STLS), when dovecot-pop3d is installed


def _identity() -> dict[str, object]:
    if os.geteuid() == 0:  # mail is handled as `nobody`; dovecot drops to its package users
        nobody = pwd.getpwnam("nobody")
        return {"internal_user": "dovecot", "internal_group": "dovecot", "login_user": "dovenull",
                "mail_uid": nobody.pw_uid, "mail_gid": grp.getgrnam("nogroup").gr_gid}  # fmt: skip
    me, group = pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name
    return {"internal_user": me, "internal_group": group, "login_user": me,
            "mail_uid": os.geteuid(), "mail_gid": os.getegid()}  # fmt: skip


def _wait_for_greeting(port: int, process: "subprocess.Popen[bytes]", root: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
            raise RuntimeError(f"dovecot exited with {process.returncode}: {log[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(100).startswith(b"* OK"):
                    return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("dovecot did not greet within 15 s")


@contextmanager
def dovecot_server(tls: tuple[Path, Path] | None = None) -> Iterator[Imap]:
    """Start Dovecot in the foreground (its PID is ours to stop), yield where it listens;
    `tls`: a certificate and key file, offered by STARTTLS and on a TLS port."""
    binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
    if not os.path.exists(binary):
        raise NotInstalled("dovecot is not installed (apt-get install dovecot-imapd)")
    root, port = Path(tempfile.mkdtemp(prefix="mcs-dovecot-")), free_port()
    root.chmod(0o755)
    identity = _identity()
    for sub in ("run", "state", "mail", "home"):
        (root / sub).mkdir()
    for sub in ("mail", "home"):
        os.chown(root / sub, int(str(identity["mail_uid"])), int(str(identity["mail_gid"])))
    config = root / "dovecot.conf"
    tls_port = free_port() if tls else 0
    pop3_port = free_port() if os.path.exists(POP3_BINARY) else 0
    pop3 = POP3_SERVICE.format(port=pop3_port) if pop3_port else ""
    protocols = "imap pop3" if pop3_port else "imap"
    ssl = f"ssl = yes\nssl_cert = <{tls[0]}\nssl_key = <{tls[1]}" if tls else "ssl = no"
    config.write_text(
        CONFIG.format(
            root=root,
            port=port,
            password="secret",
            ssl=ssl,
            tls_port=tls_port,
            protocols=protocols,
            pop3=pop3,
            **identity,
        )  # fmt: skip
    )
    process = subprocess.Popen(
        [binary, "-F", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for_greeting(port, process, root)
        yield Imap(
            host="127.0.0.1",
            port=port,
            user="sales@mcs.example",
            password="secret",
            tls_port=tls_port,
            pop3_port=pop3_port,
        )
    finally:
        stop_process(process)
        shutil.rmtree(root, ignore_errors=True)
