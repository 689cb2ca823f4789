"""Models written as ML2P 0.6 projects wrote them, importable by test subprocesses.

* :class:`FactoryModel` sets none of the class attributes: it builds its
  trainer, predictor and generator in overridden ``trainer``, ``predictor``
  and ``dataset_generator`` methods, and configures each object it builds.
* Every object logs through ``logging.getLogger(__name__)`` at INFO, with a
  marker that names the process, so tests can count the lines that reach stdout.
* :class:`FactoryPredictor` overrides ``batch_invoke`` to return ML2P 0.6's
  ``{"predictions": [...]}``, raises an ``APIError`` with no details for
  ``{"fail": "api"}`` and ``ZeroDivisionError`` for ``{"fail": "crash"}``.
"""

from __future__ import annotations

import json
import logging
import os

from ml2p.core import Model, ModelDatasetGenerator, ModelPredictor, ModelTrainer
from ml2p.errors import APIError

logger = logging.getLogger(__name__)


def marker(what: str) -> str:
    return f"compat-model {what} pid={os.getpid()}"


class FactoryTrainer(ModelTrainer):
    slope = None  # set by FactoryModel.trainer

    def train(self):
        logger.info(marker("training"))
        logger.debug(marker("debug training"))
        folder = self.env.model_folder()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.json").write_text(json.dumps({"slope": self.slope}))


class FactoryGenerator(ModelDatasetGenerator):
    rows = None  # set by FactoryModel.dataset_generator

    def generate(self):
        logger.info(marker("generating"))
        folder = self.env.output_data_folder()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "rows.json").write_text(json.dumps({"rows": self.rows}))


class FactoryPredictor(ModelPredictor):
    made_by = None  # set by FactoryModel.predictor

    def setup(self):
        logger.info(marker("setup"))
        logger.debug(marker("debug setup"))
        path = self.env.model_folder() / "model.json"
        self.slope = json.loads(path.read_text())["slope"] if path.exists() else 1

    def result(self, data):
        if data.get("fail") == "api":
            raise APIError("unavailable on purpose", status_code=503)
        if data.get("fail") == "crash":
            return 1 / 0
        logger.info(marker(f"predicting x={data['x']}"))
        return {
            "y": self.slope * data["x"],
            "made_by": self.made_by,
            "env_type": self.env.env_type.value,
        }

    def batch_invoke(self, data):
        # What ML2P 0.6's own batch_invoke returned.
        return {"predictions": super().batch_invoke(data)}


class FactoryModel(Model):
    def trainer(self, env):
        trainer = FactoryTrainer(env)
        trainer.slope = 7
        return trainer

    def dataset_generator(self, env):
        generator = FactoryGenerator(env)
        generator.rows = 3
        return generator

    def predictor(self, env):
        predictor = FactoryPredictor(env)
        predictor.made_by = "FactoryModel.predictor"
        return predictor
