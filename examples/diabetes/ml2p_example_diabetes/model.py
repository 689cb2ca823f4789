"""The diabetes model: dataset generator, trainer, predictor and :class:`DiabetesModel`.

* :class:`DiabetesDatasetGenerator` writes ``train.csv`` and ``test.csv``
  into the ``training`` data channel folder (where ``ml2p local train`` in the
  same folder reads them) and uploads them to
  ``datasets/<dataset>/`` when :func:`~ml2p_example_diabetes.dataset.should_upload`
  says so.
* :class:`DiabetesTrainer` fits a :class:`sklearn.linear_model.Ridge` on
  ``train.csv`` and writes ``model.joblib``, ``input-schema.json`` (read by
  the ``ml2p-validate`` plugin) and ``metrics.json`` (scores on ``test.csv``)
  into the model folder. Hyperparameter: ``alpha`` (default
  :data:`DEFAULT_ALPHA`).
* :class:`DiabetesPredictor` answers ``{"prediction": float}`` for one dict of
  the ten features (JSON, or a CSV row with a header) or a list of them in
  model order (a CSV row without a header);
  :meth:`~DiabetesPredictor.batch_result` predicts a whole batch with one
  matrix product.
"""

from __future__ import annotations

import json
import math
import pathlib
from typing import Any

from ml2p.core import Model, ModelDatasetGenerator, ModelPredictor, ModelTrainer
from ml2p.errors import ClientError, ML2PError
from ml2p_example_diabetes import dataset

DEFAULT_ALPHA = 0.1
MODEL_FILE = "model.joblib"
SCHEMA_FILE = "input-schema.json"
METRICS_FILE = "metrics.json"


class DiabetesDatasetGenerator(ModelDatasetGenerator):
    """Write the diabetes data set as CSV, and upload it when the environment asks for it."""

    def generate(self) -> dict[str, Any]:
        """Write ``train.csv`` and ``test.csv``; upload them if :func:`dataset.should_upload`.

        :returns: ``{"files": [local paths], "uploaded": [S3 URLs]}``.
        """
        train, test = dataset.split(dataset.load_rows())
        folder = self.env.data_channel_folder("training")
        files = [
            dataset.write_csv(folder / dataset.TRAIN_FILE, train),
            dataset.write_csv(folder / dataset.TEST_FILE, test),
        ]
        uploaded = (
            [self.upload_to_s3(path) for path in files] if dataset.should_upload(self.env) else []
        )
        self.logger.info(
            "wrote %d training and %d test rows to %s%s",
            len(train),
            len(test),
            folder,
            f"; uploaded {', '.join(uploaded)}" if uploaded else " (not uploaded)",
        )
        return {"files": [str(p) for p in files], "uploaded": uploaded}


def _read_split(folder: pathlib.Path, name: str) -> list[dataset.Row]:
    path = folder / name
    if not path.is_file():
        raise ML2PError(
            f"no {name} in the dataset folder {folder}: generate the dataset first "
            "(ml2p local generate diabetes NAME) or pass it with --dataset / --data-dir"
        )
    rows = dataset.read_csv(path)
    if not rows:
        raise ML2PError(f"{path} has no rows")
    return rows


def _matrix(rows: list[dataset.Row]) -> Any:
    import numpy as np

    return np.array([[row[f] for f in dataset.FEATURES] for row in rows], dtype=float)


