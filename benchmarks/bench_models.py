"""The trivial model every benchmarked server serves.

One source for both sides of the comparison: ``ml2p.core`` resolves to this
repository's package in the main Python and to ML2P 0.6.0 in its own
virtualenv, and the predictor uses only names both versions define
(``ModelPredictor.setup``, ``ModelPredictor.result``, ``Model.PREDICTOR``),
so the two variants are the same code subclassing each version's classes.
:func:`compute` is also what the bare ASGI app (:mod:`bench_bare_app`) runs.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

from ml2p.core import Model, ModelPredictor

#: The model file the benchmark writes into ``<ml_folder>/model/``.
MODEL_FILE = "bench_model.json"


def load_params(model_folder: pathlib.Path) -> dict[str, float]:
    """Read the model parameters written by the benchmark (slope and intercept)."""
    params = json.loads((pathlib.Path(model_folder) / MODEL_FILE).read_text(encoding="utf-8"))
    return {"slope": float(params["slope"]), "intercept": float(params["intercept"])}


def compute(params: dict[str, float], data: dict[str, Any]) -> dict[str, float]:
    """The prediction: ``y = slope * x + intercept`` for one datum ``{"x": number}``."""
    return {"y": params["slope"] * float(data["x"]) + params["intercept"]}


class BenchPredictor(ModelPredictor):
    """Loads the parameters once in :meth:`setup`; each ``result`` is :func:`compute`."""

    def setup(self) -> None:
        self.params = load_params(self.env.model_folder())

    def result(self, data: dict[str, Any]) -> dict[str, float]:
        return compute(self.params, data)


class BenchModel(Model):
    """The model served by ``ml2p-docker --model bench_models.BenchModel serve``."""

    PREDICTOR = BenchPredictor
