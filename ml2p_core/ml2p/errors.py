"""Exceptions raised by ML2P.

Every error ML2P raises for bad input derives from :class:`ML2PError`, and its
message names what is wrong (the file and config key, the plugin, the field),
so a command-line user gets one line that says what to fix.

The exceptions ML2P 0.6 defined here keep their names and signatures:
:class:`NamingError`, :class:`ConfigError`, :class:`LocalEnvError`,
:class:`APIError` (``APIError(message, details=None, status_code=None)``),
:class:`ServerError` and :class:`ClientError`.
"""

from __future__ import annotations

import errno
import json
import os
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


class ConfigFileNotFoundError(ConfigError, FileNotFoundError):
    """The ``ml2p.yml`` file does not exist.

    A :class:`ConfigError` whose message names the file; it is also the
    :class:`FileNotFoundError` ML2P 0.6 raised (``errno`` is ``ENOENT`` and
    ``filename`` the file), so either ``except`` clause catches it.

    :param str path: The configuration file.
    """

    def __init__(self, path: str):
        super().__init__("configuration file not found", path=path)
        self.errno = errno.ENOENT
        self.strerror = os.strerror(errno.ENOENT)
        self.filename = path

    def __str__(self) -> str:
        # OSError would format "[Errno 2] ..."; keep ConfigError's message.
        return str(self.args[0])

    def __reduce__(self) -> Any:
        return (type(self), (self.path,))


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
    """Hyperparameters cannot be encoded within SageMaker's limits, or decoded.

    :mod:`ml2p.hyperparameters` also offers it under its ML2P 0.6 name,
    ``HyperParameterEncodingError``.
    """


class HyperparameterDecodeError(HyperparameterError, json.JSONDecodeError):
    """A hyperparameter's value is not JSON; the message names the key.

    Also a :class:`json.JSONDecodeError` (as ML2P 0.6's ``decode`` raised), with
    its ``msg``, ``doc`` and ``pos``.
    """


class HyperparameterTypeError(HyperparameterError, TypeError):
    """Hyperparameters to decode have the wrong type: a value that is not a string,
    or a key holding a value where another key needs nested keys.

    Also a :class:`TypeError`, as ML2P 0.6's ``decode`` raised for these.
    """


class NamingError(ML2PError, ValueError):
    """A name does not follow ML2P's naming convention; the message states the rule.

    Also importable as ``ml2p.naming.NamingError``.
    """


class LocalEnvError(ML2PError):
    """Something specific to a local environment (:class:`ml2p.core.LocalEnv`) went wrong.

    For example, its folder does not exist, or a download was asked for
    without a boto3 session.
    """


class APIError(ML2PError):
    """An error a predictor raises to answer an invocation with a given HTTP status.

    The server answers with the status and the JSON body
    ``{"message": message, "details": details}``.

    :param str message: A human readable description of the error.
    :param details: Extra JSON-serialisable details returned to the caller:
        ``None`` becomes ``[]`` and a string ``s`` becomes ``[s]``; a list
        or a dict is kept as it is.
    :param int status_code: The HTTP status to answer with (default: the
        class's :attr:`code`, 500 here).

    ``code`` and ``status_code`` are the same number; ``message`` and
    ``details`` are kept as attributes.
    """

    #: The HTTP status answered when none is given.
    code = 500

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A subclass may set its default status as ``status_code = 415``
        # (as ML2P 0.7 previews did) or ``code = 415`` (as ML2P 0.6 did).
        status = cls.__dict__.get("status_code")
        if isinstance(status, int):
            cls.code = status
            del cls.status_code

    def __init__(self, message: str, details: Any = None, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        if details is None:
            details = []
        elif isinstance(details, str):
            details = [details]
        self.details = details
        if status_code is not None:
            self.code = int(status_code)

    @property
    def status_code(self) -> int:
        """The HTTP status to answer with (the same as :attr:`code`)."""
        return self.code

    @status_code.setter
    def status_code(self, value: int) -> None:
        self.code = int(value)

    def to_dict(self) -> dict:
        """Return the JSON body that answers the request: ``{"message", "details"}``."""
        return {"message": self.message, "details": self.details}


class ServerError(APIError):
    """The server failed while processing a request: answered with 500 by default."""

    code = 500


class ClientError(APIError):
    """The caller sent bad input: answered with a 4xx status (400 by default)."""

    code = 400
