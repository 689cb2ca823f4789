"""Helpers for tests that run the ``ml2p`` command in process."""

from __future__ import annotations

import json
from typing import Any, List

from click.testing import CliRunner


def separate_runner() -> CliRunner:
    """A CliRunner whose results keep stdout and stderr apart (click 8.1 and 8.2+)."""
    try:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:  # click 8.2 always keeps them apart
        return CliRunner()


def parse_docs(text: str) -> List[Any]:
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
