"""The minimal model: dataset generator, trainer, predictor and :class:`MinimalModel`.

* :class:`MinimalDatasetGenerator` writes ``data.csv`` (columns ``x,y``:
  :data:`ROWS` points near the line ``y = TRUE_SLOPE * x + TRUE_INTERCEPT``,
  with deterministic noise) into the ``training`` data channel folder, and
  uploads it to ``datasets/<dataset>/`` when the environment names an S3
  folder and a data set, unless ``ML2P_EXAMPLE_UPLOAD=false``.
* :class:`MinimalTrainer` fits the line by least squares and writes
  ``model.json`` (``slope``, ``intercept``), ``input-schema.json`` (``x``: a
  required number) and ``metrics.json`` (``r2``) into the model folder.
* :class:`MinimalPredictor` answers ``{"y": float}`` for ``{"x": number}``
  (JSON, or a CSV row with a header) or ``[number]`` (a CSV row without one).
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
from typing import Any

from ml2p.core import Model, ModelDatasetGenerator, ModelPredictor, ModelTrainer
from ml2p.errors import ClientError, ML2PError

TRUE_SLOPE = 2.5
TRUE_INTERCEPT = -1.0
ROWS = 200
DATA_FILE = "data.csv"
MODEL_FILE = "model.json"
SCHEMA_FILE = "input-schema.json"
METRICS_FILE = "metrics.json"
UPLOAD_ENV = "ML2P_EXAMPLE_UPLOAD"

#: One input: an object with a number ``x`` (JSON, or a CSV row with a header),
#: or a CSV row without a header, ``[x]``.
INPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "minimal model input",
    "type": ["object", "array"],
    "properties": {"x": {"type": "number"}},
    "required": ["x"],
    "prefixItems": [{"type": "number"}],
    "minItems": 1,
    "maxItems": 1,
}


def should_upload(env: Any) -> bool:
    """Return whether to upload: the env names an S3 folder and a data set, and
    ``ML2P_EXAMPLE_UPLOAD`` is not ``false``, ``0`` or ``no``.
    """
    environ = dict(os.environ)
    environ.update(getattr(env, "environ", None) or {})
    if environ.get(UPLOAD_ENV, "").strip().lower() in ("false", "0", "no"):
        return False
    return getattr(env, "s3", None) is not None and bool(getattr(env, "dataset_name", None))


class MinimalDatasetGenerator(ModelDatasetGenerator):
    """Write ``data.csv``, and upload it when the environment asks for it."""

    def generate(self) -> dict[str, Any]:
        """:returns: ``{"files": [local path], "uploaded": [S3 URLs]}``."""
        rng = random.Random(0)  # a fixed seed: the same data set every time
        folder = self.env.data_channel_folder("training")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / DATA_FILE
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["x", "y"])
            for i in range(ROWS):
                x = i / 10
                writer.writerow(
                    [repr(x), repr(TRUE_SLOPE * x + TRUE_INTERCEPT + rng.gauss(0, 0.1))]
                )
        uploaded = [self.upload_to_s3(path)] if should_upload(self.env) else []
        return {"files": [str(path)], "uploaded": uploaded}


def read_points(path: Any) -> list[tuple[float, float]]:
    """Read ``x,y`` rows; raise :class:`ML2PError` naming the file and line on bad data."""
    points = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"x", "y"} <= set(reader.fieldnames):
            raise ML2PError(f"{path}: expected the columns x,y, got {reader.fieldnames}")
        for line, row in enumerate(reader, start=2):
            try:
                point = (float(row["x"]), float(row["y"]))
            except (TypeError, ValueError):
                raise ML2PError(f"{path}:{line}: x and y must be numbers") from None
            if not all(map(math.isfinite, point)):
                raise ML2PError(f"{path}:{line}: x and y must be finite")
            points.append(point)
    return points


def fit_line(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Return ``(slope, intercept)`` of the least-squares line through ``points``."""
    n = len(points)
    mean_x = sum(p[0] for p in points) / n
    mean_y = sum(p[1] for p in points) / n
    sxx = sum((p[0] - mean_x) ** 2 for p in points)
    if sxx == 0:
        raise ML2PError("cannot fit a line: every x is the same")
    slope = sum((p[0] - mean_x) * (p[1] - mean_y) for p in points) / sxx
    return slope, mean_y - slope * mean_x


