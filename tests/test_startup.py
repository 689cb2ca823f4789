"""Start-up stays cheap: importing ml2p.core loads neither boto3 nor entry points."""

from __future__ import annotations

import subprocess
import sys


def imported_modules(code: str) -> set:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    return {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}


def test_import_core_does_not_import_boto3():
    modules = imported_modules("import ml2p.core")
    assert "ml2p.core" in modules
    assert not {m for m in modules if m.split(".")[0] in ("boto3", "botocore", "s3transfer")}


def test_creating_envs_and_predictors_does_not_scan_entry_points(tmp_path):
    code = (
        "import sys, importlib.metadata as md\n"
        "calls = []\n"
        "real = md.entry_points\n"
        "md.entry_points = lambda *a, **k: calls.append(1) or real(*a, **k)\n"
        "from ml2p.core import SageMakerEnv, ModelPredictor\n"
        f"p = ModelPredictor(SageMakerEnv({str(tmp_path)!r}, environ={{}}))\n"
        "assert not calls, calls\n"
        "assert 'boto3' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
