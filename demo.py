"""Run ML2P's whole local loop on the diabetes example, with one command.

    python demo.py

On a machine with nothing but Python (3.9 or newer) and pip, it:

1. creates a virtualenv in ``.demo-venv`` (or reuses it),
2. pip-installs ML2P, its plugins and the diabetes example into it,
3. generates the data set (``ml2p local generate``),
4. trains the model (``ml2p local train``),
5. serves it on 127.0.0.1 (``ml2p local serve``) and waits for ``/ping``,
6. sends held-out patients to ``/invocations``, one at a time and as a batch,
   prints the predictions beside the true values, shows a bad request being
   rejected, and stops the server with SIGTERM.

No AWS account and no Docker are needed: the data set stays local and
predictions are not recorded. Everything the demo writes is under
``.demo-venv/`` (the work folder is ``.demo-venv/demo/``). It exits non-zero
with a message saying which step failed.
"""

from __future__ import annotations

import configparser
import json
import os
import pathlib
import subprocess
import sys
import time
import venv
from collections.abc import Sequence
from typing import Any

# Standard library only, shared with the end-to-end test: server start, wait,
# requests and stop.
from e2e.local_loop import (
    FEATURES,
    LoopError,
    free_port,
    http,
    log_tail,
    ml2p_command,
    read_rows,
    run_command,
    stop,
    wait_for_ping,
)

ROOT = pathlib.Path(__file__).resolve().parent
VENV = ROOT / ".demo-venv"
WORK = VENV / "demo"
LOCAL = WORK / "local"
MODEL = "diabetes"
DATASET = "diabetes-20240101"
STEPS = 6
SINGLE_ROWS = 3
BATCH_ROWS = 5
PING_TIMEOUT = 120.0

CONFIG = """\
# Written by demo.py: a local-only project (nothing is sent to this bucket).
project: "ml2p-demo"
s3folder: "s3://ml2p-demo-bucket/ml2p-demo/"
models:
  diabetes: "diabetes"
deploy:
  record_invokes: false
"""


class DemoError(LoopError):
    """A step failed; the message says why."""


def step(number: int, text: str) -> float:
    print(f"[{number}/{STEPS}] {text}...", flush=True)
    return time.monotonic()


def done(started: float, note: str = "") -> None:
    extra = f": {note}" if note else ""
    print(f"      done in {time.monotonic() - started:.1f} s{extra}", flush=True)


def venv_python() -> pathlib.Path:
    if os.name == "nt":  # pragma: no cover - the demo is run on POSIX
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def run(cmd: Sequence[Any], what: str, env: dict[str, str] | None = None) -> str:
    """Run ``cmd`` in the work folder; return its stdout (:class:`LoopError` if it fails)."""
    return run_command(cmd, what, env, cwd=WORK)


def packages() -> list[pathlib.Path]:
    """The core, every plugin, and the diabetes example."""
    plugins = sorted(p for p in (ROOT / "plugins").glob("*/") if (p / "setup.cfg").is_file())
    return [ROOT, *plugins, ROOT / "examples" / "diabetes"]


