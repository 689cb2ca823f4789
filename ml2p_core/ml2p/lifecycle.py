"""Running trainers, generators and predictors through the hooks.

These are what ``ml2p-docker`` and ``ml2p local`` call: each goes through the
plugin manager of the object it runs, so every plugin's wrappers apply.
"""

from __future__ import annotations

from typing import Any

from ml2p.core import ModelDatasetGenerator, ModelPredictor, ModelTrainer


def train(trainer: ModelTrainer) -> Any:
    """Train through the ``ml2p_train`` hook."""
    return trainer.plugin_manager.hook.ml2p_train(trainer=trainer)


def checkpoint(trainer: ModelTrainer) -> None:
    """Save a trainer's checkpoint through the ``ml2p_checkpoint`` hook."""
    trainer.plugin_manager.hook.ml2p_checkpoint(trainer=trainer)


def generate(generator: ModelDatasetGenerator) -> Any:
    """Generate a dataset through the ``ml2p_generate`` hook."""
    return generator.plugin_manager.hook.ml2p_generate(generator=generator)


def setup(predictor: ModelPredictor) -> None:
    """Set a predictor up through the ``ml2p_setup`` hook."""
    predictor.plugin_manager.hook.ml2p_setup(predictor=predictor)


def teardown(predictor: ModelPredictor) -> None:
    """Tear a predictor down through the ``ml2p_teardown`` hook."""
    predictor.plugin_manager.hook.ml2p_teardown(predictor=predictor)
