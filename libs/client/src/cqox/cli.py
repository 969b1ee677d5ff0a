"""The `cqox` command line: upload, watch, confirm, read and download, webhooks, datasets.

Exit codes scripts can use: 0 the analysis completed (or the command succeeded), 2 the analysis
failed or was rejected, 3 it waits for a person to confirm the roles, 4 it is still running
(`status`), 1 the API refused the request or could not be reached, 64 a usage error.
"""

from __future__ import annotations

import json
import os
import sys
import time
import webbrowser
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table
from rich.text import Text

from cqox import render
from cqox.client import Client
from cqox.errors import CqoxError
from cqox.models import Analysis
from cqox.sse import AnalysisEvent

# typer ≥ 0.25 vendors click: reach its usage and base exceptions through a public class.
UsageError: type[Exception] = typer.BadParameter.__mro__[1]
ClickException: type[Exception] = typer.BadParameter.__mro__[2]
EXIT_DONE, EXIT_ERROR, EXIT_FAILED, EXIT_AWAITING, EXIT_RUNNING, EXIT_USAGE = 0, 1, 2, 3, 4, 64

app = typer.Typer(
    name="cqox",
    help="CQOx from a shell: upload a file, follow its analysis, confirm roles, fetch results.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
mapping_app = typer.Typer(help="Confirm or correct the roles the mapping inferred.", no_args_is_help=True)
webhooks_app = typer.Typer(help="Signed webhook subscriptions and their deliveries.", no_args_is_help=True)
datasets_app = typer.Typer(help="Stored datasets, their versions and schemas.", no_args_is_help=True)
app.add_typer(mapping_app, name="mapping")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(datasets_app, name="datasets")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
AnalysisId = Annotated[str, typer.Argument(help="The analysis id.")]


def console(stream: Any) -> Console:
    """A Rich console on `stream`; lines never wrap, and tables get room when it is not a terminal
    (piped output is read by scripts: at least 240 columns, whatever COLUMNS a parent process set)."""
    wide = None if stream.isatty() else max(int(os.environ.get("COLUMNS") or 0), 240)
    return Console(file=stream, highlight=False, soft_wrap=True, width=wide)


@dataclass
class Session:
    """The options every command shares, and the client made from them on first use."""

    options: dict[str, Any] = field(default_factory=dict)
    out: Console = field(default_factory=lambda: console(sys.stdout))
    err: Console = field(default_factory=lambda: console(sys.stderr))
    _client: Client | None = None

    @property
    def client(self) -> Client:
        """The SDK client (arguments, else env, else config file)."""
        if self._client is None:
            self._client = Client(**{k: v for k, v in self.options.items() if v is not None})
        return self._client


def _session(ctx: typer.Context) -> Session:
    session: Session = ctx.ensure_object(Session)
    return session


@app.callback()
def options(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Option(help="Ingest API URL (env CQOX_URL).")] = None,
    api_key: Annotated[
        str | None, typer.Option(help="API key, sent as X-API-Key (env CQOX_API_KEY).")
    ] = None,
    token: Annotated[str | None, typer.Option(help="Bearer token (env CQOX_TOKEN).")] = None,
    notification_url: Annotated[
        str | None, typer.Option(help="Notification API URL, for webhooks (env CQOX_NOTIFICATION_URL).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="Config file (default ~/.config/cqox/config.toml, env CQOX_CONFIG).")
    ] = None,
    profile: Annotated[str | None, typer.Option(help="A [profiles.NAME] table of the config file.")] = None,
) -> None:
    """Where the API is and who you are: options, else CQOX_* variables, else the config file."""
    ctx.obj = Session(
        options={
            "url": url,
            "api_key": api_key,
            "token": token,
            "notification_url": notification_url,
            "config_file": config,
            "profile": profile,
        }
    )


# ---------------------------------------------------------------------------------------------
# Helpers


def print_json(data: Any) -> None:
    """JSON of a model, a list of models or plain data to stdout."""

    def plain(value: Any) -> Any:
        if isinstance(value, BaseModel):
            return value.model_dump(mode="json")
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    sys.stdout.write(json.dumps(plain(data), indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def exit_code(analysis: Analysis) -> int:
    """0 completed, 2 failed or rejected, 3 awaiting confirmation, 4 still running."""
    if analysis.status == "completed":
        return EXIT_DONE
    if analysis.failed:
        return EXIT_FAILED
    if analysis.awaiting_confirmation:
        return EXIT_AWAITING
    return EXIT_RUNNING


def parse_roles(values: Sequence[str]) -> dict[str, Any]:
    """Roles from `role=column` pairs (comma-separated or repeated; a role named twice, or
    `covariates`/`excluded`, gives a list) or a JSON object."""
    roles: dict[str, Any] = {}
    for value in values:
        value = value.strip()
        if value.startswith("{"):
            try:
                roles.update(json.loads(value))
            except json.JSONDecodeError as exc:
                raise typer.BadParameter(f"--roles is not valid JSON: {exc}") from exc
            continue
        for pair in filter(None, (p.strip() for p in value.split(","))):
            role, sep, column = pair.partition("=")
            if not sep or not role.strip() or not column.strip():
                raise typer.BadParameter(f"expected role=column, got {pair!r}")
            role, column = role.strip(), column.strip()
            if role in roles or role in ("covariates", "excluded"):
                existing = roles.get(role, [])
                roles[role] = [*(existing if isinstance(existing, list) else [existing]), column]
            else:
                roles[role] = column
    return roles


def parse_methods(value: str) -> str | list[str]:
    """`auto` or a comma-separated list of method names."""
    value = value.strip()
    if value == "auto":
        return "auto"
    methods = [m.strip() for m in value.split(",") if m.strip()]
    if not methods:
        raise typer.BadParameter("give 'auto' or method names separated by commas")
    return methods


def follow(session: Session, analysis_id: str, *, quiet: bool = False) -> Analysis:
    """Print each event as it happens (unless quiet) until the analysis ends or waits."""
    started = time.monotonic()

    def show(event: AnalysisEvent) -> None:
        session.out.print(render.event_line(event, time.monotonic() - started))

    if not quiet:
        session.out.print("Events (live):")
    return session.client.wait(analysis_id, on_event=None if quiet else show, timeout=None)


def finish(session: Session, analysis: Analysis, as_json: bool) -> None:
    """Print the analysis (tables or JSON) and exit with its code."""
    if as_json:
        print_json(analysis)
    else:
        render.print_results(session.out, analysis, session.client.url)
    raise typer.Exit(exit_code(analysis))


def open_report(session: Session, analysis: Analysis) -> None:
    """Download the HTML report (unless it is on this machine) and open it in a browser."""
    if analysis.report is None:
        session.err.print(f"analysis {analysis.analysis_id} has no report to open ({analysis.status})")
        return
    local = Path(analysis.report.path) if analysis.report.path else None
    if local is None or not local.is_file():
        local = Path(f"cqox-report-{analysis.analysis_id[:8]}.html").resolve()
        session.client.download_report(analysis.analysis_id, "html", local)
    session.err.print(Text(f"opening {local}"))
    webbrowser.open(local.resolve().as_uri())


# ---------------------------------------------------------------------------------------------
# Analyses


@app.command()
def upload(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV/TSV (.gz/.zip), JSON, NDJSON, Parquet, Arrow, Excel.")],
    name: Annotated[str | None, typer.Option(help="Dataset name (default: the file's stem).")] = None,
    methods: Annotated[str, typer.Option(help="'auto' or methods, e.g. ols,ipw,psm.")] = "auto",
    roles: Annotated[
        list[str] | None,
        typer.Option(help="role=column pairs, e.g. treatment=coupon,outcome=spend (or a JSON object)."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for the methods that draw at random.")] = None,
    encoding: Annotated[str | None, typer.Option(help="Text encoding (detected when absent).")] = None,
    sheet: Annotated[str | None, typer.Option(help="Excel sheet name or 0-based index.")] = None,
    allow_breaking: Annotated[
        bool, typer.Option(help="Accept a version that removes or retypes columns.")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow the analysis live and print its results.")
    ] = False,
    open_: Annotated[bool, typer.Option("--open", help="Open the HTML report when it is ready.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Upload a file as a new dataset version and start its analysis."""
    session = _session(ctx)
    if not file.is_file():
        raise typer.BadParameter(f"no such file: {file}", param_hint="FILE")
    spec: dict[str, Any] = {"methods": parse_methods(methods)}
    if roles:
        spec["roles"] = parse_roles(roles)
    if seed is not None:
        spec["seed"] = seed
    size = file.stat().st_size
    with Progress(
        TextColumn("[bold]uploading[/] {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=session.err,
        disable=as_json,
        transient=False,
    ) as bar:
        task = bar.add_task(file.name, total=size)
        created = session.client.upload(
            file,
            name=name,
            analysis=spec,
            encoding=encoding,
            sheet=sheet,
            allow_breaking=allow_breaking,
            progress=lambda sent, total: bar.update(task, completed=sent, total=total),
        )
    if not as_json:
        session.out.print(
            Text(
                f"dataset {created.dataset_id} v{created.version} ({created.rows} rows × "
                f"{len(created.columns)} columns, {created.format}), analysis {created.analysis_id}"
            )
        )
        for note in created.notes:
            session.out.print(Text(f"  note: {note}"))
    if not wait and not open_:
        if as_json:
            print_json(created)
        return
    analysis = follow(session, created.analysis_id, quiet=as_json)
    if open_:
        open_report(session, analysis)
    finish(session, analysis, as_json)


@app.command()
def status(ctx: typer.Context, analysis_id: AnalysisId, as_json: JsonOption = False) -> None:
    """The analysis now; exit 0 completed, 2 failed, 3 awaiting confirmation, 4 running."""
    session = _session(ctx)
    finish(session, session.client.get(analysis_id), as_json)


@app.command()
def watch(
    ctx: typer.Context,
    analysis_id: AnalysisId,
    after: Annotated[int, typer.Option(help="Show only events after this sequence number.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Follow an analysis live until it ends or waits for a confirmation, then print its results."""
    session = _session(ctx)
    started = time.monotonic()

    def show(event: AnalysisEvent) -> None:
        session.out.print(render.event_line(event, time.monotonic() - started))

    if not as_json:
        session.out.print("Events (live):")
    analysis = session.client.wait(
        analysis_id, on_event=None if as_json else show, timeout=None, last_event_id=after
    )
    finish(session, analysis, as_json)


@app.command()
def report(
    ctx: typer.Context,
    analysis_id: AnalysisId,
    format_: Annotated[str, typer.Option("--format", "-f", help="html, pdf or json.")] = "html",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Where to write it.")] = None,
    open_: Annotated[bool, typer.Option("--open", help="Open it once written.")] = False,
) -> None:
    """Download the report (HTML or PDF) or the analysis as JSON."""
    session = _session(ctx)
    if format_ not in ("html", "pdf", "json"):
        raise typer.BadParameter("choose html, pdf or json", param_hint="--format")
    target = output or Path(f"cqox-report-{analysis_id[:8]}.{format_}")
    written = session.client.download_report(analysis_id, format_, target)  # type: ignore[arg-type]
    assert isinstance(written, Path)
    session.out.print(Text(f"{written} ({written.stat().st_size:,} bytes)"))
    if open_:
        webbrowser.open(written.resolve().as_uri())


@app.command()
def estimates(ctx: typer.Context, analysis_id: AnalysisId, as_json: JsonOption = False) -> None:
    """The estimates of an analysis, one row per method."""
    session = _session(ctx)
    analysis = session.client.get(analysis_id)
    if as_json:
        print_json(analysis.estimates)
        return
    session.out.print(render.estimates_table(analysis))


@app.command()
def gates(ctx: typer.Context, analysis_id: AnalysisId, as_json: JsonOption = False) -> None:
    """The quality gates of an analysis (data and causal)."""
    session = _session(ctx)
    found = session.client.gates(analysis_id)
    if as_json:
        print_json(found)
        return
    session.out.print(render.gates_table(found))


@app.command()
def artifacts(ctx: typer.Context, analysis_id: AnalysisId, as_json: JsonOption = False) -> None:
    """The report's artifacts (figures, HTML, PDF) by name."""
    session = _session(ctx)
    found = session.client.artifacts(analysis_id)
    if as_json:
        print_json(found)
        return
    _table(session, ("name", "media type"), [(a.name, a.media_type) for a in found])


# Columns holding ids a user copies into the next command: never shortened to fit the terminal.
IDENTIFIERS = frozenset({"id", "analysis", "dataset", "delivery"})


def _table(session: Session, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [["—" if v is None else str(v) for v in row] for row in rows]
    table = Table(show_edge=False, pad_edge=False)
    for i, column in enumerate(columns):
        if column in IDENTIFIERS:
            widest = max((len(row[i]) for row in cells), default=0)
            table.add_column(column, no_wrap=True, min_width=max(widest, len(column)))
        else:
            table.add_column(column)
    for row in cells:
        table.add_row(*row)
    session.out.print(table)


# ---------------------------------------------------------------------------------------------
# Mapping


@mapping_app.command("confirm")
def mapping_confirm(
    ctx: typer.Context,
    dataset_id: Annotated[str, typer.Argument(help="The dataset whose roles to confirm.")],
    treatment: Annotated[str | None, typer.Option(help="Treatment column.")] = None,
    outcome: Annotated[str | None, typer.Option(help="Outcome column.")] = None,
    unit: Annotated[str | None, typer.Option(help="Unit id column.")] = None,
    time_: Annotated[str | None, typer.Option("--time", help="Time column.")] = None,
    covariates: Annotated[str | None, typer.Option(help="Covariate columns, comma-separated.")] = None,
    roles: Annotated[list[str] | None, typer.Option(help="Other role=column pairs.")] = None,
    analysis_id: Annotated[
        str | None, typer.Option("--analysis", help="The analysis to continue (default: the latest).")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the analysis and print its results.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Confirm the inferred roles (no options) or correct them; the waiting analysis continues."""
    session = _session(ctx)
    given = parse_roles(roles or [])
    for role, column in (("treatment", treatment), ("outcome", outcome), ("unit", unit), ("time", time_)):
        if column:
            given[role] = column
    if covariates:
        given["covariates"] = [c.strip() for c in covariates.split(",") if c.strip()]
    confirmed = session.client.confirm_mapping(dataset_id, given, analysis_id=analysis_id)
    if not wait:
        if as_json:
            print_json(confirmed)
        else:
            verb = (
                "continues"
                if confirmed.continues
                else f"re-runs (replacing {confirmed.replaces_analysis_id})"
            )
            session.out.print(Text(f"roles confirmed; analysis {confirmed.analysis_id} {verb}"))
            for role, column in confirmed.roles.items():
                session.out.print(Text(f"  {role:<12} {column}"))
        return
    finish(session, follow(session, confirmed.analysis_id, quiet=as_json), as_json)


# ---------------------------------------------------------------------------------------------
# Webhooks


@webhooks_app.command("add")
def webhooks_add(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="http(s) URL that receives a signed POST per event.")],
    event: Annotated[
        list[str] | None, typer.Option(help="Event type (repeatable); default: report, failure, rejection.")
    ] = None,
    analysis_id: Annotated[
        str | None, typer.Option("--analysis", help="Only this analysis's events.")
    ] = None,
    secret: Annotated[str | None, typer.Option(help="Signing secret (generated when absent).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Register a webhook; the signing secret is shown once."""
    session = _session(ctx)
    sub = session.client.create_webhook(url, event_types=event, analysis_id=analysis_id, secret=secret)
    if as_json:
        print_json(sub)
        return
    session.out.print(Text(f"webhook {sub.id} → {sub.url} for {', '.join(sub.event_types)}"))
    session.out.print(Text(f"  secret (shown once): {sub.secret}"))


@webhooks_app.command("list")
def webhooks_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """The tenant's webhooks."""
    session = _session(ctx)
    subs = session.client.webhooks()
    if as_json:
        print_json(subs)
        return
    rows = [(s.id, s.url, ", ".join(s.event_types), s.analysis_id or "all", s.active) for s in subs]
    _table(session, ("id", "url", "events", "analysis", "active"), rows)


@webhooks_app.command("deliveries")
def webhooks_deliveries(
    ctx: typer.Context,
    subscription_id: Annotated[str, typer.Argument(help="The webhook's id.")],
    as_json: JsonOption = False,
) -> None:
    """Deliveries of a webhook, with the status code of every attempt."""
    session = _session(ctx)
    found = session.client.deliveries(subscription_id)
    if as_json:
        print_json(found)
        return
    rows = [
        (
            d.id,
            d.event_type,
            d.analysis_id,
            d.status,
            " ".join(str(a.status_code or a.error or "—") for a in d.attempts),
        )
        for d in found
    ]
    _table(session, ("delivery", "event", "analysis", "status", "attempts"), rows)


@webhooks_app.command("remove")
def webhooks_remove(
    ctx: typer.Context, subscription_id: Annotated[str, typer.Argument(help="The webhook's id.")]
) -> None:
    """Deactivate a webhook."""
    session = _session(ctx)
    session.client.delete_webhook(subscription_id)
    session.out.print(Text(f"webhook {subscription_id} removed"))


# ---------------------------------------------------------------------------------------------
# Datasets


@datasets_app.command("list")
def datasets_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Your datasets, newest first."""
    session = _session(ctx)
    found = session.client.datasets(limit=limit)
    if as_json:
        print_json(found)
        return
    rows = [(d.dataset_id, d.name, d.latest_version, d.created_at) for d in found]
    _table(session, ("dataset", "name", "latest version", "created"), rows)


@datasets_app.command("versions")
def datasets_versions(
    ctx: typer.Context,
    dataset_id: Annotated[str, typer.Argument(help="The dataset id.")],
    as_json: JsonOption = False,
) -> None:
    """Every version of a dataset with its schema change."""
    session = _session(ctx)
    found = session.client.versions(dataset_id)
    if as_json:
        print_json(found)
        return

    def change(diff: dict[str, Any] | None) -> str:
        if not diff:
            return ""
        parts = [f"+{', '.join(diff.get('added', []))}" if diff.get("added") else ""]
        parts.append(f"-{', '.join(diff.get('removed', []))}" if diff.get("removed") else "")
        parts.append("breaking" if diff.get("breaking") else "")
        return " ".join(p for p in parts if p)

    rows = [
        (v.version, v.filename, v.format, v.rows, len(v.columns), change(v.schema_diff))
        for v in found.versions
    ]
    _table(session, ("version", "file", "format", "rows", "columns", "change"), rows)


@datasets_app.command("schema")
def datasets_schema(
    ctx: typer.Context,
    dataset_id: Annotated[str, typer.Argument(help="The dataset id.")],
    version: Annotated[int | None, typer.Option(help="Version (default: the latest).")] = None,
    as_json: JsonOption = False,
) -> None:
    """The registered schema of a version: columns, types, missing share."""
    session = _session(ctx)
    found = session.client.schema(dataset_id, version)
    if as_json:
        print_json(found)
        return
    profiles = {c["name"]: c for c in (found.profile or {}).get("columns", [])}
    rows = [
        (
            c["name"],
            c.get("dtype"),
            render.num(profiles.get(c["name"], {}).get("missing_share")),
            profiles.get(c["name"], {}).get("distinct_count"),
        )
        for c in found.columns
    ]
    session.out.print(Text(f"{found.name} v{found.version} ({found.format})"))
    _table(session, ("column", "type", "missing", "distinct"), rows)


# ---------------------------------------------------------------------------------------------
# Entry point


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code (API errors → 1, usage errors → 64)."""
    command = typer.main.get_command(app)
    err = console(sys.stderr)
    try:
        result = command.main(
            args=list(argv) if argv is not None else None, prog_name="cqox", standalone_mode=False
        )
    except UsageError as exc:
        exc.show()  # type: ignore[attr-defined]
        return EXIT_USAGE
    except typer.Abort:
        err.print("aborted")
        return 130
    except ClickException as exc:
        exc.show()  # type: ignore[attr-defined]
        return EXIT_ERROR
    except CqoxError as exc:
        err.print(Text(f"cqox: {exc}", style="red"))
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    return result if isinstance(result, int) else EXIT_DONE


def main() -> None:
    """Entry point of the `cqox` command."""
    raise SystemExit(run())
