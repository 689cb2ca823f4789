"""Load and validate ML2P project configuration files (``ml2p.yml``).

The file is YAML with a mapping at the top level::

    project: "my-project"               # required
    s3folder: "s3://bucket/prefix/"     # required
    models:                             # optional: model name -> model reference
      my-model: "my_package.models.MyModel"
      multi:                            # a multi-container model (ML2P 0.6 form)
        model-defaults: {cls: "pkg.Model"}   # optional: cls, image_tag, training_job
        c1: {training_job: "tj-0-1", image_tag: "0.1.0", cls: "pkg.Other"}
        c2: {image_tag: "0.2.0"}        # training_job defaults to "c2"; cls to pkg.Model
    plugins: ["my_project.hooks"]       # optional: project-local hook plugin modules
    defaults: {image: ..., role: ..., instance_type: ...}
    dataset: {image: ..., role: ..., instance_type: ..., vpc_config: ...}
    train: {..., instance_count: 1, volume_size_gb: 30, max_runtime_seconds: 3600}
    deploy: {..., record_invokes: true, instance_count: 1}
    notebook: {instance_type: ..., role: ..., volume_size: 8, ...}
    transform: {instance_type: ..., max_payload_mb: 6, ...}   # batch transform

The settings for running past one machine (``train.spot``,
``train.input_distribution``, ``deploy.autoscaling``, ``deploy.serverless``,
``deploy.async`` and the ``transform`` section) are described and checked in
:mod:`ml2p.scaling_config`.

:func:`load_config` reads and validates a file and returns an immutable :class:`Config`;
:func:`config_from_dict` validates an already-parsed mapping the same way. Every problem
is reported as a :class:`~ml2p.errors.ConfigError` that names the file and the dotted
key at fault (list items are written ``key[index]``, e.g. ``plugins[1]``).

Unknown top-level keys and unknown settings inside a section are kept (so that newer
configuration files still load) and reported in :attr:`Config.warnings`, with the closest
known key suggested when one is close (``deploy.record_invoke``: did you mean
``deploy.record_invokes``?).

This module only reads configuration: it builds no AWS requests and imports nothing
from boto3.
"""

from __future__ import annotations

import copy
import difflib
import keyword
import os
import re
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn

import yaml

from . import scaling_config
from .errors import ConfigError, ConfigFileNotFoundError

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "SECTIONS",
    "Config",
    "check_models",
    "check_vpc_config",
    "config_from_dict",
    "load_config",
]

#: The configuration file the command-line tools read when none is given.
DEFAULT_CONFIG_FILE = "./ml2p.yml"

#: The sections that :meth:`Config.section` returns, each overlaid on ``defaults``.
SECTIONS: tuple[str, ...] = ("dataset", "train", "deploy", "notebook", "transform")

_TOP_LEVEL_KEYS = ("project", "s3folder", "models", "plugins", "defaults", *SECTIONS)
_PROJECT_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")
_VPC_KEYS = ("security_groups", "subnets")
_MODEL_DEFAULTS = "model-defaults"
_CONTAINER_KEYS = ("training_job", "image_tag", "cls")
_NOTEBOOK_INTERNET_ACCESS = ("Enabled", "Disabled")


# --------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------


class _Checker:
    """Raise errors and collect warnings for one configuration file."""

    def __init__(self, path: str):
        self.path = path
        self.warnings: list[str] = []

    def fail(self, key: str | None, message: str) -> NoReturn:
        raise ConfigError(message, path=self.path, key=key)

    def warn(self, key: str, message: str) -> None:
        self.warnings.append(f"{self.path}: key {key!r}: {message}")

    def warn_unknown(self, prefix: str, name: Any, known: Iterable[str], what: str) -> None:
        """Warn that ``name`` (below ``prefix``, ``""`` at the top) is not a key ML2P uses.

        The closest known key, if one is close enough, is suggested.
        """
        key = _join(prefix, name) if prefix else str(name)
        message = f"unknown {what}; ML2P does not use it"
        close = difflib.get_close_matches(str(name), list(known), n=1, cutoff=0.75)
        if close:
            suggestion = _join(prefix, close[0]) if prefix else close[0]
            message += f" (did you mean {suggestion!r}?)"
        self.warn(key, message)


