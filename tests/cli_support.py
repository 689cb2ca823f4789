"""Helpers for tests that run the ``ml2p`` command in process."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner, Result


class CliResult:
    """A click ``Result`` read the same way on click 8.1 and 8.2+.

    ``stdout`` and ``stderr`` apart, and ``output`` holding both, as click 8.2
    gives them (click 8.1 keeps stderr apart only without ``output``).
    """

    def __init__(self, result: Result):
        self._result = result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._result, name)

    @property
    def output(self) -> str:
        result = self._result
        if not hasattr(result, "output_bytes"):  # click 8.1: output is stdout alone
            return result.stdout + result.stderr
        return result.output


class _Runner(CliRunner):
    def invoke(self, *args: Any, **kwargs: Any) -> Any:
        return CliResult(super().invoke(*args, **kwargs))


def cli_runner() -> CliRunner:
    """A CliRunner whose results keep stdout and stderr apart, on click 8.1 and 8.2+."""
    try:
        return _Runner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:  # click 8.2 always keeps them apart
        return _Runner()


def parse_docs(text: str) -> list[Any]:
    """Split ML2P 0.6-style output (one pretty JSON document after another)."""
    decoder = json.JSONDecoder()
    docs, pos = [], 0
    text = text.strip()
    while pos < len(text):
        doc, end = decoder.raw_decode(text, pos)
        docs.append(doc)
        pos = end
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return docs


def capture_requests(monkeypatch) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Record (and optionally answer) requests made on the clients ``ml2p.aws`` makes.

    Returns ``(answers, calls)``: put an operation name (``"CreateModel"``)
    in ``answers`` to record its requests in ``calls[name]``; its answer is
    returned instead of calling AWS, unless it is ``None`` (then the request
    still reaches moto) or a callable (called with the request's parameters).
    Used where moto lacks an API or does not return what was sent.
    """
    from ml2p import aws

    calls: dict[str, list[dict[str, Any]]] = {}
    answers: dict[str, Any] = {}
    real_client = aws.client

    def client(service, session_=None, **kw):
        made = real_client(service, session_, **kw)

        def record(params, model, **_):
            if model.name in answers:
                calls.setdefault(model.name, []).append(dict(params))

        def before_call(model, **_):
            answer = answers.get(model.name)
            if answer is None:
                return None
            if callable(answer):  # answers depending on the request's parameters
                answer = answer(calls[model.name][-1])
            http = type("R", (), {"status_code": 200, "headers": {}, "text": ""})()
            return http, answer

        made.meta.events.register("before-parameter-build.*.*", record)
        made.meta.events.register("before-call.*.*", before_call)
        return made

    monkeypatch.setattr(aws, "client", client)
    return answers, calls
