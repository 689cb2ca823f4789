"""Sending the same HTTP requests to each package's prediction server.

ML2P 0.6.0's server is a Flask app (``ml2p.docker.app``); its own ``serve``
would bind 0.0.0.0:8080, so it is driven in-process through Flask's test
client, set up as 0.6's ``serve`` sets it up (``app.predictor``, ``setup()``).
Ours is the real production server, ``ml2p-docker serve`` in a subprocess on
127.0.0.1 and a free port, stopped with SIGTERM (as SageMaker stops it) so
that its background recorder flushes before the S3 records are read.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def is_060():
    import ml2p

    return ml2p.__version__ == "0.6.0"


def answer(status, content_type, body):
    """The observation of one HTTP answer: status, media type, and JSON body if any."""
    media = (content_type or "").split(";")[0].strip()
    try:
        parsed = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {
            "status": status,
            "content-type": media,
            "json": None,
            "_text": body[:300].decode("utf-8", errors="replace"),
        }
    return {"status": status, "content-type": media, "json": parsed}


def encode(body):
    if body is None or isinstance(body, bytes):
        return body
    return json.dumps(body).encode("utf-8")


def serve_060(model_cls, ml, env, requests):
    from ml2p.core import SageMakerEnv, import_string
    from ml2p.docker import app

    os.environ.update(env)
    predictor = import_string(model_cls)().predictor(SageMakerEnv(ml))
    predictor.setup()
    app.predictor = predictor
    client = app.test_client()
    out = {}
    for label, method, path, body, content_type in requests:
        resp = client.open(
            path, method=method, data=encode(body), content_type=content_type or "application/json"
        )
        out[label] = answer(resp.status_code, resp.headers.get("Content-Type"), resp.get_data())
    predictor.teardown()
    return out, {"exit": 0}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(port, method, path, body, content_type):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"Content-Type": content_type or "application/json"} if body is not None else {}
        conn.request(method, path, body=encode(body), headers=headers)
        resp = conn.getresponse()
        return answer(resp.status, resp.getheader("Content-Type"), resp.read())
    finally:
        conn.close()


def serve_ours(model_cls, ml, env, requests):
    port = free_port()
    exe = os.path.join(os.path.dirname(sys.executable), "ml2p-docker")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ML2P_", "SAGEMAKER_"))}
    environ.update(env)
    environ["PYTHONPATH"] = HERE
    environ["SAGEMAKER_MODEL_SERVER_WORKERS"] = "1"
    log_path = os.path.join(ml, "..", f"server-{port}.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                exe,
                "--ml-folder",
                ml,
                "--model",
                model_cls,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_ready(proc, port, log_path)
            out = {
                label: request(port, method, path, body, content_type)
                for label, method, path, body, content_type in requests
            }
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait(10)
    with open(log_path, encoding="utf-8", errors="replace") as f:
        log_lines = f.read().splitlines()
    return out, {"exit-after-sigterm": code, "_log": log_lines[-20:]}


def wait_ready(proc, port, log_path, timeout=90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            with open(log_path, encoding="utf-8", errors="replace") as f:
                raise RuntimeError(f"server exited {proc.returncode}:\n{f.read()[-3000:]}")
        try:
            if request(port, "GET", "/ping", None, None)["status"] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not ready after {timeout} s")


def serve_and_request(model_cls, ml, env, requests):
    """Serve ``model_cls`` from ``ml`` with environment ``env``; answer each request.

    ``requests`` is a list of ``(label, method, path, body, content_type)``;
    a dict or list body is sent as JSON, bytes as they are. Returns the answers
    by label, and facts about the server's run.
    """
    if is_060():
        return serve_060(model_cls, ml, env, requests)
    return serve_ours(model_cls, ml, env, requests)
