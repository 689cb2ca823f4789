"""Finding, loading and compiling the JSON Schema a predictor's inputs must match.

Where the schema comes from, first match wins:

1. the file named by the environment variable ``ML2P_VALIDATE_SCHEMA``
   (an override for every predictor in the process);
2. the predictor's ``input_schema`` attribute, if it is not ``None``;
3. the predictor class's ``INPUT_SCHEMA`` attribute, if it is not ``None``;
4. the file ``input-schema.json`` in ``predictor.env.model_folder()``, so a
   trainer can ship the schema inside ``model.tar.gz``.

A schema is checked against its meta-schema and compiled once: the
``ML2P_VALIDATE_SCHEMA`` file once per path and process, the others once per
predictor (cached on the predictor, and compiled again only if the object in
``input_schema``/``INPUT_SCHEMA`` is replaced). Every problem with a schema
raises :class:`ml2p.errors.PluginError` naming where the schema came from.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
from typing import Any

from ml2p.errors import PluginError
from ml2p_validate import PLUGIN_NAME

SCHEMA_ENV = "ML2P_VALIDATE_SCHEMA"
SCHEMA_FILE = "input-schema.json"
INSTANCE_ATTRIBUTE = "input_schema"
CLASS_ATTRIBUTE = "INPUT_SCHEMA"

# Stored in the predictor's __dict__: (attribute schema object or None, CompiledSchema or None).
_CACHE_ATTRIBUTE = "_ml2p_validate_schema"
_cache_lock = threading.Lock()

logger = logging.getLogger("ml2p.validate")


class CompiledSchema:
    """A checked schema and its validator.

    :ivar source: Where the schema came from (for messages).
    :ivar validator: The :mod:`jsonschema` validator instance.
    """

    __slots__ = ("source", "validator")

    def __init__(self, source: str, validator: Any):
        self.source = source
        self.validator = validator

    def __repr__(self) -> str:
        return f"CompiledSchema({self.source!r}, {type(self.validator).__name__})"


def compile_schema(schema: Any, source: str) -> CompiledSchema:
    """Check ``schema`` against its meta-schema and build its validator.

    The dialect is the schema's ``$schema`` if it has one, else Draft 2020-12.
    ``format`` is asserted (``"format": "date"`` rejects ``"yesterday"``)
    for the formats :mod:`jsonschema` can check.

    :param schema: The decoded schema (must be a JSON object).
    :param source: Where it came from, for error messages.
    :raises ml2p.errors.PluginError: if the schema is not an object, names an
        unknown ``$schema``, or is not a valid schema.
    """
    from jsonschema import exceptions, validators

    if not isinstance(schema, dict):
        raise PluginError(
            PLUGIN_NAME,
            f"{source}: a JSON Schema must be a JSON object, got {type(schema).__name__}",
        )
    if "$schema" in schema:
        cls = validators.validator_for(schema, default=None)
        if cls is None:
            raise PluginError(PLUGIN_NAME, f"{source}: unknown $schema {schema['$schema']!r}")
    else:
        cls = validators.Draft202012Validator
    try:
        cls.check_schema(schema)
    except exceptions.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise PluginError(
            PLUGIN_NAME, f"{source}: invalid JSON Schema at {where}: {exc.message}"
        ) from None
    return CompiledSchema(source, cls(schema, format_checker=cls.FORMAT_CHECKER))


def _load_json(path: str, source: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise PluginError(PLUGIN_NAME, f"{source}: no such file") from None
    except ValueError as exc:
        raise PluginError(PLUGIN_NAME, f"{source}: not valid JSON: {exc}") from None
    except OSError as exc:
        raise PluginError(PLUGIN_NAME, f"{source}: cannot read: {exc}") from None


@functools.lru_cache(maxsize=8)
def _env_schema(path: str) -> CompiledSchema:
    source = f"{SCHEMA_ENV}={path!r}"
    return compile_schema(_load_json(path, source), source)


def env_schema() -> CompiledSchema | None:
    """Return the schema ``ML2P_VALIDATE_SCHEMA`` names, or ``None`` if it is unset or empty.

    :raises ml2p.errors.PluginError: naming the variable, if the file is
        missing, unreadable, not JSON or not a valid schema.
    """
    path = os.environ.get(SCHEMA_ENV, "").strip()
    return _env_schema(path) if path else None


def _attribute_schema(predictor: Any) -> tuple[Any, str]:
    schema = getattr(predictor, INSTANCE_ATTRIBUTE, None)
    if schema is not None:
        return schema, f"{type(predictor).__name__}.{INSTANCE_ATTRIBUTE}"
    schema = getattr(type(predictor), CLASS_ATTRIBUTE, None)
    return schema, f"{type(predictor).__name__}.{CLASS_ATTRIBUTE}"


def _file_schema(predictor: Any) -> CompiledSchema | None:
    env = getattr(predictor, "env", None)
    if env is None:
        return None
    path = env.model_folder() / SCHEMA_FILE
    if not path.is_file():
        return None
    return compile_schema(_load_json(str(path), str(path)), str(path))


def schema_for(predictor: Any) -> CompiledSchema | None:
    """Return the compiled schema for ``predictor``'s inputs, or ``None`` if it has none.

    When a predictor has no schema, that is logged once (at INFO, on the
    ``ml2p.validate`` logger) and its inputs pass through unchecked.

    :raises ml2p.errors.PluginError: if the schema found is invalid.
    """
    compiled = env_schema()
    if compiled is not None:
        return compiled
    schema, source = _attribute_schema(predictor)
    state = getattr(predictor, "__dict__", None)
    cached = state.get(_CACHE_ATTRIBUTE) if state is not None else None
    # Identity, not equality: comparing large schemas on every call would cost.
    if cached is not None and cached[0] is schema:
        return cached[1]
    if schema is not None:
        compiled = compile_schema(schema, source)
    else:
        compiled = _file_schema(predictor)
        if compiled is None:
            logger.info(
                "%s has no input schema (no %s, %s or %s in the model folder): "
                "its inputs are not validated",
                type(predictor).__name__,
                INSTANCE_ATTRIBUTE,
                CLASS_ATTRIBUTE,
                SCHEMA_FILE,
            )
    if state is not None:
        with _cache_lock:
            state[_CACHE_ATTRIBUTE] = (schema, compiled)
    return compiled


def forget(predictor: Any) -> None:
    """Drop the schema cached for ``predictor`` (it is looked up again on next use)."""
    state = getattr(predictor, "__dict__", None)
    if state is not None:
        with _cache_lock:
            state.pop(_CACHE_ATTRIBUTE, None)
