"""Recorded predictions as data: read, export, replay and compare them.

ML2P records every prediction of a model version (``record_invokes``) in
its project's S3 folder, in one of two layouts:

``object`` (ML2P 0.6's, the default)
    one object per datum, ``predictions/<model_version>/<record id>.json``,
    holding ``{"input": datum, "result": prediction}``;
``capture``
    SageMaker's endpoint data capture format: JSON Lines files under
    ``predictions/capture/<model_version>/<variant>/yyyy/mm/dd/hh/``, one
    line per request with the request and response bodies as they were
    received and sent (see :mod:`ml2p.record_format`).

:class:`RecordReader` (or :func:`read_records`) reads either, or both, as
:class:`Record` s (``id``, ``input``, ``prediction``, ``time``, ``key``),
streaming, concurrently and in a stable order. :mod:`ml2p.records.replay`
sends recorded inputs to another model version and reports how its
predictions differ (:mod:`ml2p.records.diff`). ``ml2p predictions`` is the
command line of all this.

Importing this package is cheap: boto3 is imported when a reader first
talks to S3.
"""

from __future__ import annotations

from ml2p.record_format import CaptureFormatError
from ml2p.records.reader import (
    LAYOUTS,
    Exchange,
    ReaderStats,
    Record,
    RecordFormatError,
    RecordReader,
    RecordRef,
    read_records,
)

__all__ = [
    "LAYOUTS",
    "CaptureFormatError",
    "Exchange",
    "ReaderStats",
    "Record",
    "RecordFormatError",
    "RecordReader",
    "RecordRef",
    "read_records",
]
