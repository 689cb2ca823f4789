"""ML2P 0.6's project objects: ``ModellingProject`` and ``ModellingSubCfg``.

ML2P 0.6 deploy scripts and tests build a :class:`ModellingProject` from
``ml2p.yml`` and pass it to the request builders of
:mod:`ml2p.cli_commands.utils` (``mk_model(prj, ...)``), reading and
overriding settings through its section views (``prj.deploy["image"] = ...``).
Both classes keep 0.6's names, signatures and attributes; they are also
importable from :mod:`ml2p.core`.

The file is loaded and validated by :func:`ml2p.config.load_config`;
:attr:`ModellingProject.config` turns the (possibly changed) ``cfg`` dict back
into a validated :class:`ml2p.config.Config`, which is what the request
builders of ``ml2p.sagemaker`` read.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Dict, List, Tuple

if TYPE_CHECKING:  # pragma: no cover
    from ml2p.config import Config

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

    def __init__(self, cfg: Dict[str, Any], section: str, defaults: str = "defaults"):
        self._cfg = cfg
        self._section_name = section
        self._defaults_name = defaults

    def _part(self, name: str) -> Mapping[str, Any]:
        value = self._cfg.get(name)
        return value if isinstance(value, Mapping) else {}

    def _layers(self) -> Tuple[Mapping[str, Any], Mapping[str, Any]]:
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

    def keys(self) -> List[str]:
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

    :param str cfg: The path of the ``ml2p.yml`` file.
    :raises ml2p.errors.ConfigError: if the file is missing or invalid.
    """

    def __init__(self, cfg: str):
        from ml2p.config import load_config
        from ml2p.core import S3URL

        loaded = load_config(cfg)
        self.cfg_path = loaded.path
        self._loaded: Tuple[Dict[str, Any], Config] = (loaded.as_dict(), loaded)
        self.cfg: Dict[str, Any] = loaded.as_dict()
        self.project: str = self.cfg["project"]
        self.s3 = S3URL(self.cfg["s3folder"])
        self.train = ModellingSubCfg(self.cfg, "train")
        self.deploy = ModellingSubCfg(self.cfg, "deploy")
        self.dataset = ModellingSubCfg(self.cfg, "dataset")
        self.notebook = ModellingSubCfg(self.cfg, "notebook")
        self.models = ModellingSubCfg(self.cfg, "models", defaults="models")

    @property
    def config(self) -> Config:
        """The configuration as a validated :class:`ml2p.config.Config`.

        It follows changes made to ``cfg`` (directly or through a
        section view) since the file was loaded.

        :raises ml2p.errors.ConfigError: if a change made it invalid.
        """
        snapshot, config = self._loaded
        if self.cfg != snapshot:
            from ml2p.config import config_from_dict

            config = config_from_dict(self.cfg, self.cfg_path)
            self._loaded = (copy.deepcopy(self.cfg), config)
        return config

    def full_job_name(self, job_name: str) -> str:
        """Return the AWS resource name ``<project>-<job_name>``."""
        return f"{self.project}-{job_name}"

    def tags(self) -> List[Dict[str, str]]:
        """Return the tags of the project's resources: ``[{"Key": "ml2p-project", ...}]``."""
        from ml2p import naming

        return naming.project_tags(self.cfg["project"])


def modelling_config(prj: Any) -> Config:
    """Return the :class:`~ml2p.config.Config` of a 0.6-style project object.

    :param prj: A :class:`ModellingProject`, or any object whose ``cfg`` is a
        loaded ``ml2p.yml`` mapping.
    """
    if isinstance(prj, ModellingProject):
        return prj.config
    from ml2p.config import config_from_dict

    return config_from_dict(prj.cfg, getattr(prj, "cfg_path", "<cfg>"))
