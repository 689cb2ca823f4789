"""Finding and loading plugins and models.

One factory, :func:`make_plugin_manager`, builds the plugin manager: it adds
the hook specifications of :mod:`ml2p.hookspecs`, registers the built-in
plugin (the model's own methods), loads the ``ml2p.plugins`` entry points,
registers the project's own plugin modules (``plugins:`` in ``ml2p.yml``),
and checks that every implementation matches a known hook.
Who builds one: each program that runs a model (the server's workers,
``ml2p-docker``'s jobs, each ``ml2p`` command) builds its own and hands it to
the trainer, predictor or generator it makes (:mod:`ml2p.plugin_host`).
:func:`get_plugin_manager` is the library default, for objects made by plain
library code: built on first use, never changed afterwards. Entry points are
scanned and imported only when a manager is built.

Two environment variables select the installed plugins, by entry-point name
or distribution name, comma separated:

``ML2P_LOAD_PLUGINS``
    If set, only these are loaded (set it empty to load none).
``ML2P_DISABLE_PLUGINS``
    These are never loaded: a broken plugin can be switched off without
    uninstalling it.

Both apply to ``ml2p.plugins`` and ``ml2p.models`` entry points alike.

Writing a plugin, in short: write a module with functions named after hooks
in :mod:`ml2p.hookspecs`, decorated with ``ml2p.hookimpl``; declare it in
your distribution's metadata::

    [options.entry_points]
    ml2p.plugins =
        my_plugin = my_package.my_plugin

then ``pip install`` it; ``ml2p plugins`` lists it with its hooks.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable

import pluggy

from ml2p import builtin_hooks, hookspecs
from ml2p.errors import ModelNotFoundError, PluginError
from ml2p.variables import (
    ML2P_DISABLE_PLUGINS,
    ML2P_LOAD_PLUGINS,
    ML2P_PROJECT_PLUGINS,
    names_in,
)

#: The entry-point group of installed plugins.
PLUGIN_GROUP = "ml2p.plugins"
#: The entry-point group of installed models.
MODEL_GROUP = "ml2p.models"
#: The name of the built-in plugin (:mod:`ml2p.builtin_hooks`).
BUILTIN_PLUGIN = "ml2p.builtin"
#: The allow-list variable (:data:`ml2p.variables.ML2P_LOAD_PLUGINS`).
ALLOW_ENV = ML2P_LOAD_PLUGINS
#: The block-list variable (:data:`ml2p.variables.ML2P_DISABLE_PLUGINS`).
BLOCK_ENV = ML2P_DISABLE_PLUGINS
#: The project plugins variable (:data:`ml2p.variables.ML2P_PROJECT_PLUGINS`).
PROJECT_PLUGINS_ENV = ML2P_PROJECT_PLUGINS

_UNSET: Any = object()


@dataclass(frozen=True)
class EntryPointInfo:
    """An installed entry point, with the distribution that provides it."""

    group: str
    name: str
    value: str
    dist: str | None
    version: str | None
    entry_point: Any

    def load(self) -> Any:
        return self.entry_point.load()


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(".", "-")


def _names(environ: Mapping[str, str], variable: str) -> set | None:
    names = names_in(environ, variable)
    return None if names is None else {_norm(n) for n in names}


def _entry_points(group: str) -> list[Any]:
    if sys.version_info >= (3, 10):
        from importlib.metadata import entry_points
    else:  # pragma: no cover - exercised on 3.9 only
        from importlib_metadata import entry_points
    return list(entry_points(group=group))


def installed_entry_points(
    group: str, environ: Mapping[str, str] | None = None, selected_only: bool = True
) -> dict[str, EntryPointInfo]:
    """Return the entry points of ``group`` by name.

    :param group: ``ml2p.plugins`` or ``ml2p.models``.
    :param environ: Where to read the allow- and block-lists (default
        ``os.environ``).
    :param selected_only: Leave out those the allow- and block-lists exclude.
    """
    environ = os.environ if environ is None else environ
    allow = _names(environ, ALLOW_ENV)
    block = _names(environ, BLOCK_ENV) or set()
    found: dict[str, EntryPointInfo] = {}
    for ep in _entry_points(group):
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else None
        keys = {_norm(ep.name)} | ({_norm(dist_name)} if dist_name else set())
        if selected_only and (keys & block or (allow is not None and not keys & allow)):
            continue
        found.setdefault(
            ep.name,
            EntryPointInfo(
                group=group,
                name=ep.name,
                value=ep.value,
                dist=dist_name,
                version=dist.version if dist is not None else None,
                entry_point=ep,
            ),
        )
    return found


def _plugin_module_name(plugin: Any) -> str:
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    return type(plugin).__module__


class PluginManager(pluggy.PluginManager):
    """ML2P's :class:`pluggy.PluginManager`.

    It names the plugin in every registration error (as
    :class:`ml2p.errors.PluginError`), remembers which entry point each
    plugin came from, and works out once per registration change whether a
    batch can keep the model's batch-level path.
    """

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.entry_point_plugins: dict[str, EntryPointInfo] = {}
        self._per_datum: Any = _UNSET
        self._model_only_ids: Any = _UNSET

    def register(self, plugin: Any, name: str | None = None) -> str | None:
        label = name or self.get_canonical_name(plugin)
        try:
            registered = super().register(plugin, name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(label, f"invalid hook implementation: {exc}") from exc
        except ValueError as exc:
            raise PluginError(label, str(exc)) from exc
        self._forget_derived()
        return registered

    def unregister(self, plugin: Any = None, name: str | None = None) -> Any:
        removed = super().unregister(plugin, name)
        self._forget_derived()
        return removed

    def _forget_derived(self) -> None:
        # What is worked out from the registered plugins must be worked out again.
        self._per_datum = _UNSET
        self._model_only_ids = _UNSET

    def check_pending(self) -> None:
        """Raise :class:`~ml2p.errors.PluginError` naming a plugin with an unknown hook."""
        try:
            super().check_pending()
        except pluggy.PluginValidationError as exc:
            label = self.get_name(exc.plugin) or repr(exc.plugin)
            raise PluginError(label, str(exc)) from exc

    def per_datum_result_caller(self) -> Callable[..., Any] | None:
        """Return the ``ml2p_result`` caller a batch must call per datum, or ``None``.

        ``None`` means only the model answers ``ml2p_result`` (apart from
        plugins that also implement ``ml2p_batch_result`` and so already saw
        the batch): the batch then goes to ``predictor.batch_result`` whole.
        """
        if self._per_datum is _UNSET:
            builtin = self.get_plugin(BUILTIN_PLUGIN)
            on_result = {id(i.plugin): i.plugin for i in self.hook.ml2p_result.get_hookimpls()}
            on_batch = {id(i.plugin): i.plugin for i in self.hook.ml2p_batch_result.get_hookimpls()}
            on_result.pop(id(builtin), None)
            on_batch.pop(id(builtin), None)
            if not set(on_result) - set(on_batch):
                self._per_datum = None
            elif on_batch:
                self._per_datum = self.subset_hook_caller("ml2p_result", list(on_batch.values()))
            else:
                self._per_datum = self.hook.ml2p_result
        return self._per_datum

    def record_ids_from_model_only(self) -> bool:
        """Return whether only the built-in plugin implements ``ml2p_record_invoke_id``.

        Then a record id is the predictor's own ``record_invoke_id`` and the
        hook call can be skipped.
        """
        if self._model_only_ids is _UNSET:
            impls = self.hook.ml2p_record_invoke_id.get_hookimpls()
            self._model_only_ids = len(impls) == 1 and impls[0].plugin_name == BUILTIN_PLUGIN
        return self._model_only_ids

    def plugin_for_exception(self, exc: BaseException) -> str | None:
        """Return the name of the plugin whose own code raised ``exc``, if any.

        The traceback is read from where ``exc`` was raised outwards, up to
        the first frame that is either a registered plugin's code (that
        plugin is named), the built-in plugin's, or a method of the model's
        trainer, predictor or generator (no plugin is named: the model's
        own code raised, or library code it called). So a wrapper that lets
        the exception of what it wraps pass through its ``yield`` is not
        named, while a wrapper that raises an exception of its own, or an
        implementation that raises (or calls library code that does), is.
        """
        from ml2p.core import _Hooked

        modules = {
            _plugin_module_name(plugin): name
            for name, plugin in self.list_name_plugin()
            if plugin is not None
        }
        frames = []
        tb = exc.__traceback__
        while tb is not None:
            frames.append(tb.tb_frame)
            tb = tb.tb_next
        for frame in reversed(frames):
            if isinstance(frame.f_locals.get("self"), _Hooked):
                return None
            name = modules.get(frame.f_globals.get("__name__", ""))
            if name is not None:
                return None if name == BUILTIN_PLUGIN else name
        return None

    def hooks_of(self, plugin: Any) -> list[str]:
        """Return the names of the hooks ``plugin`` implements."""
        return sorted(caller.name for caller in self.get_hookcallers(plugin) or [])

    def register_module(self, module_name: str) -> Any:
        """Import ``module_name`` and register it as a plugin named after it."""
        if self.has_plugin(module_name):
            return self.get_plugin(module_name)
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise PluginError(
                module_name, f"failed to import: {type(exc).__name__}: {exc}"
            ) from exc
        self.register(module, name=module_name)
        return module

    def load_entry_points(self, environ: Mapping[str, str] | None = None) -> None:
        """Load and register the selected ``ml2p.plugins`` entry points."""
        for name, info in installed_entry_points(PLUGIN_GROUP, environ).items():
            if self.has_plugin(name):
                continue
            try:
                plugin = info.load()
            except Exception as exc:
                raise PluginError(
                    name,
                    f"failed to load entry point {info.value!r} (from {info.dist}): "
                    f"{type(exc).__name__}: {exc}; set {BLOCK_ENV}={name} to disable it",
                ) from exc
            self.register(plugin, name=name)
            self.entry_point_plugins[name] = info


def make_plugin_manager(
    project_plugins: Iterable[str] = (),
    load_entry_points: bool = True,
    environ: Mapping[str, str] | None = None,
) -> PluginManager:
    """Build a plugin manager: specs, built-in plugin, entry points, project plugins.

    :param project_plugins: Importable module names to register (the
        ``plugins:`` list of ``ml2p.yml``).
    :param load_entry_points: Load the ``ml2p.plugins`` entry points.
    :param environ: Where to read ``ML2P_LOAD_PLUGINS`` and
        ``ML2P_DISABLE_PLUGINS`` (default ``os.environ``).
    :raises ml2p.errors.PluginError: naming the plugin that failed to
        import or that implements a hook wrongly.
    """
    pm = PluginManager()
    pm.register(builtin_hooks, name=BUILTIN_PLUGIN)
    if load_entry_points:
        pm.load_entry_points(environ)
    for module_name in project_plugins:
        pm.register_module(module_name)
    pm.check_pending()
    return pm


def add_project_folder(folder: str) -> None:
    """Let the project's own plugin modules be imported from ``folder`` (where ``ml2p.yml`` is).

    ``folder`` is appended to ``sys.path`` unless it is already there. It
    goes last, so it never shadows an installed package: a project module
    named like an installed one is not imported (see
    :func:`shadowed_project_modules`).
    """
    folder = os.path.abspath(folder)
    if all(os.path.abspath(entry or os.curdir) != folder for entry in sys.path):
        sys.path.append(folder)


def shadowed_project_modules(folder: str, module_names: Iterable[str]) -> dict[str, str]:
    """Return the modules of ``folder`` that an installed module of the same name hides.

    :param folder: The project folder.
    :param module_names: Module names (``plugins:`` in ``ml2p.yml``); only
        the top-level package of each is looked at.
    :returns: Top-level name -> where the module that would be imported lives.
    """
    import importlib.util

    folder = os.path.abspath(folder)
    hidden: dict[str, str] = {}
    for top in dict.fromkeys(name.split(".", 1)[0] for name in module_names):
        if not (
            os.path.isfile(os.path.join(folder, f"{top}.py"))
            or os.path.isdir(os.path.join(folder, top))
        ):
            continue
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            continue
        locations = list(spec.submodule_search_locations or []) if spec else []
        if spec is not None and spec.origin and spec.has_location:
            locations.append(spec.origin)
        if spec is not None and not any(
            os.path.abspath(path).startswith(folder + os.sep) for path in locations
        ):
            hidden[top] = spec.origin or ", ".join(locations) or "an installed module"
    return hidden


# The library defaults, one per distinct tuple of project plugins; each is built once
# and never changed afterwards (a caller with other project plugins gets another).
_defaults: dict[tuple[str, ...], PluginManager] = {}
_defaults_lock = threading.Lock()


def get_plugin_manager(project_plugins: Sequence[str] | None = None) -> PluginManager:
    """Return the library default plugin manager for ``project_plugins``.

    For plain library use (ML2P 0.6 code that makes a predictor, trainer or
    generator itself): such an object fetches this on its first hook call.
    Programs that run models (the server, ``ml2p-docker``, the ``ml2p``
    commands) build their own manager instead (see :mod:`ml2p.plugin_host`).

    The manager for a given list is built on first use with
    :func:`make_plugin_manager` (installed plugins selected by
    ``ML2P_LOAD_PLUGINS`` and ``ML2P_DISABLE_PLUGINS`` of ``os.environ``, then
    the project plugins) and returned to every later caller with the same list.
    It is never changed: another list gets a manager of its own, so what
    runs never depends on who asked first.

    :param project_plugins: The project's plugin modules (default: those of
        ``ML2P_PROJECT_PLUGINS`` in ``os.environ``).
    :raises ml2p.errors.PluginError: as :func:`make_plugin_manager`.
    """
    if project_plugins is None:
        project_plugins = names_in(os.environ, PROJECT_PLUGINS_ENV) or []
    key = tuple(project_plugins)
    with _defaults_lock:
        pm = _defaults.get(key)
        if pm is None:
            pm = _defaults[key] = make_plugin_manager(key)
        return pm


def reset_plugin_manager() -> None:
    """Forget the library default plugin managers (for tests)."""
    with _defaults_lock:
        _defaults.clear()


def _import_dotted(ref: str) -> Any:
    if ":" in ref:
        module_name, _, attr_path = ref.partition(":")
    else:
        module_name, _, attr_path = ref.rpartition(".")
    if not module_name or not attr_path:
        raise ModelNotFoundError(f"model {ref!r} is not a dotted path to a class")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelNotFoundError(
            f"model {ref!r}: cannot import module {module_name!r}: {exc}"
        ) from exc
    for attr in attr_path.split("."):
        try:
            obj = getattr(obj, attr)
        except AttributeError:
            raise ModelNotFoundError(
                f"model {ref!r}: module {module_name!r} has no attribute {attr_path!r}"
            ) from None
    return obj


def resolve_model(ref: str, environ: Mapping[str, str] | None = None) -> type:
    """Return the :class:`ml2p.core.Model` subclass that ``ref`` names.

    ``ref`` is the name of an ``ml2p.models`` entry point, or a dotted path
    (``package.module.Class`` or ``package.module:Class``). A dotted path is
    imported first, without scanning entry points.

    :raises ml2p.errors.ModelNotFoundError: if ``ref`` resolves to nothing,
        or not to a Model subclass; the message lists the installed models.
    :raises ml2p.errors.PluginError: if the entry point fails to load.
    """
    from ml2p.core import Model

    if not isinstance(ref, str) or not ref.strip():
        raise ModelNotFoundError(f"model reference must be a non-empty string, got {ref!r}")
    ref = ref.strip()
    obj: Any = _UNSET
    dotted_error: ModelNotFoundError | None = None
    if "." in ref or ":" in ref:
        try:
            obj = _import_dotted(ref)
        except ModelNotFoundError as exc:
            dotted_error = exc
    if obj is _UNSET:
        models = installed_entry_points(MODEL_GROUP, environ)
        if ref in models:
            try:
                obj = models[ref].load()
            except Exception as exc:
                raise PluginError(
                    ref,
                    f"model entry point {models[ref].value!r} (from {models[ref].dist}) failed "
                    f"to load: {type(exc).__name__}: {exc}",
                ) from exc
        elif dotted_error is not None:
            raise dotted_error
        else:
            known = ", ".join(sorted(models)) or "none"
            raise ModelNotFoundError(
                f"no model named {ref!r}: not an installed {MODEL_GROUP} entry point "
                f"(installed: {known}) nor a dotted path to a class"
            )
    if not (isinstance(obj, type) and issubclass(obj, Model)):
        raise ModelNotFoundError(
            f"model {ref!r} resolves to {obj!r}, not an ml2p.core.Model subclass"
        )
    return obj
