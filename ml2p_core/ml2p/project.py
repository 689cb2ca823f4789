"""ML2P 0.6's project objects: ``ModellingProject`` and ``ModellingSubCfg``.

ML2P 0.6 deploy scripts and tests build a :class:`ModellingProject` from
``ml2p.yml`` and pass it to the request builders of
:mod:`ml2p.cli_commands.utils` (``mk_model(prj, ...)``), reading and
overriding settings through its section views (``prj.deploy["image"] = ...``).
Both classes keep 0.6's names, signatures and attributes; they are also
importable from :mod:`ml2p.core`.

The object every ``ml2p`` command receives is one too
(``ml2p.cli.ModellingProjectWithSagemakerClient``), so that
commands 0.6 deploy scripts added to the ``ml2p`` group keep working.

The file is loaded by :func:`ml2p.config.load_config`;
:attr:`ModellingProject.config` turns the (possibly changed) ``cfg`` dict back
into a :class:`ml2p.config.Config`, which is what the request builders of
``ml2p.sagemaker`` read.
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ml2p.config import Config
    from ml2p.core import S3URL

__all__ = ["MissingSettingError", "ModellingProject", "ModellingSubCfg", "modelling_config"]


class MissingSettingError(KeyError, AttributeError):
    """A setting is in neither the section nor its defaults.

    A :class:`KeyError`, as ML2P 0.6 raised, and an :class:`AttributeError`, so
    that ``getattr(section, name, default)`` and ``hasattr`` work.
    """


class ModellingSubCfg:
    """A view of one section of a loaded ``ml2p.yml`` that falls back to another.

    Item and attribute access (``sub["image"]``, ``sub.image``) return the
    section's setting, else the ``defaults`` section's, else raise
    :class:`MissingSettingError` (a :class:`KeyError`). The view reads the
    ``cfg`` dict each time, so it sees later changes to it; assigning an item
    writes into the section (creating it if ``cfg`` has none).

    :param dict cfg: The loaded configuration (the top-level mapping).
    :param str section: The section to read (``"train"``).
    :param str defaults: The section to fall back to (default ``"defaults"``).
    """

    def __init__(self, cfg: dict[str, Any], section: str, defaults: str = "defaults"):
        self._cfg = cfg
        self._section_name = section
        self._defaults_name = defaults

    def _part(self, name: str) -> Mapping[str, Any]:
        value = self._cfg.get(name)
        return value if isinstance(value, Mapping) else {}

    def _layers(self) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
        return self._part(self._section_name), self._part(self._defaults_name)

    def __getitem__(self, name: str) -> Any:
        for layer in self._layers():
            if name in layer:
                return layer[name]
        raise MissingSettingError(name)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # Private and special names are never settings.
            raise AttributeError(name)
        return self[name]

    def __setitem__(self, name: str, value: Any) -> None:
        section = self._cfg.get(self._section_name)
        if not isinstance(section, dict):
            section = self._cfg[self._section_name] = {}
        section[name] = value

    def __repr__(self) -> str:
        return f"ModellingSubCfg(section={self._section_name!r}, defaults={self._defaults_name!r})"

    def keys(self) -> list[str]:
        """Return the names set in the section or its defaults, sorted."""
        section, defaults = self._layers()
        return sorted({*section, *defaults})

    def get(self, name: str, default: Any = None) -> Any:
        """Return the setting ``name`` (from the section, else the defaults), or ``default``."""
        try:
            return self[name]
        except KeyError:
            return default


class ModellingProject:
    """An ML2P project: its loaded ``ml2p.yml`` and views of its sections.

    Attributes, as in ML2P 0.6:

    * ``cfg`` - The loaded configuration (type: dict). Changes to it are seen
      by the section views and by :attr:`config`.
    * ``project`` - The project name (type: str).
    * ``s3`` - The project's S3 folder (type: :class:`ml2p.core.S3URL`).
    * ``train``, ``deploy``, ``dataset``, ``notebook`` - The sections, each
      falling back to ``defaults`` (type: :class:`ModellingSubCfg`).
    * ``models`` - The ``models`` section (type: :class:`ModellingSubCfg`).

    Each is made on first use and may be replaced, as 0.6's attributes could.
    The file is read when the object is made, as in 0.6, unless ``load`` is
    false: then on first use of ``cfg`` (or of anything made from it), which
    is how the ``ml2p`` command makes its project object, so that commands
    that need no configuration run without one.

    :param str cfg: The path of the ``ml2p.yml`` file.
    :param bool load: Whether to read the file now (default), or on first use.
    :raises ml2p.errors.ConfigError: if the file is missing or cannot be
        loaded (:func:`ml2p.config.load_config`); ``project`` and ``s3``
        raise it, naming the key, if the file's value cannot be used.
    """

    def __init__(self, cfg: str, *, load: bool = True):
        self.cfg_path: str = os.fsdecode(cfg)
        self._loaded: tuple[dict[str, Any], Config] | None = None
        if load:
            self.cfg  # noqa: B018 - read the file now, as ML2P 0.6 did

    def _load_config(self) -> Config:
        """Load the configuration file (:attr:`cfg_path`)."""
        from ml2p.config import load_config

        return load_config(self.cfg_path)

    @functools.cached_property
    def cfg(self) -> dict[str, Any]:
        """The loaded configuration: plain dicts and lists, as ``yaml.safe_load`` gives them."""
        loaded = self._load_config()
        self._loaded = (loaded.as_dict(), loaded)
        return loaded.as_dict()

    @functools.cached_property
    def project(self) -> str:
        """The project name (checked: :attr:`ml2p.config.Config.project`)."""
        return self.config.project

    @functools.cached_property
    def s3(self) -> S3URL:
        """The project's S3 folder (from :attr:`ml2p.config.Config.s3folder`)."""
        from ml2p.core import S3URL

        return S3URL(self.config.s3folder)

    @functools.cached_property
    def train(self) -> ModellingSubCfg:
        """The ``train`` section over ``defaults``."""
        return ModellingSubCfg(self.cfg, "train")

    @functools.cached_property
    def deploy(self) -> ModellingSubCfg:
        """The ``deploy`` section over ``defaults``."""
        return ModellingSubCfg(self.cfg, "deploy")

    @functools.cached_property
    def dataset(self) -> ModellingSubCfg:
        """The ``dataset`` section over ``defaults``."""
        return ModellingSubCfg(self.cfg, "dataset")

    @functools.cached_property
    def notebook(self) -> ModellingSubCfg:
        """The ``notebook`` section over ``defaults``."""
        return ModellingSubCfg(self.cfg, "notebook")

    @functools.cached_property
    def models(self) -> ModellingSubCfg:
        """The ``models`` section (model name -> reference or multi-container mapping)."""
        return ModellingSubCfg(self.cfg, "models", defaults="models")

    @property
    def config(self) -> Config:
        """The configuration as a :class:`ml2p.config.Config`.

        It follows changes made to ``cfg`` (directly or through a
        section view) since the file was loaded.

        :raises ml2p.errors.ConfigError: if a change made it impossible to load.
        """
        cfg = self.cfg
        if self._loaded is None or cfg != self._loaded[0]:
            from ml2p.config import config_from_dict

            self._loaded = (copy.deepcopy(cfg), config_from_dict(cfg, self.cfg_path))
        return self._loaded[1]

    def full_job_name(self, job_name: str) -> str:
        """Return the AWS resource name ``<project>-<job_name>``."""
        return f"{self.project}-{job_name}"

    def tags(self) -> list[dict[str, str]]:
        """Return the tags of the project's resources: ``[{"Key": "ml2p-project", ...}]``."""
        from ml2p import naming

        return naming.project_tags(self.project)


def modelling_config(prj: Any) -> Config:
    """Return the :class:`~ml2p.config.Config` of a 0.6-style project object.

    :param prj: A :class:`ModellingProject`, or any object whose ``cfg`` is a
        loaded ``ml2p.yml`` mapping.
    """
    if isinstance(prj, ModellingProject):
        return prj.config
    from ml2p.config import config_from_dict

    return config_from_dict(prj.cfg, getattr(prj, "cfg_path", "<cfg>"))
