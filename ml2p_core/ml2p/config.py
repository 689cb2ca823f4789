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
    deploy: {..., record_invokes: true, record_kms_key_id: ..., instance_count: 1}
    notebook: {instance_type: ..., role: ..., volume_size: 8, ...}
    transform: {instance_type: ..., max_payload_mb: 6, ...}   # batch transform

The settings for running past one machine (``train.spot``,
``train.input_distribution``, ``deploy.autoscaling``, ``deploy.serverless``,
``deploy.async`` and the ``transform`` section) are described and checked in
:mod:`ml2p.scaling_config`.

:func:`load_config` reads and checks a file and returns a :class:`Config`;
:func:`config_from_dict` checks an already-parsed mapping the same way. A
:class:`Config` is a frozen dataclass made when the file is loaded, holding
each section checked once; its accessors return new copies.

Loading is as lenient as ML2P 0.6's, so that every 0.6 project loads: it fails only
where 0.6's did (a file that is not a mapping, no ``project``, no ``s3folder`` or one
that is not text), and for scaling settings that contradict each other (see
:func:`ml2p.scaling_config.check_combinations`; 0.6 had none). Every other problem
is reported in :attr:`Config.warnings` and, if ML2P cannot use the value, again as a
:class:`~ml2p.errors.ConfigError` when a command reads it (:meth:`Config.section`,
:meth:`Config.model_containers`, ...), so that a command fails only for the settings it
needs. Errors and warnings name the file and the dotted key at fault (list items are
written ``key[index]``, e.g. ``plugins[1]``).

Unknown top-level keys and unknown settings inside a section are kept (so that newer
configuration files still load) and warned about, with the closest known key suggested
when one is close (``deploy.record_invoke``: did you mean ``deploy.record_invokes``?).

Each setting is checked by a rule (``_SECTION_SETTINGS`` and, for the scaling
settings, :data:`ml2p.scaling_config.SCALING_SETTINGS`): a new setting is one
more entry there.

This module only reads configuration: it builds no AWS requests and imports nothing
from boto3 (and PyYAML only when it reads a file).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import keyword
import os
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn

from ml2p import scaling_config
from ml2p.errors import ConfigError, ConfigFileNotFoundError

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
_NOTEBOOK_INTERNET_ACCESS = ("Enabled", "Disabled")


# --------------------------------------------------------------------------------------
# Checking values
# --------------------------------------------------------------------------------------
#
# ML2P 0.6 checked almost nothing when it loaded ml2p.yml: a value it could not use
# failed only in the command that used it. So that every 0.6 project still loads, a
# value ML2P cannot use is a warning when the file is loaded, and is kept with its
# problem: a command that reads it gets a ConfigError naming the file and the key.
# Loading fails only where 0.6's did: no mapping at the top, no ``project``, no
# ``s3folder`` or one that is not text (and for contradicting scaling settings, which
# 0.6 did not have).


#: ``rule(value, key, chk)`` checks ``value`` (set at the dotted ``key``): it calls
#: ``chk.fail`` if ML2P cannot use the value, ``chk.warn`` if it is usable but odd, and
#: returns the value to use if it differs from ``value`` (``None``: ``value`` itself).
_Rule = Callable[[Any, str, "_Checker"], Any]

#: Why ML2P cannot use a value: the dotted key at fault, and the message.
_Problem = tuple[str, str]


def _error(path: str, problem: _Problem) -> ConfigError:
    key, message = problem
    return ConfigError(message, path=path, key=key)


@dataclasses.dataclass(frozen=True)
class _Value:
    """A value as ML2P uses it, or, with its ``problem``, as written."""

    value: Any
    problem: _Problem | None = None

    def get(self, path: str) -> Any:
        """Return a copy of the value, or raise the error of its problem (naming ``path``)."""
        if self.problem is not None:
            raise _error(path, self.problem)
        return copy.deepcopy(self.value)


