"""The suite's own PostgreSQL and Redis on loopback, which it may restart, stop and freeze at will."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from bench.serve import RedisProcess, free_port


class PostgresCluster:
    """A throwaway PostgreSQL cluster in `root`, run by the `postgres` user (initdb refuses root)."""

    def __init__(self, root: Path) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
        if not found:
            raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql/*/bin (apt-get install postgresql)")
        self.bin = Path(found[-1])
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/riskcontrol"

    def _run(self, *command: str) -> None:
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*as_postgres, *command], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def _ctl(self, *args: str) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "postgres.log"), "-w", *args)

    def create(self) -> None:
        """initdb, start, and create the database `riskcontrol`."""
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        self.start()
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE riskcontrol")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._ctl("-o", options, "start")

    def restart(self) -> None:
        """A fast restart: open sessions are cut, and for a moment nobody can connect."""
        self._ctl("-m", "fast", "restart")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._ctl("-m", "immediate", "stop")


class FaultyRedis(RedisProcess):
    """A private Redis that can also be hung (SIGSTOP: connections are accepted, nothing answers)."""

    def freeze(self) -> None:
        self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal(signal.SIGCONT)

    def _signal(self, sig: signal.Signals) -> None:
        if self._process is None:
            raise RuntimeError("redis-server is not running")
        self._process.send_signal(sig)

    def stop(self) -> None:
        if self._process is not None:
            self.thaw()  # a stopped process cannot act on SIGTERM
        super().stop()


@contextmanager
def services(root: Path) -> Iterator[tuple[PostgresCluster, FaultyRedis]]:
    """A started PostgreSQL cluster and Redis server, stopped (and their files removed) at the end."""
    cluster = PostgresCluster(root / "pg")
    redis_server = FaultyRedis(shutil.which("redis-server") or "redis-server")
    try:
        cluster.create()
        redis_server.start()
        yield cluster, redis_server
    finally:
        redis_server.stop()
        cluster.stop()
        # Give the postmaster's children a moment to leave before their files go.
        time.sleep(0.2)
        shutil.rmtree(root / "pg", ignore_errors=True)
