"""The object every ``ml2p`` command receives: the project, its config and AWS clients."""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from ml2p import naming

__all__ = ["Project"]


class Project:
    """The project a command acts on.

    The configuration is loaded on first use, so commands that do not need
    it (``ml2p models``, ``ml2p local invoke``) run without one. AWS clients
    are made on first use too, through :func:`ml2p.aws.client`.

    :param cfg_path: The ``ml2p.yml`` file (``--cfg``).
    :param quiet: Whether progress bars are suppressed (``--quiet``).
    :param debug: Whether errors show their traceback (``--debug``).
    """

    def __init__(self, cfg_path: str, quiet: bool = False, debug: bool = False):
        self.cfg_path = cfg_path
        self.quiet = quiet
        self.debug = debug
        self._cfg: Any = None
        self._clients: Dict[str, Any] = {}
        #: What the running command acts on, as (kind, name), for error messages.
        self.resource: Optional[Tuple[str, str]] = None

    @property
    def cfg(self) -> Any:
        """The loaded :class:`ml2p.config.Config` (loaded on first use).

        Loaded by :func:`ml2p.cli.project_config.load_project_config`: its
        warnings are printed and its folder is made importable.
        """
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
            from ml2p import aws

            self._clients[service] = aws.client(service)
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
