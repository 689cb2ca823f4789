"""What several commands share: names, model types, hyperparameters, JSON, waiting, local folder.

Helpers that more than one command module uses live here (or, for printing,
in :mod:`ml2p.cli.output`), not in the module of one of the commands.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Callable

import click

from ml2p import naming
from ml2p.errors import ConfigError, HyperparameterError, ML2PError

__all__ = [
    "DEFAULT_LOCAL_FOLDER",
    "checked_name",
    "hyperparameter_options",
    "load_hyperparameters",
    "local_folder_option",
    "model_type_callback",
    "model_type_option",
    "parse_assignment",
    "read_json_argument",
    "wait_for_status",
    "wait_options",
]

#: Where ``ml2p local`` works unless given ``--local-folder``.
DEFAULT_LOCAL_FOLDER = "./.ml2p-local"


def local_folder_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--local-folder``: ``ml2p local``'s folder (default :data:`DEFAULT_LOCAL_FOLDER`)."""
    return click.option(
        "--local-folder",
        type=click.Path(file_okay=False),
        default=DEFAULT_LOCAL_FOLDER,
        show_default=True,
        help="The folder standing in for /opt/ml.",
    )(func)


def checked_name(kind: str, name: str, enforced: bool = True) -> str:
    """Return ``name`` after :func:`ml2p.naming.check_name`, printing its warning on stderr.

    :param enforced: Whether ML2P 0.6 checked this argument against its rule
        (it did not check a model's ``--training-job``, an endpoint's
        ``--model-name`` or a training job's dataset).
    :raises NamingError: if the name is refused.
    """
    warning = naming.check_name(kind, name, enforced)
    if warning:
        from ml2p.cli.project_config import warn

        warn(warning)
    return name


def model_type_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--model-type/-m NAME`` to a command, checked by :func:`model_type_callback`."""
    return click.option(
        "--model-type",
        "-m",
        default=None,
        callback=model_type_callback,
        help="The model (a key of `models`); may be left out if only one is defined.",
    )(func)


def model_type_callback(ctx: click.Context, param: Any, value: str | None) -> str | None:
    """Return the model type a command uses: ``value``, else the only model (or ``None``).

    As in ML2P 0.6 it runs while the command line is parsed, so a bad model
    type is reported before anything else.

    :raises click.BadParameter: (exit status 2) if ``value`` is not defined,
        or is left out while several models are defined.
    """
    from ml2p import sagemaker
    from ml2p.cli.context import project_of

    cfg = project_of(ctx).config
    _ = cfg.models  # an unusable `models` is the config's error (status 1), not a usage error
    try:
        return sagemaker.resolve_model_type(cfg, value)
    except ConfigError as exc:
        raise click.BadParameter(exc.message, ctx=ctx, param=param) from exc


def parse_assignment(text: str) -> tuple[list[str], Any]:
    """Split ``a.b=value`` into ``(["a", "b"], value)``; the value is read as YAML.

    :raises click.BadParameter: if there is no ``=`` or a key part is empty.
    """
    import yaml

    key, sep, raw = text.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(p.strip() for p in parts):
        raise click.BadParameter(
            f"{text!r}: expected key=value (nested keys joined with '.')", param_hint="'-p'"
        )
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return [p.strip() for p in parts], value


def _set(tree: dict[str, Any], parts: Sequence[str], value: Any, source: str) -> None:
    node = tree
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise HyperparameterError(
                f"hyperparameter {source!r}: {'.'.join(parts[: depth + 1])!r} already holds "
                f"a value, not nested settings"
            )
        node = child
    node[parts[-1]] = value


def load_hyperparameters(path: str | None, assignments: Iterable[str]) -> dict[str, Any]:
    """Read hyperparameters from a YAML/JSON file, then apply ``key=value`` assignments.

    :raises ML2PError: if the file cannot be read or is not a mapping.
    """
    import yaml

    params: dict[str, Any] = {}
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                loaded = yaml.safe_load(f)
        except OSError as exc:
            raise ML2PError(f"cannot read hyperparameters file {path!r}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ML2PError(
                f"hyperparameters file {path!r} is not valid YAML or JSON: {exc}"
            ) from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, Mapping):
            raise ML2PError(
                f"hyperparameters file {path!r} must hold a mapping, not {type(loaded).__name__}"
            )
        params = _plain(loaded)
    for text in assignments:
        parts, value = parse_assignment(text)
        _set(params, parts, value, text)
    return params


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def hyperparameter_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--hyperparameters FILE`` and repeated ``-p key=value`` to a command."""
    func = click.option(
        "--param",
        "-p",
        "params",
        multiple=True,
        metavar="KEY=VALUE",
        help="A hyperparameter (repeatable; nested keys joined with '.'; value read as YAML).",
    )(func)
    func = click.option(
        "--hyperparameters",
        "hyperparameters_file",
        type=click.Path(dir_okay=False),
        default=None,
        help="A YAML or JSON file of hyperparameters.",
    )(func)
    return func


def read_json_argument(text: str) -> bytes:
    """Return the JSON body given as ``text``, or read from ``@file``; check it parses.

    :raises ML2PError: if the file cannot be read or the text is not JSON.
    """
    if text.startswith("@"):
        path = text[1:]
        try:
            with open(path, "rb") as f:
                body = f.read()
        except OSError as exc:
            raise ML2PError(f"cannot read JSON file {path!r}: {exc.strerror}") from exc
    else:
        body = text.encode("utf-8")
    try:
        json.loads(body)
    except ValueError as exc:
        raise ML2PError(f"the data to send is not valid JSON: {exc}") from exc
    return body


def wait_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--timeout SECONDS`` and ``--delay SECONDS`` to a command."""
    func = click.option(
        "--delay",
        type=click.FloatRange(min=0),
        default=10.0,
        show_default=True,
        help="Seconds between status checks.",
    )(func)
    func = click.option(
        "--timeout",
        type=click.FloatRange(min=0),
        default=3600.0,
        show_default=True,
        help="Give up after this many seconds.",
    )(func)
    return func


def wait_for_status(
    describe: Callable[[], Mapping[str, Any]],
    status_key: str,
    done: Sequence[str],
    failed: Sequence[str],
    what: str,
    timeout: float,
    delay: float,
    reason_key: str = "FailureReason",
) -> Mapping[str, Any]:
    """Poll ``describe()`` until ``status_key`` is in ``done`` (returned) or ``failed``.

    :raises ML2PError: if the status is in ``failed`` (with the failure
        reason), or when ``timeout`` seconds pass (with the last status).
    """
    deadline = time.monotonic() + timeout
    while True:
        response = describe()
        status = response.get(status_key)
        if status in done:
            return response
        if status in failed:
            reason = response.get(reason_key) or "no reason given"
            raise ML2PError(f"{what} is {status}: {reason}")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ML2PError(
                f"timed out after {timeout:g} s waiting for {what} (status {status}); "
                "wait again or raise --timeout"
            )
        time.sleep(min(delay, remaining))
