"""``ml2p predictions``: read, export, replay and compare a model version's recorded predictions."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import IO, Any, Callable

import click

from ml2p.cli.context import Project, pass_project
from ml2p.cli.errors import CommandError
from ml2p.cli.output import progress
from ml2p.cli.params import checked_name, local_folder_option
from ml2p.errors import ML2PError

__all__ = ["predictions"]

LAYOUT_CHOICES = ("auto", "object", "capture")


def _when(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from ml2p.records.times import parse_when

    try:
        return parse_when(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _selection(func: Callable[..., Any]) -> Callable[..., Any]:
    """MODEL_VERSION, --full-name, --layout, --since and --until."""
    decorators = [
        click.argument("model_version", metavar="MODEL_VERSION"),
        click.option(
            "--full-name",
            is_flag=True,
            help="MODEL_VERSION is the full name the records were written under "
            "(e.g. <project>-local, as `ml2p local serve` records), not a model name "
            "to prefix with the project.",
        ),
        click.option(
            "--layout",
            type=click.Choice(LAYOUT_CHOICES),
            default="auto",
            show_default=True,
            help="The record layout to read (auto: every layout that holds records).",
        ),
        click.option(
            "--since",
            callback=_when,
            default=None,
            metavar="TIME",
            help="Only records from TIME on: ISO 8601 UTC (2026-12-01, 2026-12-01T08:30Z) "
            "or an age (90m, 12h, 7d).",
        ),
        click.option(
            "--until", callback=_when, default=None, metavar="TIME", help="Only records before TIME"
        ),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def _limit(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--limit", type=click.IntRange(min=0), default=None, help="At most this many records."
    )(func)


def _model_version(prj: Project, name: str, full_name: bool) -> str:
    """The model version records are written under: ``<project>-<model>-X-Y-Z``."""
    if full_name:
        if not name or "/" in name:
            raise ML2PError(f"invalid model version {name!r}")
        return name
    try:
        checked_name("model", name)
    except ML2PError as exc:
        raise ML2PError(
            f"{exc}; to read records written under another name, give it with --full-name"
        ) from None
    return prj.full_name(name)


def _reader(prj: Project, name: str, full_name: bool, layout: str) -> Any:
    """A :class:`ml2p.records.RecordReader` of the model version; an error if it has no records."""
    from ml2p.records import RecordReader

    version = _model_version(prj, name, full_name)
    prj.target("model version", version)
    reader = RecordReader(prj.s3, version, layout=layout, client=prj.s3_client)
    if not reader.layouts():
        raise ML2PError(
            f"no records of model version {version!r}: nothing under "
            f"{reader.url(reader.object_folder)} nor {reader.url(reader.capture_folder)}"
        )
    return reader


@contextlib.contextmanager
def _piped() -> Iterator[None]:
    """End quietly when stdout's reader goes away (``ml2p predictions cat ... | head``)."""
    try:
        yield
    except BrokenPipeError:
        # Point stdout at /dev/null so that Python's flush at exit does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise click.exceptions.Exit(0) from None


@contextlib.contextmanager
def _output(path: str | None, mode: str = "w") -> Iterator[IO[str]]:
    if path is None or path == "-":
        yield sys.stdout
        return
    try:
        handle = open(path, mode, encoding="utf-8", newline="")
    except OSError as exc:
        raise ML2PError(f"cannot write {path!r}: {exc.strerror}") from exc
    with handle:
        yield handle


@click.group("predictions")
def predictions() -> None:
    """Read, export, replay and compare a model version's recorded predictions.

    MODEL_VERSION is a model name (<model>-X-Y-Z[-dev]), prefixed with the
    project as the records' folder is, or with --full-name the folder's name.
    """


@predictions.command("ls")
@_selection
@_limit
@pass_project
def predictions_ls(
    prj: Project,
    model_version: str,
    full_name: bool,
    layout: str,
    since: str | None,
    until: str | None,
    limit: int | None,
) -> None:
    """List records: one JSON line each, {"id", "time", "key"}, oldest first.

    Records of the object layout are not read for this (their names hold
    their ids and times).
    """
    from ml2p.records.export import jsonl_line

    reader = _reader(prj, model_version, full_name, layout)
    out = sys.stdout
    with _piped():
        for ref in reader.refs(since, until, limit):
            out.write(jsonl_line({"id": ref.id, "time": ref.time, "key": ref.key}) + "\n")


@predictions.command("cat")
@_selection
@_limit
@pass_project
def predictions_cat(
    prj: Project,
    model_version: str,
    full_name: bool,
    layout: str,
    since: str | None,
    until: str | None,
    limit: int | None,
) -> None:
    """Print records as JSON Lines: {"id", "input", "prediction"}, oldest first."""
    from ml2p.records.export import jsonl_line

    reader = _reader(prj, model_version, full_name, layout)
    out = sys.stdout
    with _piped():
        for record in reader.records(since, until, limit):
            line = {"id": record.id, "input": record.input, "prediction": record.prediction}
            out.write(jsonl_line(line) + "\n")


