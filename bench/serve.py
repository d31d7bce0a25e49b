"""Server processes for benchmarks (and the cross-process tests): uvicorn over loopback, a private Redis."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import httpx
import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving_processes(factory: str, workers: int, env: dict[str, str]) -> Iterator[str]:
    """Serve the app built by `factory` ('module:function') with `workers` uvicorn processes; yields the base URL."""
    with serving_apps(factory, [env], workers=workers) as bases:
        yield bases[0]


@contextmanager
def serving_apps(factory: str, envs: Sequence[dict[str, str]], *, workers: int = 1) -> Iterator[list[str]]:
    """One server per environment in `envs`, each on a port of its own, started side by side; yields their base URLs."""
    started: list[tuple[subprocess.Popen[bytes], str]] = []
    try:
        for env in envs:
            port = free_port()
            command = [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                factory,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--log-level",
                "warning",
                "--no-access-log",
            ]
            started.append((subprocess.Popen(command, env={**os.environ, **env}), f"http://127.0.0.1:{port}"))
        for process, base in started:
            _wait_until_serving(process, base)
        yield [base for _, base in started]
    finally:
        for process, _ in started:
            _end(process)


def _wait_until_serving(process: subprocess.Popen[bytes], base: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code in (200, 404):
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError("the benchmark server did not start")
        time.sleep(0.2)


def raise_open_files(wanted: int) -> None:
    """Lift this process's soft limit on open files towards `wanted` (children started later inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def without_faketime(env: dict[str, str]) -> dict[str, str]:
    """`env` less libfaketime (`make test-future`): a Redis server keeps the real clock, as the machine's
    own services do (and its allocator recurses into libfaketime's clock_gettime and dies)."""
    kept = {key: value for key, value in env.items() if not key.startswith("FAKETIME")}
    preload = [lib for lib in kept.pop("LD_PRELOAD", "").split(":") if lib and "faketime" not in lib]
    if preload:
        kept["LD_PRELOAD"] = ":".join(preload)
    return kept


class RedisProcess:
    """A private `redis-server` on a free local port, without persistence, that can be stopped and
    started again on the same port (to see what a Redis outage does to the processes using it)."""

    def __init__(self, executable: str = "redis-server") -> None:
        self.executable = executable
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [self.executable, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, env=without_faketime(dict(os.environ)))
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if time.monotonic() > deadline or self._process.poll() is not None:
                        raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                    time.sleep(0.05)
        finally:
            client.close()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): it keeps its port and connections but answers nothing, a hung Redis."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)  # a frozen server cannot act on the request to stop
            _end(self._process)
            self._process = None


@contextmanager
def private_redis(executable: str = "redis-server") -> Iterator[RedisProcess]:
    """A started `RedisProcess`, stopped when the block ends."""
    server = RedisProcess(executable)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def _end(process: subprocess.Popen[bytes]) -> None:
    """Ask a child process to stop; kill it if it has not within 30 seconds."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
