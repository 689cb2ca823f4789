"""Exceptions raised by ML2P.

Every error ML2P raises for bad input derives from :class:`ML2PError`, and its
message names what is wrong (the file and config key, the plugin, the field),
so a command-line user gets one line that says what to fix.
"""

from __future__ import annotations

from typing import Any


class ML2PError(Exception):
    """Base class of the errors ML2P raises on purpose."""


class ConfigError(ML2PError, ValueError):
    """An ``ml2p.yml`` file is missing, unreadable or invalid.

    :param str message: What is wrong.
    :param str path: The configuration file, if known.
    :param str key: The dotted config key at fault (e.g. ``train.vpc_config``).
    """

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None):
        self.message = message
        self.path = path
        self.key = key
        where = []
        if path:
            where.append(str(path))
        if key:
            where.append(f"key {key!r}")
        prefix = f"{': '.join(where)}: " if where else ""
        super().__init__(f"{prefix}{message}")


class PluginError(ML2PError):
    """A plugin failed to import, validate or run; ``plugin`` names it."""

    def __init__(self, plugin: str, message: str):
        self.plugin = plugin
        self.message = message
        super().__init__(f"plugin {plugin!r}: {message}")


class ModelNotFoundError(ML2PError, LookupError):
    """A model reference names neither an ``ml2p.models`` entry point nor an importable class."""


class UnsafePathError(ML2PError, ValueError):
    """An S3 key or archive member would be written outside its target folder."""


class HyperparameterError(ML2PError, ValueError):
    """Hyperparameters cannot be encoded within SageMaker's limits, or decoded."""


class APIError(ML2PError):
    """An error a predictor raises to answer an invocation with a given HTTP status.

    :param str message: A human readable description of the error.
    :param int status_code: The HTTP status to answer with (default: the class's).
    :param dict details: Extra JSON-serialisable details returned to the caller.
    """

    status_code = 500

    def __init__(self, message: str, status_code: int | None = None, details: Any = None):
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = int(status_code)
        self.details = details

    def to_dict(self) -> dict:
        """Return the JSON body that answers the request."""
        body: dict = {"message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


class ClientError(APIError):
    """The caller sent bad input: answered with a 4xx status (400 by default)."""

    status_code = 400
