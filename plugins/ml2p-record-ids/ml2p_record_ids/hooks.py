"""The hook implementations of ml2p-record-ids (the ``ml2p-record-ids`` entry point).

* ``ml2p_record_invoke_id`` (plain): returns the ``(key, value)`` pairs of
  the configured input fields; ML2P appends them, in order, after the
  model's own parts (``ts`` and ``uuid`` by default), so a record is stored
  at ``predictions/<model_version>/ts-...--uuid-...--customer_id-42.json``.
* ``ml2p_setup`` (plain): checks ``ML2P_RECORD_ID_FIELDS`` before the model
  loads, so a bad value fails the server's start, not each recorded request.
"""

from __future__ import annotations

from typing import Any

from ml2p import hookimpl
from ml2p_record_ids import fields


@hookimpl
def ml2p_setup(predictor: Any) -> None:
    fields.configured_fields()


@hookimpl
def ml2p_record_invoke_id(datum: Any) -> list[tuple[str, str]] | None:
    return fields.id_parts(fields.configured_fields(), datum) or None