class MinimalTrainer(ModelTrainer):
    """Fit the line and write the model, its input schema and its metrics."""

    def train(self) -> dict[str, float]:
        """:returns: the model and metrics: ``{"slope", "intercept", "r2"}``."""
        path = self.env.dataset_folder() / DATA_FILE
        if not path.is_file():
            raise ML2PError(
                f"no {DATA_FILE} in the dataset folder {path.parent}: generate the dataset first"
            )
        points = read_points(path)
        if len(points) < 2:
            raise ML2PError(f"{path}: need at least two points to fit a line, got {len(points)}")
        slope, intercept = fit_line(points)
        mean_y = sum(p[1] for p in points) / len(points)
        ss_res = sum((y - (slope * x + intercept)) ** 2 for x, y in points)
        ss_tot = sum((y - mean_y) ** 2 for _, y in points)
        r2 = 1 - ss_res / ss_tot if ss_tot else 1.0
        out = self.env.model_folder()
        out.mkdir(parents=True, exist_ok=True)
        (out / MODEL_FILE).write_text(json.dumps({"slope": slope, "intercept": intercept}))
        (out / SCHEMA_FILE).write_text(json.dumps(INPUT_SCHEMA, indent=2) + "\n")
        (out / METRICS_FILE).write_text(json.dumps({"r2": r2, "rows": len(points)}) + "\n")
        return {"slope": slope, "intercept": intercept, "r2": r2}


def _x(datum: Any, where: str) -> float:
    """Return ``x`` from ``{"x": ...}`` (JSON, or CSV with a header) or ``[x]`` (a CSV row)."""
    if isinstance(datum, dict):
        if "x" not in datum:
            raise ClientError(f"{where}.x: missing")
        x, field = datum["x"], f"{where}.x"
    elif isinstance(datum, list):
        if len(datum) != 1:
            raise ClientError(f"{where}: expected a row of 1 value (x), got {len(datum)}")
        x, field = datum[0], f"{where}[0] (x)"
    else:
        raise ClientError(
            f"{where}: expected a JSON object or a CSV row, got {type(datum).__name__}"
        )
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        raise ClientError(f"{field}: expected a finite number, got {x!r}")
    return float(x)


class MinimalPredictor(ModelPredictor):
    """Answer ``{"y": slope * x + intercept}``."""

    def setup(self) -> None:
        """Load ``model.json`` from the model folder."""
        path = self.env.model_folder() / MODEL_FILE
        if not path.is_file():
            raise ML2PError(f"no trained model at {path}: train the model first")
        model = json.loads(path.read_text())
        self.slope = float(model["slope"])
        self.intercept = float(model["intercept"])

    def result(self, data: Any) -> dict[str, float]:
        """Return ``{"y": float}`` for ``{"x": number}`` or ``[number]``."""
        return {"y": self.slope * _x(data, "$") + self.intercept}

    def batch_result(self, data: list[Any]) -> list[dict[str, float]]:
        """Return one ``{"y": float}`` per input; errors name the instance."""
        xs = [_x(d, f"$.instances[{i}]") for i, d in enumerate(data)]
        return [{"y": self.slope * x + self.intercept} for x in xs]


class MinimalModel(Model):
    """The minimal example model (``ml2p.models`` entry point ``minimal``)."""

    DATASET_GENERATOR = MinimalDatasetGenerator
    TRAINER = MinimalTrainer
    PREDICTOR = MinimalPredictor