def _describe(value: Any) -> str:
    """Return a short description of ``value`` for error messages."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _join(prefix: str, name: Any) -> str:
    return f"{prefix}.{name}"


def _is_list(value: Any) -> bool:
    return isinstance(value, (list, tuple))


def _is_non_empty_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _check_str(value: Any, key: str, chk: _Checker) -> None:
    if not _is_non_empty_str(value):
        chk.fail(key, f"must be a non-empty string, not {_describe(value)}")


def _check_bool(value: Any, key: str, chk: _Checker) -> None:
    if not isinstance(value, bool):
        chk.fail(key, f"must be true or false, not {_describe(value)}")


def _check_positive_int(value: Any, key: str, chk: _Checker) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        chk.fail(key, f"must be a positive integer, not {_describe(value)}")


def _check_str_list(value: Any, key: str, chk: _Checker, *, non_empty: bool) -> None:
    what = "a non-empty list of strings" if non_empty else "a list of strings"
    if not _is_list(value):
        chk.fail(key, f"must be {what}, not {_describe(value)}")
    if non_empty and not value:
        chk.fail(key, f"must be {what}, not an empty list")
    for index, item in enumerate(value):
        if not _is_non_empty_str(item):
            chk.fail(f"{key}[{index}]", f"must be a non-empty string, not {_describe(item)}")


def _check_any_str_list(value: Any, key: str, chk: _Checker) -> None:
    _check_str_list(value, key, chk, non_empty=False)


def _check_vpc_config(value: Any, key: str, chk: _Checker) -> None:
    if not isinstance(value, Mapping):
        chk.fail(
            key,
            f"must be a mapping with 'security_groups' and 'subnets', not {_describe(value)}",
        )
    for name in value:
        if name not in _VPC_KEYS:
            chk.fail(
                _join(key, name),
                "unknown vpc_config key; only 'security_groups' and 'subnets' are allowed",
            )
    for name in _VPC_KEYS:
        sub = _join(key, name)
        if name not in value:
            chk.fail(sub, "is required: give a non-empty list of strings")
        _check_str_list(value[name], sub, chk, non_empty=True)


def check_vpc_config(value: Any, key: str = "vpc_config", path: str = "<dict>") -> None:
    """Check a ``vpc_config`` setting as :func:`load_config` does.

    :param value: The setting: a mapping of non-empty ``security_groups`` and
        ``subnets`` lists of strings, and nothing else.
    :param key: The dotted key named in the error.
    :param path: The file named in the error.
    :raises ConfigError: if it is not valid.
    """
    _check_vpc_config(value, key, _Checker(path))


def _check_internet_access(value: Any, key: str, chk: _Checker) -> None:
    if isinstance(value, bool) or value in _NOTEBOOK_INTERNET_ACCESS:
        return
    chk.fail(key, f"must be true, false, 'Enabled' or 'Disabled', not {_describe(value)}")


_Rule = Callable[[Any, str, _Checker], None]

_COMMON_SETTINGS: dict[str, _Rule] = {
    "image": _check_str,
    "role": _check_str,
    "instance_type": _check_str,
    "vpc_config": _check_vpc_config,
}

_SECTION_SETTINGS: dict[str, dict[str, _Rule]] = {
    "dataset": dict(_COMMON_SETTINGS),
    "train": {
        **_COMMON_SETTINGS,
        "instance_count": _check_positive_int,
        "volume_size_gb": _check_positive_int,
        "max_runtime_seconds": _check_positive_int,
    },
    "deploy": {
        **_COMMON_SETTINGS,
        "record_invokes": _check_bool,
        "instance_count": _check_positive_int,
    },
    "notebook": {
        "instance_type": _check_str,
        "role": _check_str,
        "volume_size": _check_positive_int,
        "direct_internet_access": _check_internet_access,
        "subnet_id": _check_str,
        "security_group_ids": _check_any_str_list,
        "on_start": _check_str,
        "on_create": _check_str,
        "repo_url": _check_str,
        "repo_branch": _check_str,
        "repo_secret_arn": _check_str,
    },
}

# Spot and distributed training, autoscaling, serverless and asynchronous endpoints,
# batch transform: their rules live in ml2p.scaling_config.
for _section, _rules in scaling_config.SCALING_SETTINGS.items():
    _SECTION_SETTINGS.setdefault(_section, {}).update(_rules)
del _section, _rules

# ``defaults`` may carry any setting of any section; each key has one rule everywhere.
_DEFAULT_SETTINGS: dict[str, _Rule] = {}
for _settings in _SECTION_SETTINGS.values():
    _DEFAULT_SETTINGS.update(_settings)
del _settings


def _check_section(value: Any, key: str, chk: _Checker, settings: Mapping[str, _Rule]) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        chk.fail(key, f"must be a mapping of settings, not {_describe(value)}")
    for name, item in value.items():
        sub = _join(key, name)
        rule = settings.get(name) if isinstance(name, str) else None
        if rule is None:
            chk.warn_unknown(key, name, settings, "setting")
        elif item is not None:
            rule(item, sub, chk)


def _check_reference(value: Any, key: str, chk: _Checker) -> None:
    if not _is_non_empty_str(value) or any(c.isspace() for c in value):
        chk.fail(
            key,
            "must be a model reference (a dotted class path or an ml2p.models entry-point "
            f"name, without spaces), not {_describe(value)}",
        )


def _check_container_spec(value: Any, key: str, chk: _Checker) -> None:
    if not isinstance(value, Mapping):
        chk.fail(
            key,
            f"must be a mapping with 'training_job', 'image_tag' and 'cls', not {_describe(value)}",
        )
    for name, item in value.items():
        sub = _join(key, name)
        if name not in _CONTAINER_KEYS:
            chk.fail(sub, "unknown container key; allowed: " + ", ".join(_CONTAINER_KEYS))
        if name == "cls":
            _check_reference(item, sub, chk)
        else:
            _check_str(item, sub, chk)


def _check_multi_model(value: Mapping, key: str, chk: _Checker) -> None:
    """Check a multi-container model: ``model-defaults`` plus container-name keys."""
    defaults_key = _join(key, _MODEL_DEFAULTS)
    defaults = value.get(_MODEL_DEFAULTS)
    if defaults is None:
        defaults = {}
    _check_container_spec(defaults, defaults_key, chk)

    containers = [(name, spec) for name, spec in value.items() if name != _MODEL_DEFAULTS]
    if not containers:
        chk.fail(
            key,
            "a multi-container model needs at least one container: give container names as "
            "keys beside 'model-defaults', each mapping to {training_job, image_tag, cls}",
        )
    for cname, spec in containers:
        ckey = _join(key, cname)
        if not _is_non_empty_str(cname):
            chk.fail(ckey, f"container names must be non-empty strings, not {_describe(cname)}")
        if spec is None:
            spec = {}
        _check_container_spec(spec, ckey, chk)
        effective = {**defaults, **spec}
        if "image_tag" not in effective:
            chk.fail(
                _join(ckey, "image_tag"), "is required (set it here or in model-defaults.image_tag)"
            )
        if "cls" not in effective:
            chk.fail(_join(ckey, "cls"), "is required (set it here or in model-defaults.cls)")


def _check_models(value: Any, chk: _Checker) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        chk.fail(
            "models", f"must be a mapping of model name to model reference, not {_describe(value)}"
        )
    for name, ref in value.items():
        key = _join("models", name)
        if not _is_non_empty_str(name):
            chk.fail(key, f"model names must be non-empty strings, not {_describe(name)}")
        if isinstance(ref, Mapping):
            _check_multi_model(ref, key, chk)
        else:
            _check_reference(ref, key, chk)


def _is_module_name(value: str) -> bool:
    return all(part.isidentifier() and not keyword.iskeyword(part) for part in value.split("."))


def _check_plugins(value: Any, chk: _Checker) -> None:
    if value is None:
        return
    if not _is_list(value):
        chk.fail("plugins", f"must be a list of module names, not {_describe(value)}")
    seen: set[str] = set()
    for index, item in enumerate(value):
        key = f"plugins[{index}]"
        if not isinstance(item, str) or not _is_module_name(item):
            chk.fail(
                key,
                f"must be a dotted module name such as 'my_project.hooks', not {_describe(item)}",
            )
        if item in seen:
            chk.fail(key, f"plugin {item!r} is listed more than once")
        seen.add(item)


def _check_project(data: Mapping, chk: _Checker) -> None:
    if "project" not in data:
        chk.fail("project", "is required")
    project = data["project"]
    if not isinstance(project, str) or not project:
        chk.fail("project", f"must be a non-empty string, not {_describe(project)}")
    if not _PROJECT_RE.fullmatch(project):
        chk.fail(
            "project",
            f"{project!r} is not a valid project name: use only letters, digits and '-', "
            "and do not start or end with '-'",
        )


def _check_s3folder(data: Mapping, chk: _Checker) -> None:
    if "s3folder" not in data:
        chk.fail("s3folder", "is required (e.g. 's3://bucket/prefix/')")
    s3folder = data["s3folder"]
    if not isinstance(s3folder, str):
        chk.fail("s3folder", f"must be an s3://bucket/prefix/ URL, not {_describe(s3folder)}")
    bucket = s3folder[len("s3://") :].split("/", 1)[0]
    if not s3folder.startswith("s3://") or not bucket or any(c.isspace() for c in bucket):
        chk.fail("s3folder", f"must be an s3://bucket/prefix/ URL, not {s3folder!r}")


def _validate(data: Any, chk: _Checker) -> None:
    if not isinstance(data, Mapping):
        what = "an empty document" if data is None else _describe(data)
        chk.fail(None, f"the top level must be a mapping of settings, not {what}")
    for name in data:
        if name not in _TOP_LEVEL_KEYS:
            chk.warn_unknown("", name, _TOP_LEVEL_KEYS, "top-level key")
    _check_project(data, chk)
    _check_s3folder(data, chk)
    _check_models(data.get("models"), chk)
    _check_plugins(data.get("plugins"), chk)
    _check_section(data.get("defaults"), "defaults", chk, _DEFAULT_SETTINGS)
    for section in SECTIONS:
        _check_section(data.get(section), section, chk, _SECTION_SETTINGS[section])
    scaling_config.check_combinations(data, chk)


# --------------------------------------------------------------------------------------
# Deep freezing and thawing
# --------------------------------------------------------------------------------------


def _freeze(value: Any, key: str, chk: _Checker, active: set[int]) -> Any:
    """Return a deep, read-only copy of ``value`` (mappings -> MappingProxyType, lists ->
    tuples, sets -> frozensets); other objects are deep-copied."""
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        if id(value) in active:
            chk.fail(key, "contains a reference to itself (a recursive YAML alias)")
        active.add(id(value))
        try:
            if isinstance(value, Mapping):
                return types.MappingProxyType(
                    {k: _freeze(v, _join(key, k), chk, active) for k, v in value.items()}
                )
            items = (_freeze(v, f"{key}[{i}]", chk, active) for i, v in enumerate(value))
            if isinstance(value, (set, frozenset)):
                return frozenset(items)
            return tuple(items)
        finally:
            active.discard(id(value))
    return copy.deepcopy(value)


def _thaw(value: Any) -> Any:
    """Return a deep, plain, mutable copy of a value made by :func:`_freeze`."""
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    if isinstance(value, frozenset):
        return {_thaw(v) for v in value}
    return copy.deepcopy(value)


# --------------------------------------------------------------------------------------
# The configuration object
# --------------------------------------------------------------------------------------


class Config:
    """A validated, immutable ML2P project configuration.

    The configuration is validated when the object is created and stored as a deep,
    read-only copy: changing the mapping it was made from has no effect, attributes
    cannot be set or deleted, and every accessor that returns a dict or list returns a
    fresh deep copy, so callers may change what they get without changing the
    configuration.

    Usually made by :func:`load_config` or :func:`config_from_dict`.

    :param data: The parsed configuration (the top-level mapping of ``ml2p.yml``).
    :param path: The file the configuration came from, used in errors and warnings.
    :raises ConfigError: If ``data`` is not a valid configuration.
    """

    __slots__ = ("_data", "_path", "_warnings")

    _data: Mapping[Any, Any]
    _path: str
    _warnings: tuple[str, ...]

    def __init__(self, data: Mapping[str, Any], path: str = "<dict>"):
        chk = _Checker(str(path))
        _validate(data, chk)
        frozen = {k: _freeze(v, str(k), chk, set()) for k, v in data.items()}
        object.__setattr__(self, "_path", chk.path)
        object.__setattr__(self, "_data", types.MappingProxyType(frozen))
        object.__setattr__(self, "_warnings", tuple(chk.warnings))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Config is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Config is immutable: cannot delete {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.as_dict(), self._path))

    def __repr__(self) -> str:
        return f"Config(path={self._path!r}, project={self.project!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Config):
            return NotImplemented
        return self._path == other._path and self.as_dict() == other.as_dict()

    __hash__ = None  # type: ignore[assignment]

    @property
    def path(self) -> str:
        """The file the configuration was loaded from (``"<dict>"`` if none)."""
        return self._path

    @property
    def project(self) -> str:
        """The project name, the prefix of every AWS resource name."""
        return self._data["project"]

    @property
    def s3folder(self) -> str:
        """The project's ``s3://bucket/prefix/`` URL, exactly as configured."""
        return self._data["s3folder"]

    @property
    def plugins(self) -> tuple[str, ...]:
        """The module names of the project-local hook plugins, in configured order."""
        return tuple(self._data.get("plugins") or ())

    @property
    def warnings(self) -> tuple[str, ...]:
        """Messages about keys that were kept but that ML2P does not use."""
        return self._warnings

    @property
    def models(self) -> dict[str, str | dict]:
        """A new dict of model name to model reference.

        A single-container model's value is its reference string (a dotted class path or
        an ``ml2p.models`` entry-point name); a multi-container model's value is its
        mapping as written in the file: optionally ``model-defaults``, and each other key
        a container name mapping to ``{training_job, image_tag, cls}`` (or ``None``). Use
        :meth:`model_containers` for the containers with the defaults applied.
        """
        return _thaw(self._data.get("models") or {})

    def get(self, key: str, default: Any = None) -> Any:
        """Return a deep copy of the top-level value ``key`` as written in the file.

        :param key: A top-level key, known or not (e.g. ``"train"``).
        :param default: Returned, as is, if ``key`` is absent.
        """
        if key not in self._data:
            return default
        return _thaw(self._data[key])

    def as_dict(self) -> dict[str, Any]:
        """Return a deep copy of the whole configuration as plain dicts and lists."""
        return _thaw(self._data)

    def section(self, name: str) -> dict[str, Any]:
        """Return a new dict of the settings of section ``name`` over ``defaults``.

        The overlay is shallow: a key set in the section replaces the default's value
        wholesale (``vpc_config`` is not merged key by key). A key set to ``null`` in the
        section removes the default; keys whose value is ``null`` are left out.

        :param name: One of :data:`SECTIONS` (``dataset``, ``train``, ``deploy``,
            ``notebook``, ``transform``).
        :raises ConfigError: If ``name`` is not a known section.
        """
        if name not in SECTIONS:
            raise ConfigError(
                f"unknown section {name!r}; expected one of {', '.join(SECTIONS)}",
                path=self._path,
                key=str(name),
            )
        merged: dict[str, Any] = {}
        for source in (self._data.get("defaults"), self._data.get(name)):
            for key, value in (source or {}).items():
                merged[key] = value
        return {key: _thaw(value) for key, value in merged.items() if value is not None}

    def _model(self, name: str) -> Any:
        models = self._data.get("models") or {}
        if name not in models:
            defined = ", ".join(sorted(models)) or "(none)"
            raise ConfigError(
                f"model {name!r} is not defined; defined models: {defined}",
                path=self._path,
                key=f"models.{name}",
            )
        return models[name]

    def model_reference(self, name: str) -> str:
        """Return the class reference of the single-container model ``name``.

        :param name: A key of :attr:`models`.
        :raises ConfigError: If the model is not defined (the message lists the defined
            models) or is a multi-container model.
        """
        ref = self._model(name)
        if not isinstance(ref, str):
            raise ConfigError(
                f"model {name!r} is a multi-container model and has no single class "
                "reference; use model_containers()",
                path=self._path,
                key=f"models.{name}",
            )
        return ref

    def model_containers(self, name: str) -> dict[str, dict[str, str]]:
        """Return the containers of the multi-container model ``name``.

        Each container's settings (``training_job``, ``image_tag`` and ``cls``) are its
        own over the model's ``model-defaults``; ``training_job`` defaults to the
        container name.

        :param name: A key of :attr:`models`.
        :returns: A new dict of container name to ``{"training_job": ..., "image_tag":
            ..., "cls": ...}``, in configured order.
        :raises ConfigError: If the model is not defined or is a single-container model.
        """
        ref = self._model(name)
        if isinstance(ref, str):
            raise ConfigError(
                f"model {name!r} is a single-container model; use model_reference()",
                path=self._path,
                key=f"models.{name}",
            )
        defaults = _thaw(ref.get(_MODEL_DEFAULTS) or {})
        result: dict[str, dict[str, str]] = {}
        for cname, spec in ref.items():
            if cname == _MODEL_DEFAULTS:
                continue
            effective = {**defaults, **_thaw(spec or {})}
            result[cname] = {
                "training_job": effective.get("training_job", cname),
                "image_tag": effective["image_tag"],
                "cls": effective["cls"],
            }
        return result


