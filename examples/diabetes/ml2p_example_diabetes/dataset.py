"""The diabetes data set as CSV files, and the JSON Schema of one input.

The data set is :func:`sklearn.datasets.load_diabetes` (442 patients, ten
baseline features already mean-centred and scaled, and a disease progression
score one year later). It ships inside scikit-learn, so nothing is downloaded.

It is written as two CSV files with a header row, ``FEATURES`` then
``TARGET``:

* ``train.csv``: the rows whose index is not a multiple of :data:`HOLDOUT_EVERY`;
* ``test.csv``: the held-out rows (index 0, 5, 10, ...), used for the metrics
  and by the demo to send predictions whose true value is known.
"""

from __future__ import annotations

import csv
import math
import os
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any, Union

#: The input features, in the order the model uses them.
FEATURES: tuple[str, ...] = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")
#: The column holding the value to predict.
TARGET = "target"
#: Every ``HOLDOUT_EVERY``-th row (starting with row 0) is held out for testing.
HOLDOUT_EVERY = 5
TRAIN_FILE = "train.csv"
TEST_FILE = "test.csv"

#: Set to ``false`` to keep a generated data set local even when the
#: environment names an S3 folder and a data set (see :func:`should_upload`).
UPLOAD_ENV = "ML2P_EXAMPLE_UPLOAD"

PathLike = Union[str, "os.PathLike[str]"]
Row = dict[str, float]


def load_rows() -> list[Row]:
    """Return every row of scikit-learn's diabetes data set as a dict of floats."""
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    if tuple(data.feature_names) != FEATURES:
        # A future scikit-learn renaming columns would silently shift the model's inputs.
        raise ValueError(f"unexpected diabetes feature names: {list(data.feature_names)}")
    return [
        {**dict(zip(FEATURES, map(float, x))), TARGET: float(y)}
        for x, y in zip(data.data, data.target)
    ]


def split(rows: Sequence[Row]) -> tuple[list[Row], list[Row]]:
    """Split ``rows`` into ``(train, test)`` by the :data:`HOLDOUT_EVERY` rule."""
    train = [row for i, row in enumerate(rows) if i % HOLDOUT_EVERY]
    test = [row for i, row in enumerate(rows) if not i % HOLDOUT_EVERY]
    return train, test


def write_csv(path: PathLike, rows: Sequence[Mapping[str, float]]) -> pathlib.Path:
    """Write ``rows`` to ``path`` as CSV with the header ``FEATURES + (TARGET,)``.

    Floats are written with ``repr`` so that reading them back gives the
    same values bit for bit.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = (*FEATURES, TARGET)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([repr(float(row[c])) for c in columns])
    return path


def read_csv(path: PathLike) -> list[Row]:
    """Read a CSV written by :func:`write_csv`.

    :raises ValueError: naming the file and line if a column is missing or a
        value is not a finite number.
    """
    path = pathlib.Path(path)
    rows: list[Row] = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in (*FEATURES, TARGET) if c not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
        for line, record in enumerate(reader, start=2):
            row: Row = {}
            for column in (*FEATURES, TARGET):
                try:
                    value = float(record[column])
                except (TypeError, ValueError):
                    value = math.nan
                if not math.isfinite(value):
                    raise ValueError(f"{path}:{line}: {column} is not a number: {record[column]!r}")
                row[column] = value
            rows.append(row)
    return rows


def input_schema() -> dict[str, Any]:
    """Return the JSON Schema of one prediction input.

    An input is an object whose every feature is a required number (JSON, or
    a CSV row with a header). Other properties are allowed, so a caller may
    send ids (a customer id for the record id, say) along with the features.
    Or it is an array of the ten numbers in :data:`FEATURES` order (a CSV row
    without a header).
    """
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "diabetes model input",
        "type": ["object", "array"],
        "properties": {name: {"type": "number"} for name in FEATURES},
        "required": list(FEATURES),
        "prefixItems": [{"type": "number"} for _ in FEATURES],
        "minItems": len(FEATURES),
        "maxItems": len(FEATURES),
    }


def should_upload(env: Any) -> bool:
    """Return whether a generated data set should be uploaded to S3.

    It is uploaded when the environment names both the project's S3 folder
    (``ML2P_S3_URL``) and the data set (``ML2P_DATASET``), unless the
    variable :data:`UPLOAD_ENV` is ``false``, ``0`` or ``no``: that keeps
    ``ml2p local generate`` fully local (no AWS account needed).
    """
    environ = dict(os.environ)
    environ.update(getattr(env, "environ", None) or {})
    if environ.get(UPLOAD_ENV, "").strip().lower() in ("false", "0", "no"):
        return False
    return getattr(env, "s3", None) is not None and bool(getattr(env, "dataset_name", None))