class _Checker:
    """Collect the warnings and the unusable values of one configuration file."""

    def __init__(self, path: str):
        self.path = path
        self.warnings: list[str] = []
        #: The values found unusable, in the order found.
        self.problems: list[_Problem] = []

    def fail(self, key: str | None, message: str) -> NoReturn:
        raise ConfigError(message, path=self.path, key=key)

    def warn(self, key: str, message: str) -> None:
        text = f"{self.path}: key {key!r}: {message}"
        if text not in self.warnings:  # a model-defaults value is checked once per container
            self.warnings.append(text)

    def unusable(self, key: str, message: str) -> _Problem:
        """Report that ML2P cannot use the value at ``key``; return the problem."""
        problem = (key, message)
        self.problems.append(problem)
        self.warn(key, f"{message}; commands that need this setting fail until it is fixed")
        return problem

    def use(self, rule: _Rule, value: Any, key: str) -> _Value:
        """Return what ``rule`` makes of ``value`` (at ``key``), with its problem if it fails."""
        try:
            used = rule(value, key, self)
        except ConfigError as exc:  # the rule's chk.fail
            return _Value(value, self.unusable(exc.key or key, exc.message))
        return _Value(value if used is None else used)

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


def _read(path: str, check: Callable[[_Checker], Any]) -> Any:
    """Return ``check(chk)``; raise the first problem it found with a value, naming ``path``."""
    chk = _Checker(path)
    result = check(chk)
    if chk.problems:
        raise _error(path, chk.problems[0])
    return result


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


def _is_whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_str(value: Any, key: str, chk: _Checker) -> None:
    if not _is_non_empty_str(value):
        chk.fail(key, f"must be a non-empty string, not {_describe(value)}")


def _check_text(value: Any, key: str, chk: _Checker) -> Any:
    """A string; a whole number is used as its digits, as ML2P 0.6 formatted it."""
    if _is_whole_number(value):
        chk.warn(key, f"is the number {value}; used as {str(value)!r} (quote it to make it text)")
        return str(value)
    _check_str(value, key, chk)
    return None


_TRUE_WORDS = ("true", "yes", "on", "1")
_FALSE_WORDS = ("false", "no", "off", "0")


def _check_bool(value: Any, key: str, chk: _Checker) -> Any:
    if isinstance(value, bool):
        return None
    word = str(value).strip().lower() if isinstance(value, (str, int)) else None
    # ML2P 0.6 read any non-empty text as true, and recorded what it was told not to.
    for words, meaning in ((_TRUE_WORDS, "true"), (_FALSE_WORDS, "false")):
        if word in words:
            what = "text" if isinstance(value, str) else "a number"
            chk.warn(
                key, f"{value!r} is {what}, not true or false; read as {meaning} (write {meaning})"
            )
            return meaning == "true"
    chk.fail(key, f"must be true or false, not {_describe(value)}")


def _check_positive_int(value: Any, key: str, chk: _Checker) -> None:
    if not _is_whole_number(value) or value <= 0:
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
            chk.warn(
                _join(key, name),
                "unknown vpc_config key; ML2P uses only 'security_groups' and 'subnets'",
            )
    for name in _VPC_KEYS:
        sub = _join(key, name)
        if name not in value:
            chk.fail(sub, "is required: give a non-empty list of strings")
        _check_str_list(value[name], sub, chk, non_empty=True)


def check_vpc_config(value: Any, key: str = "vpc_config", path: str = "<dict>") -> None:
    """Check a ``vpc_config`` setting as a command that uses it does.

    :param value: The setting: a mapping of non-empty ``security_groups`` and
        ``subnets`` lists of strings (other keys are ignored).
    :param key: The dotted key named in the error.
    :param path: The file named in the error.
    :raises ConfigError: if it cannot be used.
    """
    _Checker(path).use(_check_vpc_config, value, key).get(path)


def _check_internet_access(value: Any, key: str, chk: _Checker) -> None:
    if isinstance(value, bool) or value in _NOTEBOOK_INTERNET_ACCESS:
        return
    chk.fail(key, f"must be true, false, 'Enabled' or 'Disabled', not {_describe(value)}")


def _check_reference(value: Any, key: str, chk: _Checker) -> None:
    if not _is_non_empty_str(value) or any(c.isspace() for c in value):
        chk.fail(
            key,
            "must be a model reference (a dotted class path or an ml2p.models entry-point "
            f"name, without spaces), not {_describe(value)}",
        )


def _check_project(value: Any, key: str, chk: _Checker) -> None:
    _check_str(value, key, chk)
    if not _PROJECT_RE.fullmatch(value):
        chk.warn(
            key,
            f"{value!r} cannot start SageMaker resource names (letters, digits and '-', "
            "not starting or ending with '-'): SageMaker refuses the project's training "
            "jobs, models, endpoints and notebooks; its S3 and local commands work",
        )