def config_from_dict(data: Mapping[str, Any], path: str = "<dict>") -> Config:
    """Validate an already-parsed configuration mapping and return a :class:`Config`.

    :param data: The top-level mapping, as ``yaml.safe_load`` would return it. It is
        copied; later changes to it do not affect the result.
    :param path: Where the data came from, used in error and warning messages.
    :raises ConfigError: If the configuration is invalid.
    """
    return Config(data, path)


def load_config(path: str | os.PathLike[str] = DEFAULT_CONFIG_FILE) -> Config:
    """Read, parse and validate an ``ml2p.yml`` file.

    :param path: The configuration file (default :data:`DEFAULT_CONFIG_FILE`).
    :raises ConfigFileNotFoundError: If the file is missing (a :class:`ConfigError`
        that is also the :class:`FileNotFoundError` ML2P 0.6 raised).
    :raises ConfigError: If the file is unreadable, is not valid YAML (the
        message gives the line and column), its top level is not a mapping, or the
        configuration is invalid. The error names the file and, where one is at fault,
        the dotted key.
    """
    name = os.fsdecode(path)
    try:
        with open(name, "rb") as f:
            data = yaml.safe_load(f)
    except FileNotFoundError as exc:
        raise ConfigFileNotFoundError(name) from exc
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(f"cannot read configuration file: {reason}", path=name) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        if mark is not None:
            where = f"line {mark.line + 1}, column {mark.column + 1}"
            message = f"invalid YAML at {where}: {problem}"
        else:
            message = f"invalid YAML: {problem}"
        raise ConfigError(message, path=name) from exc
    return Config(data, name)


