"""A third-party plugin as a real pip-installed distribution, in a fresh virtualenv.

The throwaway distribution is written here, with its own ``setup.cfg``
declaring ``ml2p.models`` and ``ml2p.plugins`` entry points, and installed
with pip next to the core. From that virtualenv we check that its model is
found by name, that its wrapper changes the result of a predictor it did not
write (single and batch), and that the block-list switches it off.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

SETUP_CFG = """
[metadata]
name = ml2p-throwaway
version = 0.0.1

[options]
packages = throwaway_ml2p
install_requires = ml2p

[options.entry_points]
ml2p.models =
    throwaway = throwaway_ml2p.models:ThrowawayModel
ml2p.plugins =
    throwaway = throwaway_ml2p.hooks
"""

MODELS = """
from ml2p.core import Model, ModelPredictor

class ThrowawayPredictor(ModelPredictor):
    def result(self, data):
        return {"y": data["x"] + 1}

class ThrowawayModel(Model):
    PREDICTOR = ThrowawayPredictor
"""

HOOKS = """
from ml2p import hookimpl

@hookimpl(wrapper=True)
def ml2p_result(predictor, data):
    result = yield
    return {**result, "y": result["y"] * 100, "by": "throwaway"}
"""

PROBE = """
import json, sys, tempfile, pathlib
from ml2p import lifecycle
from ml2p.core import SageMakerEnv
from ml2p.plugins import get_plugin_manager, resolve_model
from tests.models import MinimalPredictor

model = resolve_model("throwaway")
folder = pathlib.Path(tempfile.mkdtemp())
(folder / "model").mkdir()
(folder / "model" / "model.json").write_text('{"slope": 2}')
predictor = MinimalPredictor(SageMakerEnv(str(folder), environ={}))
lifecycle.setup(predictor)
print(json.dumps({
    "model": model.__module__ + "." + model.__name__,
    "plugins": sorted(n for n, _ in get_plugin_manager().list_name_plugin()),
    "single": predictor.invoke({"x": 3})["result"],
    "batch": [r["result"] for r in predictor.batch_invoke([{"x": 1}, {"x": 2}])],
    "core_file": __import__("ml2p").__file__,
}))
"""


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory):
    root = tmp_path_factory.mktemp("throwaway")
    dist = root / "dist"
    (dist / "throwaway_ml2p").mkdir(parents=True)
    (dist / "setup.cfg").write_text(SETUP_CFG)
    (dist / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
    )
    (dist / "throwaway_ml2p" / "__init__.py").write_text("")
    (dist / "throwaway_ml2p" / "models.py").write_text(textwrap.dedent(MODELS))
    (dist / "throwaway_ml2p" / "hooks.py").write_text(textwrap.dedent(HOOKS))
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / ("Scripts" if os.name == "nt" else "bin") / "python"
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            str(REPO),
            str(dist),
        ],
        check=True,
    )
    return python


def probe(python, **env):
    proc = subprocess.run(
        [str(python), "-c", PROBE],
        capture_output=True,
        text=True,
        cwd=str(REPO),
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.slow
def test_installed_plugin_is_found_and_wraps_foreign_predictor(venv_python):
    out = probe(venv_python)
    # The core comes from the virtualenv, not from this source tree.
    assert "site-packages" in out["core_file"]
    assert out["model"] == "throwaway_ml2p.models.ThrowawayModel"
    assert "throwaway" in out["plugins"]
    assert out["single"] == {"y": 600, "by": "throwaway"}
    assert out["batch"] == [{"y": 200, "by": "throwaway"}, {"y": 400, "by": "throwaway"}]


@pytest.mark.slow
@pytest.mark.parametrize("blocked", ["throwaway", "ml2p-throwaway"])
def test_block_list_switches_the_plugin_off(venv_python, blocked):
    proc = subprocess.run(
        [str(venv_python), "-c", PROBE],
        capture_output=True,
        text=True,
        cwd=str(REPO),
        env={**os.environ, "PYTHONPATH": str(REPO), "ML2P_DISABLE_PLUGINS": blocked},
    )
    # Blocking the distribution also hides its model entry point.
    assert proc.returncode != 0
    assert "no model named 'throwaway'" in proc.stderr


@pytest.mark.slow
def test_block_list_keeps_other_behaviour(venv_python):
    code = PROBE.replace('resolve_model("throwaway")', 'resolve_model("tests.models.MinimalModel")')
    proc = subprocess.run(
        [str(venv_python), "-c", code],
        capture_output=True,
        text=True,
        cwd=str(REPO),
        env={**os.environ, "PYTHONPATH": str(REPO), "ML2P_DISABLE_PLUGINS": "throwaway"},
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert "throwaway" not in out["plugins"]
    assert out["single"] == {"y": 6}
    assert out["batch"] == [{"y": 2}, {"y": 4}]
