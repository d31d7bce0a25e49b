"""`python -m tests.faults` (`make faults`): inject each fault into real processes and print the table."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tests.faults.scenarios import SCENARIOS
from tests.faults.suite import Stage, stage, wait_until
from tests.faults.tally import COLUMNS, Run, Tally, tally

# A text claimed by a killed process waits for the claim's lease (60 s) before another process
# reconciles it with the provider; the suite's last tally waits for that too.
DRAIN_SECONDS = 75.0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults", description=__doc__)
    parser.add_argument("--only", action="append", default=[], help="run the scenarios whose name contains this (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, data) afterwards")
    args = parser.parse_args()
    chosen = [(n, s) for n, s in SCENARIOS if not args.only or any(o.lower() in n.lower() for o in args.only)]
    root = Path(tempfile.mkdtemp(prefix="riskcontrol-faults-"))
    root.chmod(0o755)  # PostgreSQL runs as `postgres` below it
    began = time.monotonic()
    failures: list[str] = []
    tallies: list[tuple[Run, Tally]] = []
    tracebacks = 0
    try:
        with stage(root) as it:
            print(f"services and processes up in {time.monotonic() - began:.0f}s; logs in {root / 'logs'}", flush=True)
            for number, (name, scenario) in enumerate(chosen, start=1):
                failures += play(it, Run(name, prefix=f"fault{number:02d}"), scenario)
            drain(it)
            with it.sessions() as db:
                tallies = [(run, tally(db, run, it.texts())) for run in it.runs]
            tracebacks = sum(p.log_path.read_text(errors="replace").count("Traceback") for p in it.system.processes)
    finally:
        if not args.keep and not failures:
            shutil.rmtree(root, ignore_errors=True)
    print_table(tallies)
    print(f"wall time {time.monotonic() - began:.0f}s; tracebacks in the processes' logs: {tracebacks}")
    bad = sum(t.counts["lost"] + t.counts["doubled"] for _, t in tallies)
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    if failures or args.keep:
        print(f"logs and data kept in {root}", file=sys.stderr)
    return 1 if bad or failures else 0


def play(it: Stage, run: Run, scenario: object) -> list[str]:
    """Run one scenario, then acknowledge its climbs and let the outbox settle; a crash is reported."""
    print(f"… {run.name}", flush=True)
    before = it.phone.statuses.copy()
    started = time.monotonic()
    it.runs.append(run)
    failed: list[str] = []
    try:
        assert callable(scenario)
        scenario(it, run)
        it.settle(run)
    except Exception as exc:  # one scenario's crash must not hide the others' counts
        failed.append(f"{run.name}: {type(exc).__name__}: {exc}")
    run.statuses = it.phone.statuses - before
    run.seconds = time.monotonic() - started
    return failed


def drain(it: Stage) -> None:
    """Wait until every message is settled, those dead processes held included (their leases expire)."""
    try:
        wait_until(lambda: it.unsettled(live_only=False) == 0, DRAIN_SECONDS, "")
    except TimeoutError:
        print(f"{it.unsettled(live_only=False)} message(s) still unsettled after {DRAIN_SECONDS:.0f}s", flush=True)


def print_table(tallies: list[tuple[Run, Tally]]) -> None:
    width = max([len(run.name) for run, _ in tallies] + [8])
    header = f"{'scenario':<{width}}  " + " ".join(f"{c:>7}" for c in COLUMNS) + "  secs  notes"
    print(header)
    print("-" * len(header))
    for run, result in tallies:
        counts = " ".join(f"{result.counts[c]:>7}" for c in COLUMNS)
        print(f"{run.name:<{width}}  {counts}  {run.seconds:>4.0f}  {'; '.join(result.notes)}")


if __name__ == "__main__":
    os.environ.setdefault("RISKCONTROL_ARGON2_PROFILE", "cheapest")
    sys.exit(main())
