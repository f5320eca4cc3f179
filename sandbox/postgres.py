"""A throwaway PostgreSQL server from Debian's packages, on a free loopback port."""

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devstack import NotInstalled, free_port


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    if not found[-1]:
        raise NotInstalled("PostgreSQL is not installed (apt-get install postgresql)")
    return found[-1]


def _as_postgres(command: list[str]) -> list[str]:
    """Root may not run PostgreSQL: run it as the `postgres` user of the Debian package."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class PostgresServer:
    """A server of our own: `url` of its `postgres` database; it can be stopped and started."""

    def __init__(self, root: Path, port: int) -> None:
        self._root, self._pg_ctl = root, _bin("pg_ctl")
        self._options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.url = f"postgresql+psycopg://mcs@127.0.0.1:{port}/postgres"

    def start(self) -> None:
        data, log = str(self._root / "data"), str(self._root / "log")
        _run([self._pg_ctl, "-D", data, "-o", self._options, "-l", log, "-w", "start"])

    def stop(self) -> None:
        _run([self._pg_ctl, "-D", str(self._root / "data"), "-m", "fast", "-w", "stop"])


@contextmanager
def postgres_instance() -> Iterator[PostgresServer]:
    """A fresh server, started; stopped and its files removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="mcs-pg-"))
    root.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    _run([_bin("initdb"), "-D", str(root / "data"), "-U", "mcs", "--auth=trust", "-E", "UTF8"])
    server = PostgresServer(root, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yields a SQLAlchemy URL of a fresh server; stops it and removes its files afterwards."""
    with postgres_instance() as server:
        yield server.url


def _run(command: list[str]) -> None:
    subprocess.run(_as_postgres(command), check=True, capture_output=True)


def create_database(server_url: str, name: str) -> str:
    """Create database `name` on the server and return its URL."""
    from sqlalchemy import create_engine, text

    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"
