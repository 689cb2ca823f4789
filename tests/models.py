"""Small models used across the tests."""

from __future__ import annotations

import json

from ml2p.core import Model, ModelDatasetGenerator, ModelPredictor, ModelTrainer


class MinimalGenerator(ModelDatasetGenerator):
    def generate(self):
        path = self.env.ml_folder / "data.json"
        path.write_text(json.dumps([{"x": i, "y": 2 * i} for i in range(10)]))
        return self.upload_to_s3(path)


class MinimalTrainer(ModelTrainer):
    def train(self):
        folder = self.env.model_folder()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.json").write_text(json.dumps({"slope": 2}))


class MinimalPredictor(ModelPredictor):
    def setup(self):
        self.slope = json.loads((self.env.model_folder() / "model.json").read_text())["slope"]

    def result(self, data):
        return {"y": self.slope * data["x"]}


class MinimalModel(Model):
    DATASET_GENERATOR = MinimalGenerator
    TRAINER = MinimalTrainer
    PREDICTOR = MinimalPredictor
