"""Building CloudWatch Embedded Metric Format (EMF) documents.

One document is one JSON object on one line::

    {"_aws": {"Timestamp": <ms since the epoch>,
              "CloudWatchMetrics": [{"Namespace": ...,
                                     "Dimensions": [[<dimension names>]],
                                     "Metrics": [{"Name": ..., "Unit": ...}, ...]}]},
     "<dimension name>": "<value>", ..., "<metric name>": <number>, ...,
     "<property>": <any JSON value>, ...}

CloudWatch Logs extracts each listed metric with the listed dimensions; the
other top-level members are kept in the log event (searchable with Logs
Insights) but are not metrics.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

#: (name, unit, value) of one metric.
Metric = tuple[str, str, float]

#: CloudWatch accepts at most 30 dimensions per set; dimension values are strings.
MAX_DIMENSIONS = 30
#: Dimension values longer than this are cut (CloudWatch's limit is 1024).
MAX_DIMENSION_VALUE = 1024


def document(
    namespace: str,
    dimensions: Mapping[str, str | None],
    metrics: Sequence[Metric],
    properties: Mapping[str, Any] | None = None,
    timestamp_ms: int | None = None,
) -> dict[str, Any]:
    """Return one EMF document.

    :param namespace: The CloudWatch namespace.
    :param dimensions: Dimension names and values, all in one dimension set;
        a ``None`` value is written as ``"unknown"`` (a dimension value must
        be a non-empty string).
    :param metrics: The metrics, as ``(name, unit, value)``.
    :param properties: Extra top-level members (not metrics); they never
        override a dimension or metric of the same name.
    :param timestamp_ms: Milliseconds since the epoch (default: now).
    """
    if len(dimensions) > MAX_DIMENSIONS:
        raise ValueError(f"at most {MAX_DIMENSIONS} dimensions, got {len(dimensions)}")
    doc: dict[str, Any] = dict(properties or {})
    for name, value in dimensions.items():
        doc[name] = (str(value) if value else "unknown")[:MAX_DIMENSION_VALUE]
    for name, _unit, value in metrics:
        doc[name] = value
    doc["_aws"] = {
        "Timestamp": int(time.time() * 1000) if timestamp_ms is None else int(timestamp_ms),
        "CloudWatchMetrics": [
            {
                "Namespace": namespace,
                "Dimensions": [list(dimensions)],
                "Metrics": [{"Name": name, "Unit": unit} for name, unit, _value in metrics],
            }
        ],
    }
    return doc


def dumps(doc: Mapping[str, Any]) -> str:
    """Serialise ``doc`` as one compact JSON line (no newline inside)."""
    # default=str: a property that is not JSON (a Path, say) must not lose the line.
    return json.dumps(doc, separators=(",", ":"), default=str)
