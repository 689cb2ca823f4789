"""Who owns a plugin manager: the program that runs the model.

A *host* is a program that runs a model's trainer, predictor or dataset
generator: each worker of the prediction server, each ``ml2p-docker train``
or ``generate-dataset`` job, each ``ml2p`` command. A host builds one plugin
manager (:func:`ml2p.plugins.make_plugin_manager`: the installed plugins its
environment selects, then the project's), makes the model's objects through
the model's own factory methods (:meth:`ml2p.core.Model.trainer`,
:meth:`~ml2p.core.Model.predictor`, :meth:`~ml2p.core.Model.dataset_generator`,
which a model may override, as in ML2P 0.6), and hands each object its manager
before any hook runs. So two hosts in one process, with different plugins,
each run only their own, and nothing changes a manager once it is built.

An object made by plain library code (``MyPredictor(env)``, as with ML2P 0.6)
has no host: on its first hook call it fetches the library default
(:func:`ml2p.plugins.get_plugin_manager`). One made with
``plugin_manager=...`` keeps that manager, whoever made it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ml2p.plugins import PluginManager, make_plugin_manager

if TYPE_CHECKING:  # pragma: no cover
    from ml2p.core import ModelDatasetGenerator, ModelPredictor, ModelTrainer, SageMakerEnv

__all__ = ["PluginHost", "hand_over"]


def hand_over(obj: Any, plugin_manager: PluginManager) -> Any:
    """Give ``obj`` (a trainer, predictor or generator) ``plugin_manager``; return ``obj``.

    Unless ``obj`` was made with a ``plugin_manager`` of its own, which it
    keeps. Call it before any of ``obj``'s hooks run.
    """
    if getattr(obj, "_plugin_manager", None) is None or getattr(
        obj, "_plugin_manager_is_default", False
    ):
        obj._plugin_manager = plugin_manager
        obj._plugin_manager_is_default = False
    return obj


class PluginHost:
    """A program that runs models with a plugin manager of its own.

    :param plugin_manager: The host's manager, from
        :func:`ml2p.plugins.make_plugin_manager`. The host never changes it.
    """

    def __init__(self, plugin_manager: PluginManager):
        self.plugin_manager = plugin_manager

    @classmethod
    def for_env(cls, env: SageMakerEnv) -> PluginHost:
        """Return a host for a model running in ``env``, with a new plugin manager.

        The manager has the installed plugins selected by ``ML2P_LOAD_PLUGINS``
        and ``ML2P_DISABLE_PLUGINS`` of ``env.environ`` (``os.environ`` for an
        environment without one), then the environment's ``project_plugins``
        (``ML2P_PROJECT_PLUGINS``).

        :raises ml2p.errors.PluginError: naming a plugin that fails to load.
        """
        return cls(
            make_plugin_manager(
                getattr(env, "project_plugins", ()), environ=getattr(env, "environ", None)
            )
        )

    def make_trainer(self, model_cls: type, env: SageMakerEnv) -> ModelTrainer:
        """Return ``model_cls().trainer(env)``, run by this host's plugin manager."""
        return hand_over(model_cls().trainer(env), self.plugin_manager)

    def make_predictor(self, model_cls: type, env: SageMakerEnv) -> ModelPredictor:
        """Return ``model_cls().predictor(env)``, run by this host's plugin manager."""
        return hand_over(model_cls().predictor(env), self.plugin_manager)

    def make_generator(self, model_cls: type, env: SageMakerEnv) -> ModelDatasetGenerator:
        """Return ``model_cls().dataset_generator(env)``, run by this host's plugin manager."""
        return hand_over(model_cls().dataset_generator(env), self.plugin_manager)

    def __repr__(self) -> str:
        names = [name for name, _ in self.plugin_manager.list_name_plugin()]
        return f"{type(self).__name__}(plugins={names!r})"