@predictions.command("export")
@_selection
@_limit
@click.option(
    "--format",
    "format_",
    type=click.Choice(["jsonl", "csv"]),
    default="jsonl",
    show_default=True,
    help="jsonl: {id, time, input, prediction} per line; csv: a column per field.",
)
@click.option("--out", "out", default=None, metavar="FILE", help="Write here (default: stdout).")
@pass_project
def predictions_export(
    prj: Project,
    model_version: str,
    full_name: bool,
    layout: str,
    since: str | None,
    until: str | None,
    limit: int | None,
    format_: str,
    out: str | None,
) -> None:
    """Export records as JSON Lines or CSV, with a progress bar on a terminal.

    CSV columns are id, time, input.<field>... and prediction.<field>...
    (nested fields as dotted paths, list items as [i]) found in the first
    1,000 records; fields first seen later go into the last column, _other.
    """
    from ml2p.records.export import write_csv, write_jsonl

    reader = _reader(prj, model_version, full_name, layout)
    write = write_csv if format_ == "csv" else write_jsonl
    with _piped(), _output(out) as handle:
        with progress(None, "exporting records", prj.quiet) as advance:
            count = write(reader.records(since, until, limit), handle, advance)
    if out not in (None, "-"):
        click.echo(f"exported {count} records to {out}", err=True)


@predictions.command("replay")
@_selection
@_limit
@click.option("--to", "url", default=None, metavar="URL", help="A server's URL (/invocations).")
@click.option(
    "--local",
    "local_model",
    default=None,
    metavar="MODEL",
    help="Serve MODEL from --local-folder with `ml2p local serve` on 127.0.0.1 for the replay.",
)
@click.option(
    "--endpoint", default=None, metavar="ENDPOINT", help="A SageMaker endpoint of the project."
)
@local_folder_option
@click.option(
    "--sample",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Replay N requests chosen at random (the same ones for the same --seed).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="The seed of --sample.")
@click.option(
    "--out",
    default=None,
    metavar="FILE",
    help="Write a JSON line per record (id, old, new, changed fields); records already "
    "in FILE are skipped, so a rerun resumes.",
)
@click.option("--html", "html_path", default=None, metavar="FILE", help="Write an HTML report.")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Requests in flight at once.",
)
@click.option(
    "--top",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Most changed records shown per field.",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Numeric changes up to this size do not count.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Seconds to wait for each answer (--to, --local).",
)
@pass_project
def predictions_replay(
    prj: Project,
    model_version: str,
    full_name: bool,
    layout: str,
    since: str | None,
    until: str | None,
    limit: int | None,
    url: str | None,
    local_model: str | None,
    endpoint: str | None,
    local_folder: str,
    sample: int | None,
    seed: int,
    out: str | None,
    html_path: str | None,
    concurrency: int,
    top: int,
    tolerance: float,
    timeout: float,
) -> None:
    """Send recorded inputs to another model version and report what changed.

    The target is --to URL, --local MODEL or --endpoint ENDPOINT. Requests
    of the capture layout are sent as they came (a batch as that batch);
    records of the object layout one by one. The report (on stdout) has, per
    field of the results, how many predictions changed, the deltas of
    numbers (their mean; the max, p50, p90 and p99 of their absolute
    values) and the most changed records. Exits with status 1 if some records could not be sent (run
    again with the same --out to retry just those).
    """
    from ml2p.records import replay as replaying
    from ml2p.records.diff import DiffReport
    from ml2p.records.report import html_page, text_table

    chosen = [name for name, value in (("--to", url), ("--local", local_model),
                                       ("--endpoint", endpoint)) if value]  # fmt: skip
    if len(chosen) != 1:
        raise click.UsageError("give one target: --to URL, --local MODEL or --endpoint ENDPOINT")
    reader = _reader(prj, model_version, full_name, layout)
    report = DiffReport(top=top, tolerance=tolerance)
    done = replaying.load_done(out, report) if out else set()
    exchanges: Any = reader.exchanges(since, until, limit)
    if sample is not None:
        exchanges = replaying.sample(exchanges, sample, seed)

    with contextlib.ExitStack() as stack:
        target: replaying.Target
        if url:
            target = replaying.HTTPTarget(url, timeout=timeout)
        elif local_model:
            server = stack.enter_context(
                replaying.LocalServer(local_model, prj.cfg_path, local_folder)
            )
            target = replaying.HTTPTarget(server.url, timeout=timeout)
            target.name = f"{local_model} served locally ({server.url})"
        else:
            assert endpoint is not None
            prj.target("endpoint", endpoint)
            client = prj.aws_client("sagemaker-runtime")
            target = replaying.EndpointTarget(client, prj.full_name(endpoint))
        stack.callback(target.close)
        handle = stack.enter_context(_output(out, "a")) if out else None
        advance = stack.enter_context(progress(None, "replaying records", prj.quiet))
        replaying.replay(
            exchanges,
            target,
            report,
            concurrency=concurrency,
            done=done,
            write=replaying.write_lines(handle) if handle is not None else None,
            progress=advance,
        )
    click.echo(text_table(report, target.name), nl=False)
    if html_path:
        title = f"{reader.model_version} replayed against {target.name}"
        with _output(html_path) as page:
            page.write(html_page(report, target.name, title))
        click.echo(f"wrote {html_path}", err=True)
    if report.failed:
        raise CommandError(
            f"{report.failed} records could not be replayed: "
            f"{next(iter(report.failure_messages), '')}"
            + ("; run the same command again to retry them" if out else "")
        )
