"""Small 0.6-style models the scenarios use (beside ``model06``, the full package).

Written against ML2P 0.6's documented API only, so both packages run them.
"""

from __future__ import annotations

import json
import logging

from ml2p.core import Model, ModelDatasetGenerator, ModelPredictor, ModelTrainer
from ml2p.errors import APIError, ClientError

logger = logging.getLogger(__name__)


class SingleTrainer(ModelTrainer):
    def train(self):
        logger.info("compat trainer: training %s", self.env.training_job_name)
        with open(self.env.model_folder() / "model.json", "w") as f:
            json.dump({"factor": 2}, f)


class SinglePredictor(ModelPredictor):
    def result(self, data):
        if not isinstance(data, dict):
            raise ClientError("expected a JSON object", details=f"got {type(data).__name__}")
        if data.get("raise") == "client":
            raise ClientError("bad input", details="x must be a number")
        if data.get("raise") == "api":
            raise APIError("teapot", details=["short", "stout"], status_code=418)
        if data.get("raise") == "key":
            return {"y": data["no-such-key"]}
        return {"y": data.get("x", 0) * 2}


class SingleGenerator(ModelDatasetGenerator):
    def generate(self):
        logger.info("compat generator: generating %s", self.env.dataset_name)
        path = "generated.csv"
        with open(path, "w") as f:
            f.write("x,y\n1,2\n")
        self.upload_to_s3(path)


class SingleModel(Model):
    DATASET_GENERATOR = SingleGenerator
    TRAINER = SingleTrainer
    PREDICTOR = SinglePredictor


class OtherModel(SingleModel):
    pass


class FailingTrainer(ModelTrainer):
    def train(self):
        raise ValueError("compat trainer failed on purpose")


class FailingGenerator(ModelDatasetGenerator):
    def generate(self):
        raise KeyError("compat-missing-column")


class FailingModel(Model):
    DATASET_GENERATOR = FailingGenerator
    TRAINER = FailingTrainer
    PREDICTOR = SinglePredictor


class EmptyModel(Model):
    """Sets none of DATASET_GENERATOR, TRAINER, PREDICTOR."""


class PredictionsPredictor(SinglePredictor):
    """Overrides batch_invoke as ML2P 0.6 users did: returning ``{"predictions": [...]}``."""

    def batch_invoke(self, data):
        metadata = self.metadata()
        return {"predictions": [{"metadata": metadata, "result": self.result(d)} for d in data]}


class PredictionsModel(Model):
    PREDICTOR = PredictionsPredictor