class DiabetesTrainer(ModelTrainer):
    """Fit a ridge regression and write the model, its input schema and its metrics."""

    def alpha(self) -> float:
        """Return the ``alpha`` hyperparameter (a positive number)."""
        raw = (self.env.hyperparameters or {}).get("alpha", DEFAULT_ALPHA)
        try:
            alpha = float(raw)
        except (TypeError, ValueError):
            alpha = math.nan
        if not (math.isfinite(alpha) and alpha > 0):
            raise ML2PError(f"hyperparameter alpha must be a positive number, got {raw!r}")
        return alpha

    def train(self) -> dict[str, float]:
        """Train on ``train.csv`` and score on ``test.csv``.

        :returns: The metrics written to ``metrics.json``.
        :raises ml2p.errors.ML2PError: if the data set files are missing or
            empty, or ``alpha`` is not a positive number.
        """
        import joblib
        import numpy as np
        from sklearn.linear_model import Ridge

        alpha = self.alpha()
        folder = self.env.dataset_folder()
        train = _read_split(folder, dataset.TRAIN_FILE)
        test = _read_split(folder, dataset.TEST_FILE)
        model = Ridge(alpha=alpha).fit(_matrix(train), [row[dataset.TARGET] for row in train])

        truth = np.array([row[dataset.TARGET] for row in test])
        error = model.predict(_matrix(test)) - truth
        metrics = {
            "alpha": alpha,
            "train_rows": len(train),
            "test_rows": len(test),
            "test_r2": float(1 - np.sum(error**2) / np.sum((truth - truth.mean()) ** 2)),
            "test_mae": float(np.mean(np.abs(error))),
            "test_rmse": float(np.sqrt(np.mean(error**2))),
        }

        out = self.env.model_folder()
        out.mkdir(parents=True, exist_ok=True)
        joblib.dump(model, out / MODEL_FILE)
        (out / SCHEMA_FILE).write_text(json.dumps(dataset.input_schema(), indent=2) + "\n")
        (out / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
        self.logger.info("trained ridge(alpha=%s): %s", alpha, json.dumps(metrics))
        return metrics


def _named_values(datum: Any, where: str) -> list[tuple[str, Any]]:
    """Return ``(field path, value)`` per feature, from an object or a CSV row, in model order."""
    if isinstance(datum, dict):
        missing = [name for name in dataset.FEATURES if name not in datum]
        if missing:
            raise ClientError(f"{where}.{missing[0]}: missing feature")
        return [(f"{where}.{name}", datum[name]) for name in dataset.FEATURES]
    if isinstance(datum, list):
        if len(datum) != len(dataset.FEATURES):
            raise ClientError(
                f"{where}: expected a row of {len(dataset.FEATURES)} values "
                f"({', '.join(dataset.FEATURES)}), got {len(datum)}"
            )
        return [
            (f"{where}[{i}] ({name})", v)
            for i, (name, v) in enumerate(zip(dataset.FEATURES, datum))
        ]
    raise ClientError(
        f"{where}: expected a JSON object of features or a CSV row, got {type(datum).__name__}"
    )


def _features(datum: Any, where: str) -> list[float]:
    """Return the features of one input in model order, or raise a 400 naming the field.

    An input is an object of features (JSON, or a CSV row with a header; other
    fields are ignored) or a CSV row without a header: the ten features in
    :data:`~ml2p_example_diabetes.dataset.FEATURES` order.
    """
    values = []
    for field, value in _named_values(datum, where):
        # bool is an int in Python but not a number in JSON Schema.
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ClientError(f"{field}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ClientError(f"{field}: expected a finite number, got {value!r}")
        values.append(float(value))
    return values


class DiabetesPredictor(ModelPredictor):
    """Predict disease progression from the ten baseline features."""

    def setup(self) -> None:
        """Load ``model.joblib`` from the model folder."""
        import joblib
        import numpy as np

        path = self.env.model_folder() / MODEL_FILE
        if not path.is_file():
            raise ML2PError(f"no trained model at {path}: train the model first")
        model = joblib.load(path)
        # Predict with the fitted coefficients directly: one dot product,
        # without scikit-learn's per-call input checks on the hot path.
        self._coef = np.asarray(model.coef_, dtype=float)
        self._intercept = float(model.intercept_)
        self._np = np

    def result(self, data: Any) -> dict[str, float]:
        """Return ``{"prediction": float}`` for one dict (or CSV row) of features."""
        x = _features(data, "$")
        return {"prediction": float(self._np.dot(self._coef, x) + self._intercept)}

    def batch_result(self, data: list[Any]) -> list[dict[str, float]]:
        """Return one ``{"prediction": float}`` per input, computed as one matrix product."""
        if not data:
            return []
        x = self._np.array([_features(d, f"$.instances[{i}]") for i, d in enumerate(data)])
        return [{"prediction": float(p)} for p in x @ self._coef + self._intercept]


class DiabetesModel(Model):
    """The diabetes example model (``ml2p.models`` entry point ``diabetes``)."""

    DATASET_GENERATOR = DiabetesDatasetGenerator
    TRAINER = DiabetesTrainer
    PREDICTOR = DiabetesPredictor