def ml2p_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(
        {
            "ML2P_EXAMPLE_UPLOAD": "false",  # keep the data set local: no AWS needed
            "ML2P_RECORD_INVOKES": "false",
            "ML2P_METRICS_FILE": str(WORK / "metrics.jsonl"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    for name in ("AWS_ENDPOINT_URL", "ML2P_LOAD_PLUGINS", "ML2P_DISABLE_PLUGINS"):
        env.pop(name, None)
    return env


def ml2p(*args: Any) -> list[str]:
    return ml2p_command(venv_python(), WORK / "ml2p.yml", *args)


def create_venv() -> bool:
    """Create the virtualenv unless it exists; return whether it was reused."""
    if venv_python().is_file():
        return True
    try:
        venv.EnvBuilder(with_pip=True, clear=False).create(str(VENV))
    except (OSError, subprocess.CalledProcessError) as exc:
        raise DemoError(f"could not create a virtualenv in {VENV}: {exc}") from exc
    if not venv_python().is_file():
        raise DemoError(f"could not create a virtualenv in {VENV}")
    return False


def dist_name(folder: pathlib.Path) -> str:
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(folder / "setup.cfg", encoding="utf-8")
    return cfg.get("metadata", "name", fallback=folder.name)


def install(reused: bool) -> str:
    pkgs = packages()
    pip = [venv_python(), "-m", "pip", "--disable-pip-version-check"]
    try:
        if reused:
            # Same versions would be kept: remove them so the current source is installed.
            run([*pip, "uninstall", "--yes", "--quiet", *map(dist_name, pkgs)], "pip uninstall")
        run([*pip, "install", "--quiet", *pkgs], "pip install")
    except LoopError as exc:
        raise DemoError(f"{exc}\n(if {VENV} is stale, delete it and run the demo again)") from None
    return ", ".join(p.relative_to(ROOT).as_posix() or "." for p in pkgs)


def held_out_rows() -> list[dict[str, float]]:
    path = LOCAL / "input" / "data" / "training" / "test.csv"
    rows = read_rows(path)
    if len(rows) < SINGLE_ROWS + BATCH_ROWS:
        raise DemoError(f"{path} has only {len(rows)} rows")
    return rows


def predict(base: str, rows: list[dict[str, float]]) -> list[list[Any]]:
    """Predict the first rows one by one, the next ones as one batch; return table rows."""
    table = []
    for i, row in enumerate(rows[:SINGLE_ROWS]):
        status, body = http(f"{base}/invocations", {f: row[f] for f in FEATURES})
        if status != 200:
            raise DemoError(f"single prediction answered {status}: {body}")
        table.append(["single", i, row["target"], body["result"]["prediction"]])
    batch = rows[SINGLE_ROWS : SINGLE_ROWS + BATCH_ROWS]
    status, body = http(
        f"{base}/invocations", {"instances": [{f: r[f] for f in FEATURES} for r in batch]}
    )
    if status != 200 or len(body.get("predictions", [])) != len(batch):
        raise DemoError(f"batch prediction answered {status}: {body}")
    for i, (row, answer) in enumerate(zip(batch, body["predictions"]), start=SINGLE_ROWS):
        table.append(["batch", i, row["target"], answer["result"]["prediction"]])
    return table


def print_table(table: list[list[Any]]) -> None:
    print("      how    patient   true   predicted   error")
    for how, i, truth, predicted in table:
        print(f"      {how:<6} {i:>7} {truth:>6.0f} {predicted:>11.1f} {predicted - truth:>+7.1f}")
    mae = sum(abs(p - t) for _, _, t, p in table) / len(table)
    print(f"      mean absolute error over these {len(table)} patients: {mae:.1f}")


def serve_and_predict() -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = WORK / "server.log"
    started = step(5, f"serving on {base} (ml2p local serve {MODEL}) and waiting for /ping")
    with open(log, "w") as out:
        server = subprocess.Popen(
            ml2p(
                "local",
                "serve",
                MODEL,
                "--host",
                "127.0.0.1",
                "--port",
                port,
                "--workers",
                1,
                "--local-folder",
                LOCAL,
            ),
            cwd=str(WORK),
            env=ml2p_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        ping = wait_for_ping(server, base, log, PING_TIMEOUT)
        done(started, f"ml2p {ping.get('ml2p_version', '?')}, model {ping.get('model_version')}")

        started = step(6, "predicting held-out patients (single and batch), then stopping")
        print_table(predict(base, held_out_rows()))
        bad = {**{f: 0.0 for f in FEATURES}, "bmi": "high"}
        status, body = http(f"{base}/invocations", bad)
        if status != 400:
            raise DemoError(f"a bad request answered {status}, not 400: {body}")
        message = body.get("message") if isinstance(body, dict) else body
        print(f'      a request with "bmi": "high" is rejected: 400 {message}')
    finally:
        code = stop(server)
    if code is None:
        raise DemoError("the server did not stop within the grace period after SIGTERM")
    if code != 0:
        raise DemoError(f"the server exited with status {code} after SIGTERM:\n{log_tail(log)}")
    done(started, f"server stopped cleanly (exit status 0); its log is {log}")


def main() -> int:
    if sys.version_info < (3, 9):  # noqa: UP036 - users may run it with an older Python
        print("demo failed: ML2P needs Python 3.9 or newer", file=sys.stderr)
        return 1
    total = time.monotonic()
    try:
        started = step(1, "creating virtualenv")
        reused = create_venv()
        done(started, f"{'reusing' if reused else 'created'} {VENV}")

        started = step(2, "installing ml2p, its plugins and the diabetes example (pip --quiet)")
        WORK.mkdir(parents=True, exist_ok=True)
        done(started, install(reused))

        (WORK / "ml2p.yml").write_text(CONFIG)
        started = step(3, f"generating the data set (ml2p local generate {MODEL} {DATASET})")
        run(
            ml2p("local", "generate", MODEL, DATASET, "--local-folder", LOCAL),
            "generate",
            ml2p_env(),
        )
        done(started, f"{len(held_out_rows())} held-out rows in {LOCAL / 'input/data/training'}")

        started = step(4, f"training (ml2p local train {MODEL})")
        run(ml2p("local", "train", MODEL, "--local-folder", LOCAL), "train", ml2p_env())
        metrics = json.loads((LOCAL / "model" / "metrics.json").read_text())
        done(started, f"ridge regression, R² on held-out rows {metrics['test_r2']:.2f}")

        serve_and_predict()
    except LoopError as exc:
        print(f"\ndemo failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ndemo interrupted", file=sys.stderr)
        return 130
    print(f"demo finished in {time.monotonic() - total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
