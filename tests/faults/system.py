"""The system under test: uvicorn servers and `riskcontrol worker` processes on the suite's services."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import yaml

from bench.serve import free_port
from riskcontrol.settings import PROJECT_ROOT
from tests.fakes.fake_twilio import ACCOUNT_SID, AUTH_TOKEN

# The red chain of the suite's copy of sop/: a climb takes seconds, not minutes.
ACK_WITHIN_SECONDS = 6
REPEAT_EVERY_SECONDS = 3
# Every process of one deployment shares the audit key (each has a var/ of its own here).
AUDIT_KEY = "fault-suite-audit-" + "a" * 40
CLI = "from riskcontrol.cli import main; main()"


def short_sop(target: Path) -> Path:
    """A copy of sop/ whose red chain acknowledges within ACK_WITHIN_SECONDS and reminds every REPEAT_EVERY_SECONDS."""
    target.mkdir(parents=True, exist_ok=True)
    for source in (PROJECT_ROOT / "sop").iterdir():
        (target / source.name).write_bytes(source.read_bytes())
    path = target / "escalation.yaml"
    policy = yaml.safe_load(path.read_text(encoding="utf-8"))
    for step in policy["levels"]["red"]["chain"]:
        step["ack_within"], step["repeat_every"] = f"{ACK_WITHIN_SECONDS}s", f"{REPEAT_EVERY_SECONDS}s"
    path.write_text(yaml.safe_dump(policy, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return target


@dataclass
class Process:
    """One server or worker process of the system, which the suite may start, stop or kill."""

    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    base: str | None = None  # a server's base URL
    popen: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.command, env=self.env, cwd=PROJECT_ROOT, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def wait_serving(self, timeout: float = 60) -> None:
        """Until the server answers /healthz (servers only)."""
        assert self.base is not None
        assert self.popen is not None
        ends = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(self.base + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > ends or self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} did not start; see {self.log_path}")
            time.sleep(0.1)

    def kill9(self) -> None:
        """SIGKILL: no goodbye, claims and transactions left as they were."""
        assert self.popen is not None
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait()
        self._close_log()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 15 s."""
        if self.popen is None or self.popen.poll() is not None:
            self._close_log()
            return
        self.popen.terminate()
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


@dataclass
class System:
    """How to start the system's processes: the environment they share and where they log."""

    root: Path
    database_url: str
    redis_url: str
    twilio_base: str
    processes: list[Process] = field(default_factory=list)

    def env(self, name: str, *, sweeps: bool, public_base_url: str = "http://127.0.0.1:8000") -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": str(PROJECT_ROOT),
            "RISKCONTROL_ENVIRONMENT": "test",
            "RISKCONTROL_DATABASE_URL": self.database_url,
            "RISKCONTROL_REDIS_URL": self.redis_url,
            "RISKCONTROL_SECRET_KEY": "fault-suite-" + "k" * 40,
            "RISKCONTROL_AUDIT_KEY": AUDIT_KEY,
            "RISKCONTROL_ARGON2_PROFILE": "cheapest",
            "RISKCONTROL_SOP_DIR": str(self.root / "sop"),
            "RISKCONTROL_VAR_DIR": str(self.root / "var" / name),
            "RISKCONTROL_RUN_WORKER_IN_PROCESS": "true" if sweeps else "false",
            "RISKCONTROL_SMS_BACKEND": "twilio",
            "RISKCONTROL_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "RISKCONTROL_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "RISKCONTROL_TWILIO_FROM_NUMBER": "+8610690000",
            "RISKCONTROL_TWILIO_API_BASE": self.twilio_base,
            "RISKCONTROL_PUBLIC_BASE_URL": public_base_url,
        }

    def server(self, name: str, *, sweeps: bool, port: int | None = None) -> Process:
        """A uvicorn server process (not started); with `sweeps`, it runs the worker loop too (the default)."""
        port = port or free_port()
        base = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "uvicorn", "--factory", "riskcontrol.app:create_served_app"]
        command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
        return self._add(Process(name, command, self.env(name, sweeps=sweeps, public_base_url=base), self._log(name), base=base))

    def worker(self, name: str) -> Process:
        """A `riskcontrol worker` process (not started)."""
        return self._add(Process(name, [sys.executable, "-c", CLI, "worker"], self.env(name, sweeps=True), self._log(name)))

    def stop_all(self) -> None:
        for process in self.processes:
            process.stop()

    def _add(self, process: Process) -> Process:
        self.processes.append(process)
        return process

    def _log(self, name: str) -> Path:
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        return self.root / "logs" / f"{name}.log"


def start_together(*processes: Process) -> None:
    """Start side by side (imports overlap), then wait for every server to answer."""
    for process in processes:
        process.start()
    for process in processes:
        if process.base is not None:
            process.wait_serving()


def json_of(reply: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = reply.json()
    return body
