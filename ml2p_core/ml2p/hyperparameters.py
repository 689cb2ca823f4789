"""Encode nested settings as SageMaker hyperparameters, and decode them again.

SageMaker passes training hyperparameters as a flat map from strings to
strings, with at most :data:`MAX_KEYS` entries, keys of at most
:data:`MAX_KEY_LENGTH` characters and values of at most :data:`MAX_VALUE_LENGTH`
characters. ML2P stores nested settings there by joining the keys of nested
dictionaries with ``"."`` and JSON-encoding each leaf value::

    >>> encode({"ML2P_ENV": {"ML2P_PROJECT": "p"}, "epochs": 3})
    {'ML2P_ENV.ML2P_PROJECT': '"p"', 'epochs': '3'}
    >>> decode({"ML2P_ENV.ML2P_PROJECT": '"p"', "epochs": "3"})
    {'ML2P_ENV': {'ML2P_PROJECT': 'p'}, 'epochs': 3}

For the inputs ML2P 0.6 accepted, :func:`encode` and :func:`decode` give 0.6's
results, with two exceptions where 0.6 lost settings: an empty nested mapping
is kept (encoded as ``'{}'``; 0.6 dropped its key), and a value that is both
set and nested (``"a"`` and ``"a.b"``) is refused (0.6 failed, or kept only one of them).
Errors are 0.6's too: :func:`decode` raises a :class:`json.JSONDecodeError` for
a value that is not JSON and a :class:`TypeError` for conflicting keys, each
also a :class:`~ml2p.errors.HyperparameterError` naming the key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ml2p.errors import (
    HyperparameterDecodeError,
    HyperparameterError,
    HyperparameterTypeError,
)
from ml2p.variables import ML2P_ENV

#: The name ML2P 0.6 gave :class:`ml2p.errors.HyperparameterError`.
HyperParameterEncodingError = HyperparameterError

__all__ = [
    "MAX_KEYS",
    "MAX_KEY_LENGTH",
    "MAX_VALUE_LENGTH",
    "SEPARATOR",
    "HyperParameterEncodingError",
    "check_reserved",
    "decode",
    "encode",
]

#: The largest number of hyperparameters SageMaker accepts for a training job.
MAX_KEYS = 100
#: The longest hyperparameter key, in characters, SageMaker accepts.
MAX_KEY_LENGTH = 256
#: The longest hyperparameter value, in characters, SageMaker accepts.
MAX_VALUE_LENGTH = 256
#: The string that joins the keys of nested dictionaries.
SEPARATOR = "."


def _describe(parents: tuple[str, ...], key: Any) -> str:
    """Name a key for an error message, including the path of its parents."""
    if parents:
        return f"key {key!r} (under {SEPARATOR.join(parents)!r})"
    return f"key {key!r}"


def _flatten(
    params: Mapping[Any, Any],
    parents: tuple[str, ...],
    out: dict[str, str],
    active: list[int],
) -> None:
    """Add the encoded leaves of ``params`` (found under ``parents``) to ``out``.

    ``active`` holds the ``id`` of every mapping being flattened, to refuse
    mappings that contain themselves.
    """
    for key, value in params.items():
        if not isinstance(key, str):
            raise HyperparameterError(
                f"hyperparameter {_describe(parents, key)} is a {type(key).__name__}, not a str"
            )
        if SEPARATOR in key:
            raise HyperparameterError(
                f"hyperparameter {_describe(parents, key)} contains {SEPARATOR!r}, "
                "which separates nested keys"
            )
        path = (*parents, key)
        if isinstance(value, Mapping) and value:
            if id(value) in active:
                raise HyperparameterError(
                    f"hyperparameter {_describe(parents, key)} contains itself"
                )
            active.append(id(value))
            _flatten(value, path, out, active)
            active.pop()
            continue
        flat_key = SEPARATOR.join(path)
        if len(flat_key) > MAX_KEY_LENGTH:
            raise HyperparameterError(
                f"hyperparameter key {flat_key!r} is {len(flat_key)} characters long, "
                f"more than the limit of {MAX_KEY_LENGTH}"
            )
        try:
            encoded = json.dumps(dict(value) if isinstance(value, Mapping) else value)
        except (TypeError, ValueError) as err:
            raise HyperparameterError(
                f"hyperparameter {flat_key!r} cannot be encoded as JSON: {err}"
            ) from None
        if len(encoded) > MAX_VALUE_LENGTH:
            raise HyperparameterError(
                f"hyperparameter {flat_key!r}: its encoded value is {len(encoded)} characters "
                f"long, more than the limit of {MAX_VALUE_LENGTH}"
            )
        out[flat_key] = encoded


def encode(params: Mapping[str, Any]) -> dict[str, str]:
    """Flatten nested settings into SageMaker hyperparameters.

    Each non-empty nested mapping is flattened: its keys are joined to the keys
    of its parents with ``"."``, so ``{"a": {"b": 1}}`` becomes ``{"a.b": "1"}``.
    Every other value (a leaf, including an empty mapping) is encoded with
    :func:`json.dumps`, so strings are quoted (``"p"`` becomes ``'"p"'``) and
    numbers, booleans, ``None`` and lists keep their JSON types. An empty mapping
    is encoded as ``'{}'``. ``NaN`` and infinite floats are written as Python's
    :mod:`json` writes them (``NaN``, ``Infinity``, ``-Infinity``), as in ML2P 0.6,
    and :func:`decode` reads them back. Keys may be empty (``{"a": {"": 1}}``
    becomes ``{"a.": "1"}``). Tuples are encoded as JSON lists (and so decode as
    lists). The result keeps the order of ``params``.

    :param params: The settings, a mapping from keys to JSON-serialisable
        values or to nested mappings of the same kind.
    :returns: A new dict from dotted keys to JSON-encoded values.
    :raises HyperparameterError: naming the key, if a key is not a ``str`` or
        contains ``"."``; if a value cannot be encoded as JSON; if
        a mapping contains itself; if a dotted key is longer than
        :data:`MAX_KEY_LENGTH` characters or an encoded value is longer than
        :data:`MAX_VALUE_LENGTH` characters (the message gives the length and
        the limit); or, giving the count, if there are more than
        :data:`MAX_KEYS` dotted keys.
    """
    if not isinstance(params, Mapping):
        raise HyperparameterError(
            f"hyperparameters must be a mapping, not a {type(params).__name__}"
        )
    out: dict[str, str] = {}
    _flatten(params, (), out, [id(params)])
    if len(out) > MAX_KEYS:
        raise HyperparameterError(
            f"{len(out)} hyperparameters after flattening nested keys, "
            f"more than the limit of {MAX_KEYS}"
        )
    return out


def check_reserved(params: Mapping[str, Any]) -> None:
    """Refuse a user's hyperparameters that use ``ML2P_ENV``.

    ``ML2P_ENV`` is the hyperparameter ML2P stores its own settings under (see
    :class:`ml2p.core.SageMakerEnv`), so a training job's own hyperparameters
    may not use it.

    :raises HyperparameterError: naming the key.
    """
    if ML2P_ENV in params:
        raise HyperparameterError(f"hyperparameter {ML2P_ENV!r} is reserved for ML2P's settings")


def _decode_value(key: str, value: str) -> Any:
    """Decode the JSON ``value`` of hyperparameter ``key``."""
    try:
        return json.loads(value)
    except json.JSONDecodeError as err:
        raise HyperparameterDecodeError(
            f"hyperparameter {key!r} value {value!r} is not JSON: {err.msg}", err.doc, err.pos
        ) from None


def decode(params: Mapping[str, str]) -> dict[str, Any]:
    """Rebuild nested settings from SageMaker hyperparameters.

    This is the inverse of :func:`encode`: each key is split on ``"."`` into the
    keys of nested dicts, and each value is decoded with :func:`json.loads`.
    ``NaN``, ``Infinity`` and ``-Infinity`` become floats, as :func:`json.loads`
    reads them. Empty key parts are empty keys (``"a."`` is ``{"a": {"": ...}}``).
    The lengths and the number of keys are not checked.

    :param params: A mapping from dotted keys to JSON-encoded values.
    :returns: A new dict of nested dicts holding the decoded values.
    :raises HyperparameterDecodeError: naming the key, if a value is not JSON
        (for example a raw string typed into the SageMaker console, such as
        ``hello``); it is also a :class:`json.JSONDecodeError`, as ML2P 0.6 raised.
    :raises HyperparameterTypeError: naming the key, if a value is not a
        ``str``; or, naming both keys, if one key holds a value where another
        key needs a nested dict (``"a"`` and ``"a.b"``); it is also a
        :class:`TypeError`, as ML2P 0.6 raised.
    :raises HyperparameterError: if ``params`` is not a mapping or a key is not a ``str``.
    """
    if not isinstance(params, Mapping):
        raise HyperparameterError(
            f"hyperparameters must be a mapping, not a {type(params).__name__}"
        )
    # The key that set each leaf, and the first key that passed through each group.
    leaves: dict[tuple[str, ...], str] = {}
    groups: dict[tuple[str, ...], str] = {}
    result: dict[str, Any] = {}
    for key, value in params.items():
        if not isinstance(key, str):
            raise HyperparameterError(
                f"hyperparameter key {key!r} is a {type(key).__name__}, not a str"
            )
        if not isinstance(value, str):
            raise HyperparameterTypeError(
                f"hyperparameter {key!r} has a value of type {type(value).__name__}, not a str"
            )
        parts = tuple(key.split(SEPARATOR))
        for depth in range(1, len(parts)):
            prefix = parts[:depth]
            if prefix in leaves:
                raise HyperparameterTypeError(
                    f"hyperparameter keys {leaves[prefix]!r} and {key!r} conflict: "
                    f"{leaves[prefix]!r} holds a value where {key!r} needs nested keys"
                )
            groups.setdefault(prefix, key)
        if parts in groups:
            raise HyperparameterTypeError(
                f"hyperparameter keys {key!r} and {groups[parts]!r} conflict: "
                f"{key!r} holds a value where {groups[parts]!r} needs nested keys"
            )
        leaves[parts] = key
        node = result
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = _decode_value(key, value)
    return result
