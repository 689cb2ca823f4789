"""Writing records for the reader tests: the ``object`` layout through the predictor, and
``capture`` files built with :mod:`ml2p.records.capture` from what a predictor answered.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ml2p import plugins
from ml2p.core import SageMakerEnv
from ml2p.record_ids import format_record_id
from ml2p.records import capture
from ml2p.serving.bodies import decode_request, encode_response, media_type, negotiate
from tests.models import MinimalPredictor

BUCKET = "ml2p-test"
S3FOLDER = f"s3://{BUCKET}/proj/"
MODEL_VERSION = "test-proj-minimal-1-0-0"


def predictor(
    tmp_path, cls=MinimalPredictor, recorder=None, pm=None, slope=2, version=None, record=True
):
    """A predictor recording its invocations under ``S3FOLDER`` (unless ``record`` is false)."""
    env = SageMakerEnv(
        str(tmp_path),
        {
            "ML2P_RECORD_INVOKES": "true" if record else "false",
            "ML2P_S3_URL": S3FOLDER,
            "ML2P_MODEL_VERSION": version or MODEL_VERSION,
        },
    )
    p = cls(env, plugin_manager=pm or plugins.make_plugin_manager(load_entry_points=False))
    p.slope = slope
    p.recorder = recorder
    return p


class Request:
    """One request answered by a predictor as the server answers it, ready for a capture line."""

    def __init__(self, p, body: bytes, content_type: str, accept: str = "application/json"):
        kind = media_type(content_type) or "application/json"
        request = decode_request(body, kind)
        answer = p.batch_invoke(request.data) if request.batch else p.invoke(request.data)
        self.response_type = negotiate(accept)
        self.response_body = encode_response(request, answer, self.response_type)
        self.body = body
        self.content_type = content_type
        self.data = request.data if request.batch else [request.data]
        self.predictions = answer if request.batch else [answer]
        self.ids: list[str] | None = None

    def with_ids_of(self, p) -> Request:
        """Store the record ids the predictor names its records with (plugins, own ids)."""
        parts_of = p._recording_plan().parts_of
        self.ids = [
            format_record_id(parts_of(datum, pred))
            for datum, pred in zip(self.data, self.predictions)
        ]
        return self

    def line(self, when: float, event_id: str) -> str:
        return capture.build_line(
            self.body,
            self.content_type,
            self.response_body,
            self.response_type,
            event_id=event_id,
            inference_time=when,
            record_ids=self.ids,
        )


def put_capture(
    s3,
    requests: Sequence[tuple[float, str, Request]],
    model_version: str = MODEL_VERSION,
    variant: str | None = None,
) -> str:
    """Write one capture file of ``(time, event id, request)``; return its key."""
    folder = "proj/" + capture.capture_prefix(model_version, variant)
    key = capture.capture_key(folder, requests[0][0])
    body = "".join(request.line(when, event) + "\n" for when, event, request in requests)
    s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode("utf-8"))
    return key


def hours_ago(hours: float) -> float:
    return time.time() - hours * 3600


def value(record: Any) -> Any:
    """The ``result`` of a record's prediction."""
    return record.prediction["result"]