def _check_s3folder(value: Any, key: str, chk: _Checker) -> Any:
    parsed = urllib.parse.urlparse(value) if isinstance(value, str) else None
    bucket = parsed.netloc if parsed else ""
    if parsed is None or not bucket or any(c.isspace() for c in bucket):
        chk.fail(key, f"must be an s3://bucket/prefix/ URL, not {_describe(value)}")
    if parsed.scheme != "s3":
        # ML2P 0.6 took the bucket and prefix of any URL.
        fixed = f"s3://{bucket}{parsed.path}"
        chk.warn(key, f"{value!r} is not an s3:// URL; used as {fixed!r}")
        return fixed
    return None


def _is_module_name(value: str) -> bool:
    return all(part.isidentifier() and not keyword.iskeyword(part) for part in value.split("."))


def _check_plugins(value: Any, key: str, chk: _Checker) -> tuple[str, ...]:
    if value is None:
        return ()
    if not _is_list(value):
        chk.fail(key, f"must be a list of module names, not {_describe(value)}")
    seen: set[str] = set()
    for index, item in enumerate(value):
        item_key = f"{key}[{index}]"
        if not isinstance(item, str) or not _is_module_name(item):
            chk.fail(
                item_key,
                f"must be a dotted module name such as 'my_project.hooks', not {_describe(item)}",
            )
        if item in seen:
            chk.fail(item_key, f"plugin {item!r} is listed more than once")
        seen.add(item)
    return tuple(value)


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
        "record_kms_key_id": _check_str,
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

_NOT_SETTINGS = "must be a mapping of settings, not {}"
_MODELS_NOT_MAPPING = "must be a mapping of model name to model reference, not {}"


@dataclasses.dataclass(frozen=True)
class _Section:
    """One section of the file (or ``defaults``) as loaded, each setting checked once.

    ``settings`` holds each setting as ML2P uses it (as written if it cannot;
    ``None`` if set to null, which removes a default), ``problems`` why ML2P cannot
    use some of them, and ``problem`` why it cannot use the section at all.
    """

    settings: dict[Any, Any] = dataclasses.field(default_factory=dict)
    problems: dict[Any, _Problem] = dataclasses.field(default_factory=dict)
    problem: _Problem | None = None

    def usable(self) -> dict[Any, Any]:
        """The settings ML2P can use."""
        return {k: v for k, v in self.settings.items() if k not in self.problems}


def _check_section(value: Any, key: str, chk: _Checker, rules: Mapping[str, _Rule]) -> _Section:
    if value is None:
        return _Section()
    if not isinstance(value, Mapping):
        return _Section(problem=chk.unusable(key, _NOT_SETTINGS.format(_describe(value))))
    settings: dict[Any, Any] = {}
    problems: dict[Any, _Problem] = {}
    for name, item in value.items():
        rule = rules.get(name) if isinstance(name, str) else None
        if rule is None:
            chk.warn_unknown(key, name, rules, "setting")
        elif item is not None:
            used = chk.use(rule, item, _join(key, name))
            item = used.value
            if used.problem is not None:
                problems[name] = used.problem
        settings[name] = item
    return _Section(settings, problems)


# --------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------

#: Each container setting: its rule, and whether a container must have it.
_CONTAINER_SETTINGS: dict[str, tuple[_Rule, bool]] = {
    "training_job": (_check_text, False),  # defaults to the container's name
    "image_tag": (_check_text, True),
    "cls": (_check_reference, True),
}


def _warn_unknown_container_keys(spec: Mapping, key: str, chk: _Checker) -> None:
    for name in spec:
        if name not in _CONTAINER_SETTINGS:
            chk.warn(
                _join(key, name),
                "unknown container key; ML2P uses " + ", ".join(_CONTAINER_SETTINGS),
            )


