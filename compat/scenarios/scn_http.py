"""The HTTP answers of both prediction servers to the same requests.

Status codes and JSON bodies (metadata timestamps normalised) for single
data, batches, an empty batch, malformed JSON, predictors raising
``ClientError``/``APIError`` with details or an unexpected ``KeyError``,
``/ping``, ``/execution-parameters``, and a predictor whose ``batch_invoke``
returns 0.6's ``{"predictions": [...]}``; then the S3 records written with
``record_invokes``.
"""

from __future__ import annotations

import os

from observe import PROJECT, S3FOLDER, make_bucket, run, s3_state
from serving import serve_and_request

VERSION = "compat-proj-single-1-0-0"

REQUESTS = [
    ("ping", "GET", "/ping", None, None),
    ("execution-parameters", "GET", "/execution-parameters", None, None),
    ("single", "POST", "/invocations", {"x": 3}, None),
    ("batch", "POST", "/invocations", {"instances": [{"x": 1}, {"x": 2}]}, None),
    ("empty-batch", "POST", "/invocations", {"instances": []}, None),
    ("malformed-json", "POST", "/invocations", b"{not json", None),
    ("empty-body", "POST", "/invocations", b"", None),
    ("client-error", "POST", "/invocations", {"raise": "client"}, None),
    ("api-error", "POST", "/invocations", {"raise": "api"}, None),
    ("key-error", "POST", "/invocations", {"raise": "key"}, None),
    (
        "batch-with-client-error",
        "POST",
        "/invocations",
        {"instances": [{"x": 1}, {"raise": "client"}]},
        None,
    ),
    ("json-list-body", "POST", "/invocations", [1, 2], None),
    ("text-plain-json", "POST", "/invocations", {"x": 5}, "text/plain"),
    ("unknown-path", "GET", "/nope", None, None),
    ("get-invocations", "GET", "/invocations", None, None),
    ("ping-after-errors", "GET", "/ping", None, None),
]

PREDICTIONS_REQUESTS = [
    ("batch", "POST", "/invocations", {"instances": [{"x": 1}, {"x": 2}]}, None),
    ("single", "POST", "/invocations", {"x": 4}, None),
]


def serving_env(record):
    return {
        "ML2P_MODEL_VERSION": VERSION,
        "ML2P_PROJECT": PROJECT,
        "ML2P_S3_URL": S3FOLDER,
        "ML2P_RECORD_INVOKES": "true" if record else "false",
    }


def ml_folder(obs, name):
    ml = os.path.join(obs.work, name)
    os.makedirs(os.path.join(ml, "model"))
    return ml


def prepare(obs):
    make_bucket()


def answers(obs):
    ml = ml_folder(obs, "single")
    out, facts = serve_and_request("compat_models.SingleModel", ml, serving_env(True), REQUESTS)
    for label, result in out.items():
        obs.record(f"http/{label}", result)
    obs.record("_http/server", facts)
    obs.record("records", s3_state())


def predictions_passthrough(obs):
    ml = ml_folder(obs, "predictions")
    out, facts = serve_and_request(
        "compat_models.PredictionsModel", ml, serving_env(False), PREDICTIONS_REQUESTS
    )
    for label, result in out.items():
        obs.record(f"http-predictions-model/{label}", result)
    obs.record("_http-predictions-model/server", facts)


if __name__ == "__main__":
    run(prepare, answers, predictions_passthrough)
