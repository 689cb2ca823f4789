"""The object every ``ml2p`` command receives: the project, its config and AWS clients."""

from __future__ import annotations

import functools
from typing import Any, Callable, Dict, Optional, Tuple

import click

from ml2p import naming
from ml2p.project import ModellingProject

__all__ = ["ModellingProjectWithSagemakerClient", "Project", "pass_project", "project_of"]


class Project:
    """The project a command acts on.

    The configuration is loaded on first use, so commands that do not need
    it (``ml2p models``, ``ml2p local invoke``) run without one. AWS clients
    are made on first use too, through :func:`ml2p.aws.client`.

    :param cfg_path: The ``ml2p.yml`` file (``--cfg``).
    :param quiet: Whether progress bars are suppressed (``--quiet``).
    :param debug: Whether errors show their traceback (``--debug``).
    :param modelling: An ML2P 0.6 project object that a custom command group
        gave its commands (see :func:`project_of`): its configuration, and its
        SageMaker ``client`` if it has one, are used.
    """

    def __init__(
        self,
        cfg_path: str,
        quiet: bool = False,
        debug: bool = False,
        modelling: Optional[ModellingProject] = None,
    ):
        self.cfg_path = cfg_path
        self.quiet = quiet
        self.debug = debug
        self._cfg: Any = None
        self._modelling = modelling
        self._clients: Dict[str, Any] = {}
        #: What the running command acts on, as (kind, name), for error messages.
        self.resource: Optional[Tuple[str, str]] = None

    @property
    def cfg(self) -> Any:
        """The loaded :class:`ml2p.config.Config` (loaded on first use).

        Loaded by :func:`ml2p.cli.project_config.load_project_config`: its
        warnings are printed and its folder is made importable. With an ML2P
        0.6 project object (``modelling``), that object's configuration.
        """
        if self._modelling is not None:
            return self._modelling.config
        if self._cfg is None:
            from ml2p.cli.project_config import load_project_config

            self._cfg = load_project_config(self.cfg_path)
        return self._cfg

    @property
    def project(self) -> str:
        """The project name."""
        return self.cfg.project

    @property
    def s3(self) -> Any:
        """The project's :class:`ml2p.core.S3URL`."""
        from ml2p.core import S3URL

        return S3URL(self.cfg.s3folder)

    def full_name(self, name: str) -> str:
        """Return the AWS resource name ``<project>-<name>``."""
        return naming.full_name(self.project, name)

    def client(self, service: str) -> Any:
        """Return the (cached) boto3 client for ``service``."""
        if service not in self._clients:
            own = getattr(self._modelling, "client", None) if service == "sagemaker" else None
            if own is None:
                from ml2p import aws

                own = aws.client(service)
            self._clients[service] = own
        return self._clients[service]

    @property
    def sagemaker(self) -> Any:
        """The SageMaker client."""
        return self.client("sagemaker")

    @property
    def s3_client(self) -> Any:
        """The S3 client."""
        return self.client("s3")

    def target(self, kind: str, name: str) -> str:
        """Record what the command acts on (for "no such ..." errors); return ``name``."""
        self.resource = (kind, name)
        return name


class ModellingProjectWithSagemakerClient(ModellingProject):
    """ML2P 0.6's command-line object: a :class:`~ml2p.project.ModellingProject`
    with a SageMaker client as ``client`` (made on first use; it may be set).

    A custom ``click`` group may set one as ``ctx.obj`` and add the ``ml2p``
    commands (:mod:`ml2p.cli_commands`) to itself, as with ML2P 0.6.

    :param str cfg: The path of the ``ml2p.yml`` file.
    """

    @functools.cached_property
    def client(self) -> Any:
        """The boto3 SageMaker client."""
        from ml2p import aws

        return aws.client("sagemaker")


_META_KEY = "ml2p.project"


def project_of(ctx: click.Context) -> Project:
    """Return the :class:`Project` for the command running in ``ctx``.

    ``ctx.obj`` as set by the ``ml2p`` group; made from a
    :class:`~ml2p.project.ModellingProject` (ML2P 0.6's ``ctx.obj``) that a
    custom group set; or, for a command invoked on its own, made from
    ``./ml2p.yml``.

    :raises TypeError: if ``ctx.obj`` is some other object.
    """
    obj = ctx.obj
    if isinstance(obj, Project):
        return obj
    made = ctx.meta.get(_META_KEY)
    if made is None:
        if obj is None:
            from ml2p.config import DEFAULT_CONFIG_FILE

            made = Project(DEFAULT_CONFIG_FILE)
        elif isinstance(obj, ModellingProject):
            made = Project(obj.cfg_path, modelling=obj)
        else:
            raise TypeError(
                "ml2p commands need ctx.obj to be an ml2p.cli.context.Project or an "
                f"ml2p.core.ModellingProject, not {type(obj).__name__}"
            )
        ctx.meta[_META_KEY] = made
    return made


def pass_project(func: Callable[..., Any]) -> Callable[..., Any]:
    """Like :func:`click.pass_obj`, but passes :func:`project_of` the context."""

    @functools.wraps(func)
    def call(*args: Any, **kwargs: Any) -> Any:
        return func(project_of(click.get_current_context()), *args, **kwargs)

    return call