def _containers(model: Mapping, key: str, chk: _Checker) -> dict[str, dict[str, str]]:
    """Return a multi-container model's containers, each over ``model-defaults``.

    Lenient: the containers whose settings are usable, every problem warned about.
    """
    defaults_key = _join(key, _MODEL_DEFAULTS)
    defaults = model.get(_MODEL_DEFAULTS)
    if defaults is None:
        defaults = {}
    elif not isinstance(defaults, Mapping):
        chk.unusable(
            defaults_key,
            f"must be a mapping with 'cls' (and 'image_tag', 'training_job'), not "
            f"{_describe(defaults)}",
        )
        defaults = {}
    _warn_unknown_container_keys(defaults, defaults_key, chk)
    names = [name for name in model if name != _MODEL_DEFAULTS]
    if not names:
        chk.unusable(
            key,
            "a multi-container model needs at least one container: give container names as "
            "keys beside 'model-defaults', each mapping to {training_job, image_tag, cls}",
        )
    result: dict[str, dict[str, str]] = {}
    for cname in names:
        ckey = _join(key, cname)
        spec = model[cname]
        if spec is None:
            spec = {}
        if not isinstance(spec, Mapping):
            chk.unusable(
                ckey,
                "must be a mapping with 'training_job', 'image_tag' and 'cls', not "
                f"{_describe(spec)}",
            )
            continue
        _warn_unknown_container_keys(spec, ckey, chk)
        container: dict[str, str] = {}
        for field, (rule, required) in _CONTAINER_SETTINGS.items():
            if spec.get(field) is not None:
                used = chk.use(rule, spec[field], _join(ckey, field))
            elif defaults.get(field) is not None:
                used = chk.use(rule, defaults[field], _join(defaults_key, field))
            elif required:
                chk.unusable(
                    _join(ckey, field), f"is required (set it here or in model-defaults.{field})"
                )
                continue
            else:
                used = _Value(str(cname))
            if used.problem is None:
                container[field] = used.value
        if len(container) == len(_CONTAINER_SETTINGS):
            result[str(cname)] = container
    return result


def _check_models(value: Any, chk: _Checker) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        chk.unusable("models", _MODELS_NOT_MAPPING.format(_describe(value)))
        return
    for name, ref in value.items():
        key = _join("models", name)
        if not isinstance(name, str):
            chk.warn(key, f"model names are text; {name!r} is used as {str(name)!r}")
        if isinstance(ref, Mapping):
            _containers(ref, key, chk)
        elif ref is not None:  # None: no class; the image names its model, as 0.6 allowed
            chk.use(_check_reference, ref, key)


@dataclasses.dataclass(frozen=True)
class _Loaded:
    """What loading made of a file: its values, each checked once."""

    project: _Value
    s3folder: _Value
    plugins: _Value
    sections: dict[str, _Section]


def _load(data: Any, path: str) -> tuple[tuple[str, ...], dict[Any, Any], _Loaded]:
    """Check ``data``, the parsed file at ``path``.

    :returns: Its warnings, a plain copy of it, and its values checked.
    :raises ConfigError: for what ML2P 0.6 could not load either.
    """
    chk = _Checker(path)
    if not isinstance(data, Mapping):
        what = "an empty document" if data is None else _describe(data)
        chk.fail(None, f"the top level must be a mapping of settings, not {what}")
    data = {name: _plain_copy(value, str(name), chk, set()) for name, value in data.items()}
    for name in data:
        if name not in _TOP_LEVEL_KEYS:
            chk.warn_unknown("", name, _TOP_LEVEL_KEYS, "top-level key")
    # What ML2P 0.6 needed to load a file at all.
    if "project" not in data:
        chk.fail("project", "is required")
    if "s3folder" not in data:
        chk.fail("s3folder", "is required (e.g. 's3://bucket/prefix/')")
    if not isinstance(data["s3folder"], str):
        chk.fail(
            "s3folder", f"must be an s3://bucket/prefix/ URL, not {_describe(data['s3folder'])}"
        )
    project = chk.use(_check_project, data["project"], "project")
    s3folder = chk.use(_check_s3folder, data["s3folder"], "s3folder")
    _check_models(data.get("models"), chk)
    plugins = chk.use(_check_plugins, data.get("plugins"), "plugins")
    sections = {
        "defaults": _check_section(data.get("defaults"), "defaults", chk, _DEFAULT_SETTINGS)
    }
    for name in SECTIONS:
        sections[name] = _check_section(data.get(name), name, chk, _SECTION_SETTINGS[name])
    # Scaling settings that contradict each other fail the load (no 0.6 file has them);
    # they are compared among the settings usable on their own.
    usable = {name: s.usable() for name, s in sections.items() if s.problem is None}
    scaling_config.check_combinations(usable, chk)
    return tuple(chk.warnings), data, _Loaded(project, s3folder, plugins, sections)


