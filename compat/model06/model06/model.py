"""ML2P model classes: dataset generator, trainer and predictor."""

from __future__ import annotations

import csv
import json
import logging
import os
import tempfile

from ml2p.core import Model, ModelDatasetGenerator, ModelPredictor, ModelTrainer
from ml2p.errors import ClientError

logger = logging.getLogger(__name__)

DATA_FILE = "data.csv"
MODEL_FILE = "slope.json"


class Model06DatasetGenerator(ModelDatasetGenerator):
    def generate(self):
        rows = [(x, 3 * x) for x in range(1, 6)]
        folder = tempfile.mkdtemp()
        path = os.path.join(folder, DATA_FILE)
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["x", "y"])
            writer.writerows(rows)
        self.upload_to_s3(path)
        logger.info("Generated %d rows for dataset %s.", len(rows), self.env.dataset_name)


class Model06Trainer(ModelTrainer):
    def train(self):
        with open(self.env.dataset_folder() / DATA_FILE) as f:
            rows = [(float(r["x"]), float(r["y"])) for r in csv.DictReader(f)]
        if not rows:
            raise ValueError("The training dataset is empty.")
        slope = sum(x * y for x, y in rows) / sum(x * x for x, _ in rows)
        with open(self.env.model_folder() / MODEL_FILE, "w") as f:
            json.dump({"slope": slope, "rows": len(rows)}, f)
        logger.info("Trained slope %s on %d rows.", slope, len(rows))


class Model06Predictor(ModelPredictor):
    def setup(self):
        with open(self.env.model_folder() / MODEL_FILE) as f:
            self.slope = json.load(f)["slope"]

    def result(self, data):
        x = data.get("x")
        if not isinstance(x, (int, float)) or isinstance(x, bool):
            raise ClientError("Invalid input.", details="x must be a number")
        return {"y": self.slope * x}


class Model06(Model):
    DATASET_GENERATOR = Model06DatasetGenerator
    TRAINER = Model06Trainer
    PREDICTOR = Model06Predictor
