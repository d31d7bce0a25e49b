"""The `riskcontrol` command: serve, worker, db, demo, import, user and audit."""

from __future__ import annotations

import secrets
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from riskcontrol.core import audit, i18n
from riskcontrol.core.clock import SystemClock
from riskcontrol.core.csvimport import RowError
from riskcontrol.core.db import make_engine, make_sessionmaker, transaction
from riskcontrol.core.security import use_password_hashing
from riskcontrol.settings import Settings, SettingsError

app = typer.Typer(help="riskcontrol: campus safety risk-control and crisis-response command system.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
import_app = typer.Typer(help="All-or-nothing CSV imports (UTF-8 or GBK/GB18030).", no_args_is_help=True)
user_app = typer.Typer(help="User accounts.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
sop_app = typer.Typer(help="The crisis SOP (sop/crisis.yaml).", no_args_is_help=True)
playbooks_app = typer.Typer(help="Emergency plans (playbooks/*.yaml), one per incident type.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
app.add_typer(user_app, name="user")
app.add_typer(audit_app, name="audit")
app.add_typer(sop_app, name="sop")
app.add_typer(playbooks_app, name="playbooks")
triage_app = typer.Typer(help="The triage rubric (sop/triage.yaml) and its calibration set.", no_args_is_help=True)
app.add_typer(triage_app, name="triage")
riskmap_app = typer.Typer(help="The risk map (风险地图).", no_args_is_help=True)
app.add_typer(riskmap_app, name="riskmap")
privacy_app = typer.Typer(help="Personal data held, retention periods and legal holds (PIPL).", no_args_is_help=True)
app.add_typer(privacy_app, name="privacy")

out = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    return Settings()


@contextmanager
def _database(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """A session factory on the configured database, keyed for the audit log; the engine is disposed afterwards."""
    key = settings.resolve_audit_key()
    engine = make_engine(settings.database_url)
    try:
        yield audit.keyed(make_sessionmaker(engine), key)
    finally:
        engine.dispose()


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from riskcontrol.core import migrations

    settings = _settings()
    migrations.upgrade(settings.database_url, revision)
    out.print(f"database at {revision}: {_redact(settings.database_url)}")


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Serve the web application; it sweeps deadlines and sends the outbox too, so the climb never waits
    for a dedicated worker."""
    import uvicorn

    from riskcontrol.app import create_app, settle_for_serving

    settings = _settings().model_copy(update={"run_worker_in_process": True})
    try:
        application = create_app(settings)
    except SettingsError as exc:
        err.print(f"[red]refusing to start:[/red] {exc}")
        raise typer.Exit(2) from exc
    settle_for_serving()
    uvicorn.run(application, host=host, port=port, log_level="info")


@app.command("worker")
def run_worker(
    metrics_port: Annotated[
        int, typer.Option(help="Serve /metrics on this port (0: not at all): this process's deadline lag and send times.")
    ] = 0,
    metrics_host: Annotated[str, typer.Option(help="Interface for --metrics-port.")] = "127.0.0.1",
) -> None:
    """Run the deadline sweeper and outbox dispatcher as their own process."""
    from riskcontrol.app import build_context, build_worker, database_metrics
    from riskcontrol.core import metrics

    ctx = build_context(_settings())
    if metrics_port:
        metrics.serve_apart(metrics.new_registry(database_metrics(ctx)), metrics_host, metrics_port)
        out.print(f"metrics on http://{metrics_host}:{metrics_port}/metrics")
    stop = threading.Event()
    out.print("worker running; Ctrl-C stops it")
    try:
        build_worker(ctx).run_forever(stop, ctx.settings.worker_interval)
    except KeyboardInterrupt:
        stop.set()


@app.command()
def demo(
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve after seeding.")] = True,
    host: str = "127.0.0.1",
    port: int = 8000,
) -> None:
    """Migrate, seed the demo campus and its history if the database is empty, print the demo logins, then serve."""
    from riskcontrol import demo as demo_campus
    from riskcontrol import demo_history
    from riskcontrol.app import build_context
    from riskcontrol.core import migrations

    settings = _settings()
    settings.resolve_secret()
    use_password_hashing(settings.resolve_argon2_profile())
    migrations.upgrade(settings.database_url)
    clock = SystemClock()
    with _database(settings) as factory, transaction(factory) as db:
        summary = demo_campus.seed_demo(db, clock)
    out.print(summary.describe())
    if summary.created:
        # The past incident is walked with the application's own wiring: its configs, deadline handlers and events.
        ctx = build_context(settings, clock=clock)
        try:
            history = demo_history.seed_history(ctx, clock)
        finally:
            ctx.bus.close()
            ctx.engine.dispose()
        out.print(history.describe(), soft_wrap=True, highlight=False)
    out.print(demo_campus.logins_table(), width=max(out.width, 120))
    if serve_after:
        serve(host=host, port=port)


@import_app.command("factors")
def import_factors(
    source: Annotated[str, typer.Argument(help="screening, academic, sanction, hardship, leave or psych_leave")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Import student risk factors from a student-affairs export (CSV UTF-8/GBK or .xlsx), all or nothing."""
    from riskcontrol.people import concern_service, factor_import
    from riskcontrol.people.concern_rules import RegisterConfig

    try:
        kind = factor_import.FactorSource(source)
    except ValueError as exc:
        err.print(f"unknown source {source!r}; one of {', '.join(factor_import.FactorSource)}", markup=False)
        raise typer.Exit(2) from exc
    settings = _settings()
    catalogue = factor_import.load_catalogue(settings.sop_dir)
    register = RegisterConfig(concern_service.load_rules(settings.sop_dir), settings.tz)
    data = file.read_bytes()
    with _database(settings) as factory, factory() as db:
        report = factor_import.import_factors(db, SystemClock(), catalogue, register, source=kind, data=data, by=None)
        if report.errors:
            db.rollback()
            _refused(file, report.errors)
        db.commit()
    counts = report.counts()
    out.print(
        f"{kind}: {counts['created']} created, {counts['updated']} updated, {counts['unchanged']} unchanged,"
        f" {counts['not_flagged']} not flagged, {counts['interviews']} interviews due",
        soft_wrap=True,
        highlight=False,
    )
    if report.no_counselor:
        out.print(f"no counsellor to interview: {', '.join(report.no_counselor)}", soft_wrap=True, highlight=False)


def _refused(file: Path, errors: Sequence[RowError]) -> NoReturn:
    """Print one unwrapped plain line per problem (editors and grep can jump to it) and exit 1."""
    for e in errors:
        reason = i18n.word("en", e.reason)
        err.print(f"{file}:{e.line}: column {e.column}: {reason}", soft_wrap=True, markup=False, highlight=False)
    err.print(f"[red]{len(errors)} problem(s); nothing was imported[/red]")
    raise typer.Exit(1)


def _run_import(kind: str, file: Path) -> None:
    from riskcontrol.people import importer

    data = file.read_bytes()
    with _database(_settings()) as factory, factory() as db:
        report = importer.import_csv(db, SystemClock(), kind=importer.ImportKind(kind), data=data, by=None)
        if report.errors:
            db.rollback()
            _refused(file, report.errors)
        db.commit()
    out.print(report.describe())


@import_app.command("units")
def import_units(file: Path) -> None:
    """Import org units: code,parent_code,kind,name_zh,name_en."""
    _run_import("units", file)


@import_app.command("students")
def import_students(file: Path) -> None:
    """Import students: student_no,name,gender,class_code,dorm_code,phone,guardian_name,guardian_relation,guardian_phone."""
    _run_import("students", file)


@import_app.command("staff")
def import_staff(file: Path) -> None:
    """Import staff and monitors: username,name,phone,roles,unit_code (roles separated by ';')."""
    _run_import("staff", file)


@user_app.command("password")
def user_password(
    username: str,
    generate: Annotated[bool, typer.Option("--generate", help="Generate a password and print it.")] = False,
) -> None:
    """Set USERNAME's password, read from standard input (or generated with --generate)."""
    from riskcontrol.core.errors import DomainError
    from riskcontrol.people import service

    password = secrets.token_urlsafe(12) if generate else sys.stdin.readline().rstrip("\r\n")
    try:
        with _database(_settings()) as factory, transaction(factory) as db:
            user = service.get_user_by_username(db, username)
            service.set_password(db, SystemClock(), user=user, password=password, by=None)
    except DomainError as exc:
        err.print(f"[red]{exc.field or 'error'}:[/red] {exc}")
        raise typer.Exit(1) from exc
    out.print(f"password set for {username}" + (f": {password}" if generate else ""))


@privacy_app.command("export")
def privacy_export(
    student_no: str,
    as_user: Annotated[str, typer.Option("--as", help="The student-affairs user the export is made (and audited) for.")],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the file (readable by its owner only).")],
    fmt: Annotated[str, typer.Option("--format", help="json or pdf.")] = "json",
    lang: Annotated[str, typer.Option(help="The PDF in zh or en.")] = "zh",
) -> None:
    """Everything held about the student numbered STUDENT_NO (PIPL Art. 45), as JSON or PDF; audited."""
    import json

    from riskcontrol.core.errors import DomainError
    from riskcontrol.people.auth import principal_of
    from riskcontrol.privacy.subject import document, export, service

    if fmt not in ("json", "pdf") or lang not in ("zh", "en"):
        err.print("[red]--format[/red] is json or pdf, [red]--lang[/red] zh or en")
        raise typer.Exit(2)
    settings = _settings()
    try:
        with _database(settings) as factory, transaction(factory) as db:
            clock = SystemClock()
            data = export.export(db, clock, principal_of(db, as_user), service.student_id_of(db, student_no), fmt=fmt)
    except DomainError as exc:
        err.print(f"[red]{exc.field or 'error'}:[/red] {exc}")
        raise typer.Exit(1) from exc
    if fmt == "json":
        body = json.dumps(data, ensure_ascii=False, indent=2).encode()
    else:
        body = document.render_pdf(data, tz=settings.tz, lang=lang)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.touch(mode=0o600)
    out_file.write_bytes(body)
    out.print(f"{out_file}: everything held about {student_no} ({sum(len(v) for v in data['sections'].values())} records)")


@privacy_app.command("report")
def privacy_report() -> None:
    """What personal data is held, by kind and age band, how much is past its period, and the open holds."""
    from rich.table import Table

    from riskcontrol.privacy import report, retention
    from riskcontrol.privacy.rules import AGE_BANDS

    settings = _settings()
    with _database(settings) as factory, factory() as db:
        found = report.build(db, SystemClock(), retention.load_policy(settings.sop_dir))
    table = Table(title=f"personal data held at {found.at:%Y-%m-%d %H:%M} UTC")
    for header in ("kind", "keep (days)", "held", *(band for band, _ in AGE_BANDS), "past due"):
        table.add_column(header, justify="left" if header == "kind" else "right")
    for line in found.lines:
        bands = (str(line.bands[band]) for band, _ in AGE_BANDS)
        table.add_row(line.kind.value, str(line.keep_days), str(line.held), *bands, str(line.past_due))
    out.print(table)
    if found.last_run is not None:
        counts = ", ".join(f"{kind} {n}" for kind, n in found.last_run.counts.items())
        out.print(f"last retention run {found.last_run.ran_at:%Y-%m-%d %H:%M} UTC: {counts}")
    else:
        out.print("no retention run yet")
    if not found.holds:
        out.print("open legal holds: none")
        return
    holds = Table(title=f"open legal holds: {len(found.holds)}")
    for header in ("id", "subject", "placed", "by", "reason"):
        holds.add_column(header)
    for hold in found.holds:
        holds.add_row(
            str(hold.id), f"{hold.subject_type} {hold.subject_id}", f"{hold.placed_at:%Y-%m-%d}", str(hold.placed_by), hold.reason
        )
    out.print(holds)


@audit_app.command("verify")
def audit_verify() -> None:
    """Seal what was appended, walk the chain with the key and against the anchors file; exit 1 naming
    the first row altered, forged, rehashed or removed."""
    from riskcontrol.core import audit_anchors

    settings = _settings()
    try:
        anchors = audit_anchors.read_anchors(settings.audit_anchors)
    except audit.ChainBroken as exc:
        err.print(f"audit chain unverifiable: {exc}")
        raise typer.Exit(1) from exc
    with _database(settings) as factory:
        with suppress(audit.ChainBroken):  # the sealer refuses a tampered head; the walk says where
            audit.seal_all(factory)
        with factory() as db:
            report = audit.verify_chain(db, anchors=anchors)
    if report.ok:
        out.print(f"audit chain intact: {report.rows_checked} rows")
        return
    where = f"seq {report.broken_seq}" if report.broken_seq is not None else "an unsealed row"
    err.print(f"audit chain broken at {where} (row id {report.broken_id}): {report.reason}")
    raise typer.Exit(1)


@audit_app.command("report")
def audit_report(
    day: Annotated[
        str | None, typer.Option("--date", help="The day, YYYY-MM-DD in the school's time zone (default: today).")
    ] = None,
) -> None:
    """Print a day's anchors of the audit chain and its audit rows counted by action."""
    from datetime import date

    from riskcontrol.core import audit_anchors

    settings = _settings()
    try:
        when = date.fromisoformat(day) if day is not None else SystemClock().now().astimezone(settings.tz).date()
    except ValueError as exc:
        err.print(f"--date must be YYYY-MM-DD, got {day!r}")
        raise typer.Exit(2) from exc
    with _database(settings) as factory, factory() as db:
        out.print(audit_anchors.daily_report(db, settings.audit_config(), when), highlight=False, soft_wrap=True)


@riskmap_app.command("check")
def riskmap_check() -> None:
    """Validate the prevention stage's data: the risk matrix, the inspection checklists, the named places and
    the campus layers; one `file:line: field: reason` line per error, exit 1 if any."""
    from riskcontrol.core.datafiles import DataFileError
    from riskcontrol.hazards.inspections import load_plan
    from riskcontrol.hazards.places import load_places
    from riskcontrol.hazards.service import load_matrix
    from riskcontrol.riskmap.base_layers import load_base_layers

    settings = _settings()
    try:
        matrix = load_matrix(settings.sop_dir)
        plan = load_plan(settings.sop_dir, frozenset(c.code for c in matrix.categories))
        places = load_places(settings.risk_map_dir / "places.yaml")
        base = load_base_layers(settings.risk_map_dir)
    except (DataFileError, ValueError, OSError) as exc:
        err.print(str(exc), soft_wrap=True, markup=False, highlight=False)
        raise typer.Exit(1) from None
    bands = ", ".join(f"{b.code} {b.min}–{b.max}" for b in matrix.bands)
    out.print(f"risk matrix OK: {bands}; {len(matrix.categories)} hazard categories", soft_wrap=True, highlight=False)
    kinds = ", ".join(f"{kind.value} ({len(kp.items)} items, every {kp.every})" for kind, kp in plan.kinds.items())
    out.print(f"inspection checklists OK: {kinds}", soft_wrap=True, highlight=False)
    out.print(
        f"{len(places.places)} places; campus layers: {len(base.buildings['features'])} buildings, "
        f"{len(base.roads['features'])} roads",
        soft_wrap=True,
        highlight=False,
    )


@riskmap_app.command("export")
def riskmap_export(
    public: Annotated[bool, typer.Option("--public", help="The public map: public zones and safety tips only.")] = False,
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the HTML file.")] = Path("var/risk-map-public.html"),
    lang: Annotated[str, typer.Option(help="zh-CN or en.")] = "zh-CN",
) -> None:
    """Write the public risk map as ONE self-contained HTML file (no hazards' details, no incidents, no
    personal data) for the school's official account or website."""
    from riskcontrol.riskmap import maps

    if not public:
        err.print("only the public map can be exported (the staff's map is served at /risk-map): pass --public")
        raise typer.Exit(2)
    if lang not in ("zh-CN", "en"):
        err.print("--lang is zh-CN or en")
        raise typer.Exit(2)
    settings = _settings()
    cfg = maps.MapSettings(directory=settings.risk_map_dir, tz=settings.tz)
    with _database(settings) as factory, factory() as db:
        html = maps.public_map(db, cfg, "en" if lang == "en" else "zh-CN")
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(html, encoding="utf-8")
    out.print(f"wrote the public risk map to {out_file} ({len(html.encode()) // 1024} KB, self-contained)")


def main() -> None:
    app()


@sop_app.command("diagram")
def sop_diagram(
    lang: Annotated[str, typer.Option(help="Labels in zh or en.")] = "zh",
    sop_dir: Annotated[Path | None, typer.Option(help="SOP directory (default: RISKCONTROL_SOP_DIR).")] = None,
) -> None:
    """Print the crisis SOP as a Mermaid state diagram (validated first: errors name file, line, field)."""
    from riskcontrol.core.datafiles import DataFileError
    from riskcontrol.incidents.rules import mermaid
    from riskcontrol.incidents.sop import load_crisis_sop

    if lang not in ("zh", "en"):
        err.print("--lang must be zh or en")
        raise typer.Exit(2)
    try:
        sop = load_crisis_sop(sop_dir or _settings().sop_dir)
    except DataFileError as exc:
        err.print(str(exc), markup=False)
        raise typer.Exit(1) from exc
    typer.echo(mermaid(sop, lang=lang), nl=False)


PlaybookDirOption = Annotated[Path | None, typer.Option(help="Playbook directory (default: RISKCONTROL_PLAYBOOK_DIR).")]
SopDirOption = Annotated[Path | None, typer.Option(help="SOP directory (default: RISKCONTROL_SOP_DIR).")]


@playbooks_app.command("check")
def playbooks_check(playbook_dir: PlaybookDirOption = None, sop_dir: SopDirOption = None) -> None:
    """Validate every playbook against the crisis SOP: one `file:line: field: reason` line per error, exit 1 if any."""
    from riskcontrol.incidents.playbooks import check_playbooks, load_playbooks, waiting_for_signals
    from riskcontrol.incidents.sop import load_crisis_sop

    settings = _settings()
    playbook_dir, sop_dir = playbook_dir or settings.playbook_dir, sop_dir or settings.sop_dir
    errors = check_playbooks(playbook_dir, sop_dir)
    if errors:
        for error in errors:
            err.print(str(error), soft_wrap=True, markup=False, highlight=False)
        err.print(f"[red]{len(errors)} error(s) in the playbooks[/red]")
        raise typer.Exit(1)
    library = load_playbooks(playbook_dir, load_crisis_sop(sop_dir))
    out.print(f"{len(library.types())} playbooks OK: {', '.join(library.types())}", soft_wrap=True, highlight=False)
    for notice in waiting_for_signals(playbook_dir, library):
        out.print(f"notice: {notice}", soft_wrap=True, markup=False, highlight=False)
    for kind in library.types():
        playbook = library.playbooks[kind]
        tasks = sum(len(step.tasks) for step in playbook.steps)
        out.print(f"  {kind:<18} v{playbook.version}  {playbook.label.zh}  {tasks} tasks", soft_wrap=True, highlight=False)


@triage_app.command("calibrate")
def triage_calibrate(playbook_dir: PlaybookDirOption = None, sop_dir: SopDirOption = None) -> None:
    """Run every case of sop/calibration.yaml through the shipped rules: the confusion matrix, every
    miss, and exit 1 unless no red case is graded below red and at least 95 % are exact."""
    from riskcontrol.core.datafiles import DataFileError
    from riskcontrol.escalation.policy import load_calendar, load_policy
    from riskcontrol.incidents.calibration import Rules, load_calibration, matrix, run, verdict
    from riskcontrol.incidents.playbooks import load_playbooks
    from riskcontrol.incidents.sop import load_crisis_sop
    from riskcontrol.observations.catalog import load_checklist, load_factors, load_rubric

    settings = _settings()
    sop_dir = sop_dir or settings.sop_dir
    try:
        library = load_playbooks(playbook_dir or settings.playbook_dir, load_crisis_sop(sop_dir))
        playbooks = list(library.playbooks.values())
        policy = load_policy(sop_dir)
        factors, calendar = load_factors(sop_dir), load_calendar(sop_dir)
        rules = Rules(load_checklist(sop_dir), load_rubric(sop_dir), policy, playbooks, settings.tz, factors, calendar)
        outcomes = run(rules, load_calibration(sop_dir))
    except (DataFileError, ValueError) as exc:
        err.print(str(exc), soft_wrap=True, markup=False, highlight=False)
        raise typer.Exit(1) from exc
    typer.echo(matrix(outcomes))
    if not verdict(outcomes).met:
        raise typer.Exit(1)


@playbooks_app.command("show")
def playbooks_show(
    type_: Annotated[str, typer.Argument(metavar="TYPE", help="The incident type, e.g. missing_student.")],
    lang: Annotated[str, typer.Option(help="Labels in zh or en.")] = "zh",
    playbook_dir: PlaybookDirOption = None,
    sop_dir: SopDirOption = None,
) -> None:
    """Print a playbook as a readable outline: levels, roles, prevention, warning, steps with due times."""
    from riskcontrol.core.datafiles import DataFileError
    from riskcontrol.incidents.playbooks import load_playbooks, outline
    from riskcontrol.incidents.sop import load_crisis_sop

    if lang not in ("zh", "en"):
        err.print("--lang must be zh or en")
        raise typer.Exit(2)
    settings = _settings()
    try:
        sop = load_crisis_sop(sop_dir or settings.sop_dir)
        library = load_playbooks(playbook_dir or settings.playbook_dir, sop)
    except DataFileError as exc:
        err.print(str(exc), soft_wrap=True, markup=False, highlight=False)
        raise typer.Exit(1) from exc
    playbook = library.get(type_)
    if playbook is None:
        err.print(f"no playbook of type {type_!r}; known: {', '.join(library.types())}", soft_wrap=True, markup=False)
        raise typer.Exit(1)
    typer.echo("\n".join(outline(playbook, sop, lang=lang)))


@playbooks_app.command("diff")
def playbooks_diff(
    type_: Annotated[str, typer.Argument(metavar="TYPE", help="The incident type, e.g. missing_student.")],
    edited: Annotated[Path, typer.Argument(metavar="FILE", help="The edited playbook file, its version raised by one.")],
    lang: Annotated[str, typer.Option(help="Changes worded in zh or en.")] = "zh",
    playbook_dir: PlaybookDirOption = None,
    sop_dir: SopDirOption = None,
) -> None:
    """Print what FILE changes of the playbook in force, one change a line, worded as a leader reads it on the
    revision page; checked like the file (exit 1 on an error)."""
    from riskcontrol.core import i18n
    from riskcontrol.core.datafiles import DataFileError
    from riskcontrol.incidents.playbook_diff import changes
    from riskcontrol.incidents.playbooks import check_text, diff_names, load_playbooks
    from riskcontrol.incidents.sop import load_crisis_sop
    from riskcontrol.observations.catalog import load_checklist

    if lang not in ("zh", "en"):
        err.print("--lang must be zh or en")
        raise typer.Exit(2)
    settings = _settings()
    sop_dir = sop_dir or settings.sop_dir
    try:
        sop = load_crisis_sop(sop_dir)
        current = load_playbooks(playbook_dir or settings.playbook_dir, sop).get(type_)
        items = [item.code for item in load_checklist(sop_dir).items]
        proposed, errors = check_text(type_, edited.read_text(encoding="utf-8"), sop, checklist_items=items)
        names = diff_names(sop_dir)
    except (DataFileError, OSError) as exc:
        err.print(str(exc), soft_wrap=True, markup=False, highlight=False)
        raise typer.Exit(1) from exc
    if current is None or proposed is None:
        for error in errors:
            err.print(str(error), soft_wrap=True, markup=False, highlight=False)
        err.print(f"no playbook of type {type_!r} in force" if current is None else f"{len(errors)} error(s) in {edited}")
        raise typer.Exit(1)
    worded = "zh-CN" if lang == "zh" else "en"
    typer.echo("\n".join(i18n.word(worded, change.phrase()) for change in changes(current, proposed, names)))
