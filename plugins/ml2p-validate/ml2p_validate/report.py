"""Checking inputs and turning JSON Schema errors into a 400 answer.

Every error is reported with the JSON path of the field at fault: ``$.age``
for one datum, ``$.instances[3].age`` for the fourth datum of a batch. For a
missing required property the path names the missing property itself
(``$.age``, not ``$``), and for a property that ``additionalProperties:
false`` forbids it names the first such property.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Union

from ml2p.errors import ClientError
from ml2p_validate.schemas import CompiledSchema

#: At most this many errors are listed in the answer's details.
MAX_ERRORS = 20
#: Error messages (which may quote the input) are cut to this many characters.
MAX_MESSAGE_CHARS = 300
#: The root of a batch's paths: the HTTP body of a batch is ``{"instances": [...]}``.
BATCH_ROOT = "$.instances"

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

PathPart = Union[str, int]


def json_path(parts: Iterable[PathPart], root: str = "$") -> str:
    """Format ``parts`` as a JSON path below ``root``.

    Names that are identifiers are written ``.name``, other names
    ``['na.me']`` (with ``\\`` and ``'`` escaped), array indices ``[3]``.
    """
    out = [root]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENTIFIER.match(part):
            out.append(f".{part}")
        else:
            escaped = part.replace("\\", "\\\\").replace("'", "\\'")
            out.append(f"['{escaped}']")
    return "".join(out)


def _named_property(error: Any) -> list[PathPart]:
    """The error's path, extended to the property at fault when the validator names one."""
    path: list[PathPart] = list(error.absolute_path)
    instance = error.instance
    if not isinstance(instance, dict):
        return path
    if error.validator == "required":
        for name in error.validator_value or ():
            if name not in instance and repr(name) in error.message:
                return [*path, name]
    elif error.validator == "dependentRequired":
        for names in (error.validator_value or {}).values():
            for name in names:
                if name not in instance and repr(name) in error.message:
                    return [*path, name]
    elif error.validator == "additionalProperties" and error.validator_value is False:
        schema = error.schema if isinstance(error.schema, dict) else {}
        known = schema.get("properties", {})
        patterns = list(schema.get("patternProperties", {}))
        for name in instance:
            if name in known:
                continue
            try:
                if any(re.search(p, name) for p in patterns):
                    continue
            except re.error:
                continue
            return [*path, name]
    return path


def _describe(error: Any, root: str) -> dict[str, Any]:
    message = error.message
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 3] + "..."
    return {
        "path": json_path(_named_property(error), root),
        "error": message,
        "validator": str(error.validator),
    }


def _errors_of(compiled: CompiledSchema, datum: Any) -> list[Any]:
    from jsonschema.exceptions import relevance

    # Bounded: one datum can fail in very many ways (every item of a long array).
    errors = list(itertools.islice(compiled.validator.iter_errors(datum), MAX_ERRORS + 1))
    # Most relevant first, as jsonschema's best_match would pick.
    return sorted(errors, key=relevance, reverse=True)


def _collect(
    compiled: CompiledSchema, items: Iterable[tuple[str, Any]]
) -> Iterator[dict[str, Any]]:
    for root, datum in items:
        for error in _errors_of(compiled, datum):
            yield _describe(error, root)


def _raise_if_any(compiled: CompiledSchema, items: Iterable[tuple[str, Any]]) -> None:
    found = list(itertools.islice(_collect(compiled, items), MAX_ERRORS + 1))
    if not found:
        return
    truncated = len(found) > MAX_ERRORS
    found = found[:MAX_ERRORS]
    first = found[0]
    message = f"invalid input at {first['path']}: {first['error']}"
    if len(found) > 1 or truncated:
        more = f"{len(found) - 1}{'+' if truncated else ''}"
        message += f" (and {more} more; see details)"
    raise ClientError(
        message,
        status_code=400,
        details={"errors": found, "truncated": truncated, "schema": compiled.source},
    )


def check_datum(compiled: CompiledSchema, datum: Any) -> None:
    """Raise :class:`ml2p.errors.ClientError` (400) if ``datum`` does not match.

    The message names the most relevant error's path (``$.age``); the
    details hold ``{"errors": [{"path", "error", "validator"}, ...],
    "truncated": bool, "schema": source}`` for at most :data:`MAX_ERRORS`
    errors.
    """
    _raise_if_any(compiled, [("$", datum)])


def check_batch(compiled: CompiledSchema, data: Sequence[Any]) -> None:
    """Raise :class:`ml2p.errors.ClientError` (400) if any datum of ``data`` does not match.

    Each datum is checked on its own; paths are ``$.instances[<i>]...``.
    The whole batch is rejected if one datum is invalid. Checking stops
    once :data:`MAX_ERRORS` errors are found.
    """
    _raise_if_any(compiled, ((f"{BATCH_ROOT}[{i}]", datum) for i, datum in enumerate(data)))
