"""The object every ``ml2p`` command receives: the project, its config and AWS clients.

It is ML2P 0.6's ``ModellingProjectWithSagemakerClient``, so that commands a
0.6 deploy script added to the ``ml2p`` group keep working: ``cfg`` is the
loaded ``ml2p.yml`` as a dict, ``client`` the SageMaker client, and
``full_job_name()``, ``tags()``, ``s3``, the section views (``train.image``)
and ``models[...]`` are there (see :class:`ml2p.project.ModellingProject`).
ML2P's own commands read the checked :attr:`~ml2p.project.ModellingProject.config`
and make other AWS clients with :meth:`~ModellingProjectWithSagemakerClient.aws_client`.

Each run of an ``ml2p`` command is a plugin host (:mod:`ml2p.plugin_host`): it
builds its own plugin manager, :func:`command_plugin_manager`, and hands it to
what it runs in its process.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Callable

import click

from ml2p import naming
from ml2p.config import DEFAULT_CONFIG_FILE
from ml2p.project import ModellingProject

if TYPE_CHECKING:  # pragma: no cover
    from ml2p.plugins import PluginManager

__all__ = [
    "ModellingProjectWithSagemakerClient",
    "Project",
    "command_plugin_manager",
    "pass_project",
    "project_of",
]

_PLUGIN_MANAGERS_KEY = "ml2p.plugin_managers"


def command_plugin_manager(
    project_plugins: Sequence[str] = (), ctx: click.Context | None = None
) -> PluginManager:
    """Return the plugin manager of the ``ml2p`` command running in ``ctx``.

    Built on first use (:func:`ml2p.plugins.make_plugin_manager`: the
    installed plugins, then ``project_plugins``) and kept in the command's
    root context: one command builds it once, and another command run in the
    same process builds its own. It is never changed.

    :param project_plugins: The project's plugin modules (``plugins:``).
    :param ctx: The command's context (default: the current one; without
        one, a new manager is returned).
    :raises ml2p.errors.PluginError: naming a plugin that fails to load.
    """
    from ml2p.plugins import make_plugin_manager

    ctx = ctx if ctx is not None else click.get_current_context(silent=True)
    if ctx is None:
        return make_plugin_manager(project_plugins)
    managers: dict[tuple[str, ...], PluginManager]
    managers = ctx.find_root().meta.setdefault(_PLUGIN_MANAGERS_KEY, {})
    key = tuple(project_plugins)
    if key not in managers:
        managers[key] = make_plugin_manager(key)
    return managers[key]


class ModellingProjectWithSagemakerClient(ModellingProject):
    """The project a command acts on: ML2P 0.6's command object.

    A :class:`~ml2p.project.ModellingProject` with a SageMaker ``client``.
    The ``ml2p`` command makes it with ``load=False``: the configuration is
    loaded on first use (so that ``ml2p models`` and ``ml2p local invoke``
    run without one), through :func:`ml2p.cli.project_config.load_project_config`,
    which prints its warnings and makes its folder importable. AWS clients are
    made on first use too, through :func:`ml2p.aws.client`.

    A custom ``click`` group may set one as ``ctx.obj`` and add the ``ml2p``
    commands (:mod:`ml2p.cli_commands`) to itself, as with ML2P 0.6.

    :param str cfg: The ``ml2p.yml`` file (``--cfg``).
    :param bool quiet: Whether progress bars are suppressed (``--quiet``).
    :param bool debug: Whether errors show their traceback (``--debug``).
    :param bool load: Whether to read the file now (as ML2P 0.6 did) or on first use.
    """

    def __init__(
        self,
        cfg: str = DEFAULT_CONFIG_FILE,
        *,
        quiet: bool = False,
        debug: bool = False,
        load: bool = True,
    ):
        self.quiet = quiet
        self.debug = debug
        self._clients: dict[str, Any] = {}
        #: What the running command acts on, as (kind, name), for error messages.
        self.resource: tuple[str, str] | None = None
        super().__init__(cfg, load=load)

    def _load_config(self) -> Any:
        from ml2p.cli.project_config import load_project_config

        return load_project_config(self.cfg_path)

    @functools.cached_property
    def client(self) -> Any:
        """The boto3 SageMaker client (made on first use; it may be replaced)."""
        return self.aws_client("sagemaker")

    def aws_client(self, service: str) -> Any:
        """Return the (cached) boto3 client for ``service``; ``client`` for ``"sagemaker"``."""
        if service == "sagemaker" and "client" in self.__dict__:
            return self.__dict__["client"]
        if service not in self._clients:
            from ml2p import aws

            self._clients[service] = aws.client(service)
        return self._clients[service]

    @property
    def plugin_manager(self) -> PluginManager:
        """This command's plugin manager, with the configuration's ``plugins:``.

        :func:`command_plugin_manager` for :attr:`config`'s plugins (loading
        the configuration first, if it is not yet).
        """
        return command_plugin_manager(self.config.plugins)

    @property
    def sagemaker(self) -> Any:
        """The SageMaker client (:attr:`client`)."""
        return self.client

    @property
    def s3_client(self) -> Any:
        """The S3 client."""
        return self.aws_client("s3")

    def full_name(self, name: str) -> str:
        """Return the AWS resource name ``<project>-<name>`` (at most 63 characters)."""
        return naming.full_name(self.project, name)

    def target(self, kind: str, name: str) -> str:
        """Record what the command acts on (for "no such ..." errors); return ``name``."""
        self.resource = (kind, name)
        return name


#: The name ML2P's command modules use for the command object.
Project = ModellingProjectWithSagemakerClient

_META_KEY = "ml2p.project"


def project_of(ctx: click.Context) -> ModellingProjectWithSagemakerClient:
    """Return the project object for the command running in ``ctx``.

    ``ctx.obj`` as set by the ``ml2p`` group or by a custom group (ML2P
    0.6's ``ModellingProjectWithSagemakerClient``); one sharing the ``cfg``
    of a plain :class:`~ml2p.project.ModellingProject` a custom group set;
    or, for a command invoked on its own, one for ``./ml2p.yml``.

    :raises TypeError: if ``ctx.obj`` is some other object.
    """
    obj = ctx.obj
    if isinstance(obj, ModellingProjectWithSagemakerClient):
        return obj
    made = ctx.meta.get(_META_KEY)
    if made is None:
        if obj is None:
            made = ModellingProjectWithSagemakerClient(DEFAULT_CONFIG_FILE, load=False)
        elif isinstance(obj, ModellingProject):
            made = ModellingProjectWithSagemakerClient(obj.cfg_path, load=False)
            made.cfg = obj.cfg  # the same dict: the group's changes are seen
        else:
            raise TypeError(
                "ml2p commands need ctx.obj to be an ml2p.cli.ModellingProjectWithSagemakerClient "
                f"or an ml2p.core.ModellingProject, not {type(obj).__name__}"
            )
        ctx.meta[_META_KEY] = made
    return made


def pass_project(func: Callable[..., Any]) -> Callable[..., Any]:
    """Like :func:`click.pass_obj`, but passes :func:`project_of` the context."""

    @functools.wraps(func)
    def call(*args: Any, **kwargs: Any) -> Any:
        return func(project_of(click.get_current_context()), *args, **kwargs)

    return call
