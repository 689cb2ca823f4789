"""Run ML2P 0.6.0's ``ml2p-docker serve`` on a chosen address (benchmark helper).

ML2P 0.6.0 hard-codes ``app.run(host="0.0.0.0", port=8080)``; the benchmark
needs 127.0.0.1 and a free port, so this wrapper fixes those two arguments of
its Flask app's ``run`` and then calls its ``ml2p-docker`` command group
unchanged. Run it with the 0.6.0 virtualenv's Python::

    BENCH_HOST=127.0.0.1 BENCH_PORT=8123 python v060_serve.py \
        --ml-folder DIR --model bench_models.BenchModel serve
"""

from __future__ import annotations

import os
import sys

import ml2p
from ml2p import docker

if ml2p.__version__ != "0.6.0":
    sys.exit(f"v060_serve.py wants ML2P 0.6.0, found {ml2p.__version__}")

_flask_run = docker.app.run


def _run_on_bench_address(host=None, port=None, **options):
    # 0.6.0 passes host and port explicitly, so they are replaced, not defaulted.
    _flask_run(host=os.environ["BENCH_HOST"], port=int(os.environ["BENCH_PORT"]), **options)


docker.app.run = _run_on_bench_address
docker.ml2p_docker(prog_name="ml2p-docker")
