"""Project plugins (``plugins:`` in ``ml2p.yml``) import from the project folder, no PYTHONPATH.

Each test runs ``ml2p`` in a subprocess from another folder than the
project's, with only the repository (for ``tests.models``) on PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from tests.serving_support import free_port, request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PLUGIN = textwrap.dedent(
    '''
    """A project plugin: marks training and generation, tags every prediction."""
    from ml2p import hookimpl


    @hookimpl(wrapper=True)
    def ml2p_train(trainer):
        (trainer.env.ml_folder / "output" / "trained-by-plugin").write_text("yes")
        return (yield)


    @hookimpl(wrapper=True)
    def ml2p_generate(generator):
        (generator.env.ml_folder / "generated-by-plugin").write_text("yes")
        return (yield)


    @hookimpl(wrapper=True)
    def ml2p_result(predictor, data):
        result = yield
        return {**result, "tagged_by": "project_hooks"}
    '''
)


@pytest.fixture
def project(tmp_path):
    folder = tmp_path / "project"
    (folder / "project_pkg").mkdir(parents=True)
    (folder / "project_pkg" / "__init__.py").write_text("")
    (folder / "project_pkg" / "hooks.py").write_text(PLUGIN)
    (folder / "ml2p.yml").write_text(
        "project: test-proj\n"
        's3folder: "s3://ml2p-test/proj/"\n'
        "plugins: [project_pkg.hooks]\n"
        "models:\n"
        "  minimal: tests.models.MinimalModel\n"
    )
    (tmp_path / "elsewhere").mkdir()
    return folder


def ml2p(project, *args, **kwargs):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ML2P_", "SAGEMAKER_"))}
    env["PYTHONPATH"] = REPO
    command = [sys.executable, "-m", "ml2p"]
    command += ["--cfg", str(project / "ml2p.yml"), *args]
    cwd = project.parent / "elsewhere"
    if kwargs.pop("background", False):
        return subprocess.Popen(command, cwd=cwd, env=env, **kwargs)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_validate_imports_the_project_plugin(project):
    proc = ml2p(project, "validate")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["plugins"] == {"project_pkg.hooks": ["ml2p_generate", "ml2p_result", "ml2p_train"]}


def test_local_train_and_generate_run_the_project_plugin(project, aws):
    folder = project / "ml"
    where = ["--local-folder", str(folder)]
    proc = ml2p(project, "local", "train", "minimal", *where)
    assert proc.returncode == 0, proc.stderr
    assert (folder / "output" / "trained-by-plugin").read_text() == "yes"
    import boto3

    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="ml2p-test")
    proc = ml2p(project, "local", "generate", "minimal", "minimal-20240101", *where)
    assert proc.returncode == 0, proc.stderr
    assert (folder / "generated-by-plugin").read_text() == "yes"


def test_local_serve_workers_run_the_project_plugin(project, tmp_path):
    folder = project / "ml"
    assert ml2p(project, "local", "train", "minimal", "--local-folder", str(folder)).returncode == 0
    port = free_port()
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        proc = ml2p(
            project,
            *("local", "serve", "minimal", "--port", str(port), "--workers", "2"),
            *("--local-folder", str(folder)),
            background=True,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            answers = []
            deadline = time.monotonic() + 60
            while len(answers) < 20:
                assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
                try:
                    answer = request(port, "POST", "/invocations", {"x": 2})
                except OSError:  # not listening yet
                    answer = None
                if answer is not None and answer.status != 503:  # 503: a worker setting up
                    answers.append(answer)
                else:
                    time.sleep(0.1)
        finally:
            proc.terminate()
            proc.wait(30)
    assert [a.status for a in answers] == [200] * 20, answers
    assert {json.dumps(a.json()["result"]) for a in answers} == {
        json.dumps({"y": 4, "tagged_by": "project_hooks"})
    }


def test_project_folder_never_shadows_an_installed_module(tmp_path):
    """The folder goes last on sys.path; a plugin named like an installed module is flagged."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "yaml.py").write_text("raise RuntimeError('the project copy was imported')\n")
    (folder / "ml2p.yml").write_text(
        'project: p\ns3folder: "s3://b/p/"\nplugins: [yaml]\n'
        "models: {m: tests.models.MinimalModel}\n"
    )
    (tmp_path / "elsewhere").mkdir()
    proc = ml2p(folder, "validate")
    assert proc.returncode == 0, proc.stderr
    warning = [line for line in proc.stderr.splitlines() if line.startswith("Warning:")]
    assert len(warning) == 1 and "'yaml'" in warning[0] and str(folder) in warning[0]
    assert "installed" in warning[0]