def _plain_copy(value: Any, key: str, chk: _Checker, active: set[int]) -> Any:
    """Return a deep copy of ``value`` made of dicts, lists and sets (mappings, tuples...).

    :raises ConfigError: naming ``key`` if ``value`` contains itself (a recursive YAML alias).
    """
    if isinstance(value, (set, frozenset)):  # of hashable, so immutable, items
        return set(copy.deepcopy(list(value)))
    if not isinstance(value, (Mapping, list, tuple)):
        return copy.deepcopy(value)
    if id(value) in active:
        chk.fail(key, "contains a reference to itself (a recursive YAML alias)")
    active.add(id(value))
    try:
        if isinstance(value, Mapping):
            return {k: _plain_copy(v, _join(key, k), chk, active) for k, v in value.items()}
        return [_plain_copy(v, f"{key}[{i}]", chk, active) for i, v in enumerate(value)]
    finally:
        active.discard(id(value))


class _Settings(dict):
    """A section's settings over ``defaults``: a dict whose unusable settings raise when read.

    An unusable value stays in the dict as written; reading it with ``[]`` or
    ``get`` raises the :class:`~ml2p.errors.ConfigError` that names its file and key.
    """

    def __init__(self) -> None:
        super().__init__()
        self._unusable: dict[Any, ConfigError] = {}

    def _set(self, key: Any, value: Any, problem: ConfigError | None = None) -> None:
        self[key] = value
        if problem is None:
            self._unusable.pop(key, None)
        else:
            self._unusable[key] = problem

    def _remove(self, key: Any) -> None:
        self.pop(key, None)
        self._unusable.pop(key, None)

    def _check(self, key: Any) -> None:
        problem = self._unusable.get(key)
        if problem is not None:  # a new error each time: tracebacks do not pile up
            raise ConfigError(problem.message, path=problem.path, key=problem.key)

    def __getitem__(self, key: Any) -> Any:
        self._check(key)
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        self._check(key)
        return super().get(key, default)