def check_models(cfg: Config, resolve: Callable[[str], object]) -> dict[str, object]:
    """Resolve every model reference in ``cfg``, failing early on the first bad one.

    ``resolve`` is called with each single-container model's reference and with each
    container's ``cls`` (its own, or the model's ``model-defaults`` one).

    :param cfg: The configuration whose models to check.
    :param resolve: Turns a reference into an object (e.g. a model class); any
        :class:`Exception` it raises means the reference is bad.
    :returns: A new dict of model name to resolved object; for a multi-container model,
        the value is a dict of container name to resolved object.
    :raises ConfigError: Naming ``cfg.path`` and the key (``models.<name>`` or
        ``models.<name>.<container>.cls``), with the reference and the
        original error in the message, chained from the original error.
    """
    resolved: dict[str, object] = {}
    for name, ref in cfg.models.items():
        if isinstance(ref, str):
            resolved[name] = _resolve(cfg, resolve, ref, f"models.{name}", "")
            continue
        objects: dict[str, object] = {}
        for cname, spec in cfg.model_containers(name).items():
            inherited = "cls" not in (ref.get(cname) or {})
            note = " (inherited from model-defaults.cls)" if inherited else ""
            key = f"models.{name}.{cname}.cls"
            objects[cname] = _resolve(cfg, resolve, spec["cls"], key, note)
        resolved[name] = objects
    return resolved


def _resolve(
    cfg: Config, resolve: Callable[[str], object], ref: str, key: str, note: str
) -> object:
    try:
        return resolve(ref)
    except Exception as exc:
        raise ConfigError(
            f"cannot resolve model reference {ref!r}{note}: {type(exc).__name__}: {exc}",
            path=cfg.path,
            key=key,
        ) from exc
