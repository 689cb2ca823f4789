"""A model for the fault tests, importable by the server subprocess (``tests.fault_models``).

Every input carries a number ``x`` that names it, so that a test can find its
record in S3, in a spill file or in the log. ``{"x": n}`` answers
``{"y": 2 * n}``; extra keys steer the fault:

* ``"sleep": s``: sleep ``s`` seconds first (at most 60);
* ``"bigkey": true``: answer ``{10**4300: n}``, which CSV can answer (it
  writes the values) but JSON cannot encode (the key has more digits than
  Python turns into text);
* ``"echo": v``: answer ``{"y": 2 * n, "echo": v}`` (``1e309`` decodes to
  infinity, which JSON cannot encode);
* ``"pid": true``: answer ``{"y": 2 * n, "pid": <the worker's process id>}``.

``teardown`` appends ``torn down <pid>`` to ``SERVING_TEARDOWN_MARKER`` as
:class:`tests.serving_models.ScalePredictor` does.
"""

from __future__ import annotations

import os
import time

from ml2p.core import Model
from ml2p.errors import ClientError
from tests.serving_models import ScalePredictor

BIG = 10**4300


class FaultPredictor(ScalePredictor):
    def result(self, data):
        if not isinstance(data, dict) or isinstance(data.get("x"), bool):
            raise ClientError("expected an object with a number 'x'")
        x = data.get("x")
        if not isinstance(x, (int, float)):
            raise ClientError("'x' must be a number")
        if "sleep" in data:
            time.sleep(min(float(data["sleep"]), 60.0))
        if data.get("bigkey") is True:
            return {BIG: x}
        if "echo" in data:
            return {"y": 2 * x, "echo": data["echo"]}
        if data.get("pid") is True:
            return {"y": 2 * x, "pid": os.getpid()}
        return {"y": 2 * x}


class FaultModel(Model):
    PREDICTOR = FaultPredictor