# --------------------------------------------------------------------------------------
# The configuration object
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, repr=False)
class Config:
    """A checked ML2P project configuration: a frozen dataclass.

    Usually made by :func:`load_config`. Making one checks every value of ``data``
    once; its fields cannot be set, and every accessor that returns a dict or list
    returns a new copy, so callers may change what they get without changing the
    configuration. Configurations compare equal when their files and contents do.

    :param data: The parsed configuration (the top-level mapping of ``ml2p.yml``). It
        is copied; later changes to it do not affect the configuration.
    :param path: The file the configuration came from, used in errors and warnings.
    :raises ConfigError: If ``data`` cannot be loaded (see :func:`load_config`).
    """

    data: dataclasses.InitVar[Mapping[str, Any]]
    #: The file the configuration was loaded from (``"<dict>"`` if none).
    path: str = "<dict>"
    #: Messages about what ML2P does not use or cannot use, one per key: keys ML2P
    #: does not know (kept, and the closest known key suggested), values it reads in a
    #: way that may surprise (``record_invokes: "true"``), and values it cannot use: a
    #: command that needs one of those fails with a :class:`~ml2p.errors.ConfigError`
    #: naming the file and the key.
    warnings: tuple[str, ...] = dataclasses.field(init=False)
    _data: dict[Any, Any] = dataclasses.field(init=False)
    _loaded: _Loaded = dataclasses.field(init=False, compare=False)

    def __post_init__(self, data: Mapping[str, Any]) -> None:
        path = os.fsdecode(self.path)
        warnings, plain, loaded = _load(data, path)
        # How a frozen dataclass sets the fields it derives from its arguments.
        for name, value in (
            ("path", path),
            ("warnings", warnings),
            ("_data", plain),
            ("_loaded", loaded),
        ):
            object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        return f"Config(path={self.path!r}, project={self._loaded.project.value!r})"

    @property
    def project(self) -> str:
        """The project name, the prefix of every AWS resource name.

        :raises ConfigError: if it is not a non-empty string.
        """
        return self._loaded.project.get(self.path)

    @property
    def s3folder(self) -> str:
        """The project's ``s3://bucket/prefix/`` URL, as configured.

        A URL with another scheme (``https://bucket/prefix/``) is given with
        ``s3://``, as ML2P 0.6 read it: its host is the bucket.

        :raises ConfigError: if it has no bucket.
        """
        return self._loaded.s3folder.get(self.path)

    @property
    def plugins(self) -> tuple[str, ...]:
        """The module names of the project-local hook plugins, in configured order.

        :raises ConfigError: if ``plugins`` is not a list of distinct module names.
        """
        return self._loaded.plugins.get(self.path)

    def as_dict(self) -> dict[str, Any]:
        """Return a deep copy of the whole configuration as written: plain dicts and lists."""
        return copy.deepcopy(self._data)

    def _models(self) -> dict[str, Any]:
        models = self._data.get("models")
        if models is None:
            return {}
        if not isinstance(models, Mapping):
            raise ConfigError(
                _MODELS_NOT_MAPPING.format(_describe(models)), path=self.path, key="models"
            )
        return {str(name): value for name, value in models.items()}

    @property
    def models(self) -> dict[str, Any]:
        """A new dict of model name to model reference.

        A single-container model's value is its reference string (a dotted class path or
        an ``ml2p.models`` entry-point name), or ``None`` if it names no class (the image
        names its model itself, with ``ml2p-docker --model``); a multi-container model's
        value is its mapping as written in the file: optionally ``model-defaults``, and
        each other key a container name mapping to ``{training_job, image_tag, cls}`` (or
        ``None``). Use :meth:`model_reference`, :meth:`model_class` and
        :meth:`model_containers` for checked values. Names are strings.

        :raises ConfigError: if ``models`` is not a mapping.
        """
        return copy.deepcopy(self._models())

    def section(self, name: str) -> dict[str, Any]:
        """Return a new dict of the settings of section ``name`` over ``defaults``.

        The overlay is shallow: a key set in the section replaces the default's value
        wholesale (``vpc_config`` is not merged key by key). A key set to ``null`` in the
        section removes the default; keys whose value is ``null`` are left out.

        Reading a setting whose value ML2P cannot use (``d["vpc_config"]`` or
        ``d.get("vpc_config")``) raises a :class:`~ml2p.errors.ConfigError` naming the
        file and the key it was set at (``train.vpc_config`` or ``defaults.vpc_config``),
        so a command fails only for the settings it needs. Values read leniently are
        given as read (``record_invokes: "true"`` as ``True``).

        :param name: One of :data:`SECTIONS` (``dataset``, ``train``, ``deploy``,
            ``notebook``, ``transform``).
        :raises ConfigError: If ``name`` is not a known section, or the section or
            ``defaults`` is not a mapping.
        """
        if name not in SECTIONS:
            raise ConfigError(
                f"unknown section {name!r}; expected one of {', '.join(SECTIONS)}",
                path=self.path,
                key=str(name),
            )
        settings = _Settings()
        for layer in (self._loaded.sections["defaults"], self._loaded.sections[name]):
            if layer.problem is not None:
                raise _error(self.path, layer.problem)
            for key, value in layer.settings.items():
                if value is None:
                    settings._remove(key)
                    continue
                problem = layer.problems.get(key)
                error = _error(self.path, problem) if problem is not None else None
                settings._set(key, copy.deepcopy(value), error)
        return settings

    def check_model_defined(self, name: str) -> None:
        """Check that ``name`` is a key of :attr:`models`.

        The one wording of an undefined model, for every command and method that
        takes a model's name.

        :raises ConfigError: naming the key ``models.<name>`` and listing the defined
            models, if it is not one of them.
        """
        models = self._models()
        if name not in models:
            defined = ", ".join(sorted(models)) or "(none)"
            raise ConfigError(
                f"model {name!r} is not defined; defined models: {defined}",
                path=self.path,
                key=f"models.{name}",
            )

    def _model(self, name: str) -> Any:
        self.check_model_defined(name)
        return self._models()[name]

    def model_reference(self, name: str) -> str:
        """Return the class reference of the single-container model ``name``.

        :param name: A key of :attr:`models`.
        :raises ConfigError: If the model is not defined (the message lists the defined
            models), is a multi-container model, or has no usable reference.
        """
        ref = self._model(name)
        key = f"models.{name}"
        if isinstance(ref, Mapping):
            raise ConfigError(
                f"model {name!r} is a multi-container model and has no single class "
                "reference; use model_containers()",
                path=self.path,
                key=key,
            )
        if ref is None:
            raise ConfigError(
                f"model {name!r} names no class: give a dotted class path or an ml2p.models "
                "entry-point name",
                path=self.path,
                key=key,
            )
        return _read(self.path, lambda chk: chk.use(_check_reference, ref, key).value)

    def model_class(self, name: str) -> str | None:
        """Return the class a training job, a dataset generation or a single-container
        model of ``name`` runs (their ``ML2P_MODEL_CLS``), as ML2P 0.6 chose it.

        :param name: A key of :attr:`models`.
        :returns: The model's reference; ``None`` if its value is empty (the image
            names its model); for a multi-container model, its ``model-defaults.cls``.
        :raises ConfigError: If the model is not defined, its reference is unusable,
            or it is a multi-container model without ``model-defaults.cls``.
        """
        ref = self._model(name)
        if ref is None:
            return None
        if not isinstance(ref, Mapping):
            return self.model_reference(name)
        key = f"models.{name}.{_MODEL_DEFAULTS}.cls"
        defaults = ref.get(_MODEL_DEFAULTS)
        cls = defaults.get("cls") if isinstance(defaults, Mapping) else None
        if cls is None:
            raise ConfigError(
                "is required to train, generate a dataset or create a single-container model "
                f"with the multi-container model {name!r}",
                path=self.path,
                key=key,
            )
        return _read(self.path, lambda chk: chk.use(_check_reference, cls, key).value)

    def model_containers(self, name: str) -> dict[str, dict[str, str]]:
        """Return the containers of the multi-container model ``name``.

        Each container's settings (``training_job``, ``image_tag`` and ``cls``) are its
        own over the model's ``model-defaults``; ``training_job`` defaults to the
        container name.

        :param name: A key of :attr:`models`.
        :returns: A new dict of container name to ``{"training_job": ..., "image_tag":
            ..., "cls": ...}``, in configured order.
        :raises ConfigError: If the model is not defined or is a single-container model,
            has no container, or a container lacks a usable ``image_tag`` or ``cls``.
        """
        ref = self._model(name)
        if not isinstance(ref, Mapping):
            raise ConfigError(
                f"model {name!r} is a single-container model; use model_reference()",
                path=self.path,
                key=f"models.{name}",
            )
        return _read(self.path, lambda chk: _containers(ref, f"models.{name}", chk))


