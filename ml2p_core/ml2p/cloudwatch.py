"""Reading the CloudWatch logs SageMaker writes for training jobs and endpoints.

SageMaker ships a container's stdout and stderr to CloudWatch Logs: a training
job's to the log group ``/aws/sagemaker/TrainingJobs``, one stream per instance
named ``<job>/algo-<n>-<time>``; an endpoint's to ``/aws/sagemaker/Endpoints/<endpoint>``.
:func:`log_events` reads a group's events (every page), :func:`follow` keeps
reading until the job ends, and :func:`event_record` is the JSON line
``ml2p ... logs`` prints for each event.

boto3 is not imported here: the caller passes a ``logs`` client.
"""

from __future__ import annotations

import datetime
import re
import time
from collections.abc import Iterator
from typing import Any, Callable

from ml2p.errors import ML2PError

__all__ = [
    "TRAINING_JOB_GROUP",
    "endpoint_group",
    "event_record",
    "follow",
    "log_events",
    "parse_since",
]

#: The log group of every training job.
TRAINING_JOB_GROUP = "/aws/sagemaker/TrainingJobs"

#: FilterLogEvents takes at most this many stream names.
_STREAMS_PER_QUERY = 100

_DURATION = re.compile(r"^(?P<amount>[0-9]+)(?P<unit>[smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def endpoint_group(full_endpoint: str) -> str:
    """Return the log group of an endpoint, ``/aws/sagemaker/Endpoints/<endpoint>``."""
    return f"/aws/sagemaker/Endpoints/{full_endpoint}"


def log_events(
    client: Any, group: str, prefix: str | None = None, start_ms: int | None = None
) -> Iterator[dict[str, Any]]:
    """Yield the events of log group ``group``, oldest first within each page.

    :param client: A boto3 ``logs`` client.
    :param prefix: Only streams whose name starts with it (the streams are listed
        first and named in the query, ``_STREAMS_PER_QUERY`` at a time).
    :param start_ms: Only events at or after this time (milliseconds since the epoch).
    """
    kwargs: dict[str, Any] = {"logGroupName": group}
    if start_ms is not None:
        kwargs["startTime"] = start_ms
    if not prefix:
        yield from _filter(client, kwargs)
        return
    streams = [
        stream["logStreamName"]
        for page in client.get_paginator("describe_log_streams").paginate(
            logGroupName=group, logStreamNamePrefix=prefix
        )
        for stream in page.get("logStreams") or []
    ]
    for first in range(0, len(streams), _STREAMS_PER_QUERY):
        names = streams[first : first + _STREAMS_PER_QUERY]
        yield from _filter(client, {**kwargs, "logStreamNames": names})


def _filter(client: Any, kwargs: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator("filter_log_events").paginate(**kwargs):
        yield from page.get("events") or []


def follow(
    client: Any,
    group: str,
    prefix: str | None,
    running: Callable[[], bool],
    delay: float,
    start_ms: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[dict[str, Any]]:
    """Yield new events every ``delay`` seconds while ``running()``, then the last ones.

    Each event is yielded once: events are read again from the newest time seen,
    and those already yielded are skipped by id.
    """
    seen: dict[str, int] = {}
    since = start_ms
    while True:
        # Asked before reading, so the events written before the end are all read.
        still_running = running()
        for event in log_events(client, group, prefix, since):
            event_id = event.get("eventId") or f"{event['logStreamName']}/{event['timestamp']}"
            if event_id in seen:
                continue
            seen[event_id] = event["timestamp"]
            yield event
        if seen:
            since = max(seen.values())
            # Only events at the newest time can be read again.
            seen = {k: t for k, t in seen.items() if t >= since}
        if not still_running:
            return
        sleep(delay)


def _iso(milliseconds: int) -> str:
    moment = datetime.datetime.fromtimestamp(milliseconds / 1000, datetime.timezone.utc)
    return moment.isoformat().replace("+00:00", "Z")


def event_record(event: dict[str, Any]) -> dict[str, Any]:
    """Return ``{"timestamp", "stream", "message"}`` for a CloudWatch event.

    The timestamp is ISO 8601 in UTC; the message loses its final newline.
    """
    return {
        "timestamp": _iso(event["timestamp"]),
        "stream": event.get("logStreamName"),
        "message": str(event.get("message", "")).rstrip("\n"),
    }


def parse_since(text: str, now: datetime.datetime | None = None) -> int:
    """Return the time ``text`` means, in milliseconds since the epoch.

    ``text`` is a duration back from ``now`` (``30s``, ``10m``, ``2h``, ``1d``) or an
    ISO 8601 time (UTC unless it says otherwise).

    :raises ML2PError: if ``text`` is neither.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    match = _DURATION.match(text.strip())
    if match:
        seconds = int(match["amount"]) * _UNITS[match["unit"]]
        moment = now - datetime.timedelta(seconds=seconds)
    else:
        try:
            moment = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ML2PError(
                f"--since {text!r}: give a duration such as 30s, 10m, 2h or 1d, "
                "or an ISO 8601 time such as 2024-01-31T08:00:00"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.timezone.utc)
    return int(moment.timestamp() * 1000)
