"""The media types ML2P reads and writes bodies in: JSON, JSON Lines and CSV.

The server reads requests and writes responses in them
(:mod:`ml2p.serving.bodies`), and the ``capture`` record layout chooses how
to store a body by its media type (:mod:`ml2p.record_format`); both take the
names from here.
"""

from __future__ import annotations

__all__ = ["CSV", "JSON", "JSONLINES_TYPES", "media_type"]

#: The JSON media type: how every body that is not JSON Lines or CSV is read.
JSON = "application/json"
#: The CSV media type.
CSV = "text/csv"
#: The media types of JSON Lines (one JSON value per line), all read alike.
JSONLINES_TYPES = ("application/jsonlines", "application/x-jsonlines", "application/json-lines")


def media_type(header: str) -> str:
    """Return the lower-case media type of a Content-Type value, without parameters."""
    return header.split(";", 1)[0].strip().lower()