def config_from_dict(data: Mapping[str, Any], path: str = "<dict>") -> Config:
    """Check an already-parsed configuration mapping and return a :class:`Config`.

    :param data: The top-level mapping, as ``yaml.safe_load`` would return it. It is
        copied; later changes to it do not affect the result.
    :param path: Where the data came from, used in error and warning messages.
    :raises ConfigError: If the configuration cannot be loaded (as :func:`load_config`).
    """
    return Config(data, path)


def load_config(path: str | os.PathLike[str] = DEFAULT_CONFIG_FILE) -> Config:
    """Read, parse and validate an ``ml2p.yml`` file.

    :param path: The configuration file (default :data:`DEFAULT_CONFIG_FILE`).
    :raises ConfigFileNotFoundError: If the file is missing (a
        :class:`~ml2p.errors.ConfigError` that is also the ``FileNotFoundError`` ML2P 0.6
        raised).
    :raises ConfigError: If the file is unreadable, is not valid YAML (the
        message gives the line and column), its top level is not a mapping, or the
        configuration is invalid. The error names the file and, where one is at fault,
        the dotted key.
    """
    import yaml  # here, so that importing this module (as ``ml2p --help`` does) stays cheap

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
    container's ``cls`` (its own, or the model's ``model-defaults`` one). A model whose
    value is empty names no class (its image names its model) and resolves to ``None``.

    :param cfg: The configuration whose models to check.
    :param resolve: Turns a reference into an object (e.g. a model class); any
        :class:`Exception` it raises means the reference is bad.
    :returns: A new dict of model name to resolved object; for a multi-container model,
        the value is a dict of container name to resolved object.
    :raises ConfigError: Naming ``cfg.path`` and the key (``models.<name>`` or
        ``models.<name>.<container>.cls``), with the reference and the
        original error in the message, chained from the original error; or for a
        model ML2P cannot use (see :meth:`Config.model_containers`).
    """
    resolved: dict[str, object] = {}
    for name, ref in cfg.models.items():
        if not isinstance(ref, dict):
            cls = cfg.model_class(name)
            resolved[name] = (
                None if cls is None else _resolve(cfg, resolve, cls, f"models.{name}", "")
            )
            continue
        objects: dict[str, object] = {}
        for cname, spec in cfg.model_containers(name).items():
            inherited = (ref.get(cname) or {}).get("cls") is None
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
