"""Who owns the plugin manager: each host builds its own, and nothing changes one.

The plugins are real modules, written to a folder on ``sys.path`` and
registered as project plugins (``ML2P_PROJECT_PLUGINS``), as a project's
``plugins:`` are.
"""

from __future__ import annotations

import json
import sys
import textwrap

import click
import pytest

from ml2p import lifecycle, runtime
from ml2p.cli import cli
from ml2p.core import Model, SageMakerEnv
from ml2p.plugin_host import PluginHost, hand_over
from ml2p.plugins import get_plugin_manager, make_plugin_manager
from ml2p.testing import PredictionClient
from tests.cli_support import cli_runner
from tests.models import MinimalModel, MinimalPredictor

# Each tags predictions with its name and marks the folders it trained in.
TAGGER = '''
"""Tags every prediction with this module's name."""
from ml2p import hookimpl


@hookimpl(wrapper=True)
def ml2p_result(predictor, data):
    result = yield
    return {**result, "tags": [*result.get("tags", []), __name__]}


@hookimpl(wrapper=True)
def ml2p_train(trainer):
    (trainer.env.ml_folder / f"trained-by-{__name__}").write_text("yes")
    return (yield)
'''

TAGGERS = ("host_tag_a", "host_tag_b", "host_tag_c")


@pytest.fixture
def taggers(tmp_path, monkeypatch):
    folder = tmp_path / "plugins"
    folder.mkdir()
    for name in TAGGERS:
        (folder / f"{name}.py").write_text(textwrap.dedent(TAGGER))
    monkeypatch.syspath_prepend(str(folder))
    yield TAGGERS
    for name in TAGGERS:
        sys.modules.pop(name, None)


@pytest.fixture
def trained(tmp_path):
    folder = tmp_path / "ml"
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "model.json").write_text(json.dumps({"slope": 2}))
    return folder


def environ(version, *plugins):
    # No installed plugin: each host runs exactly the project plugins it is given.
    return {
        "ML2P_MODEL_VERSION": version,
        "ML2P_PROJECT_PLUGINS": ",".join(plugins),
        "ML2P_LOAD_PLUGINS": "",
    }


def plugin_names(pm):
    return {name for name, _ in pm.list_name_plugin()}


# -- the must-show: two hosts, two plugin sets, one process -------------------------


def test_two_hosts_in_one_process_each_run_only_their_own_plugins(taggers, trained):
    env_a = SageMakerEnv(trained, environ("a", "host_tag_a"))
    env_bc = SageMakerEnv(trained, environ("bc", "host_tag_b", "host_tag_c"))
    host_a, host_bc = PluginHost.for_env(env_a), PluginHost.for_env(env_bc)
    a = host_a.make_predictor(MinimalModel, env_a)
    bc = host_bc.make_predictor(MinimalModel, env_bc)
    assert a.plugin_manager is host_a.plugin_manager
    assert bc.plugin_manager is host_bc.plugin_manager
    lifecycle.setup(a)
    lifecycle.setup(bc)
    for x in range(3):  # interleaved, single and batch
        assert a.invoke({"x": x})["result"] == {"y": 2 * x, "tags": ["host_tag_a"]}
        # Registered in order, so host_tag_c wraps host_tag_b and tags last.
        assert bc.invoke({"x": x})["result"] == {
            "y": 2 * x,
            "tags": ["host_tag_b", "host_tag_c"],
        }
        assert [p["result"]["tags"] for p in a.batch_invoke([{"x": x}, {"x": 1}])] == [
            ["host_tag_a"],
            ["host_tag_a"],
        ]
        assert [p["result"]["tags"] for p in bc.batch_invoke([{"x": x}])] == [
            ["host_tag_b", "host_tag_c"]
        ]
    lifecycle.teardown(a)
    lifecycle.teardown(bc)
    # Neither host touched the library default.
    assert not plugin_names(get_plugin_manager()) & set(taggers)


def test_two_servers_in_one_process_each_run_only_their_own_plugins(taggers, trained):
    """Each server app is a host: its predictor gets the app's own manager."""
    with (
        PredictionClient(MinimalModel, ml_folder=trained, environ=environ("a", "host_tag_a")) as a,
        PredictionClient(
            MinimalModel, ml_folder=trained, environ=environ("bc", "host_tag_b", "host_tag_c")
        ) as bc,
    ):
        for x in range(3):
            answer_a = a.post("/invocations", json={"x": x})
            answer_bc = bc.post("/invocations", json={"instances": [{"x": x}, {"x": 1}]})
            assert answer_a.status_code == 200 and answer_bc.status_code == 200
            assert answer_a.json["result"] == {"y": 2 * x, "tags": ["host_tag_a"]}
            assert [p["result"]["tags"] for p in answer_bc.json["predictions"]] == [
                ["host_tag_b", "host_tag_c"]
            ] * 2
        pm_a, pm_bc = a.app.predictor.plugin_manager, bc.app.predictor.plugin_manager
    assert pm_a is not pm_bc
    assert "host_tag_b" not in plugin_names(pm_a) and "host_tag_a" not in plugin_names(pm_bc)
    # The apps' own managers, not library defaults.
    assert pm_a is not get_plugin_manager(["host_tag_a"])
    assert pm_bc is not get_plugin_manager(["host_tag_b", "host_tag_c"])
    assert not plugin_names(get_plugin_manager()) & set(taggers)


def test_two_training_jobs_in_one_process_each_run_only_their_own_plugins(
    taggers, tmp_path, monkeypatch
):
    # A variable of the process is not the job's: a job reads the environment it is given.
    monkeypatch.setenv("ML2P_PROJECT_PLUGINS", "host_tag_c")
    folder_a, folder_b = tmp_path / "a", tmp_path / "b"
    folder_a.mkdir()
    folder_b.mkdir()
    job_a = {**environ("a", "host_tag_a"), "ML2P_TRAINING_JOB": "job-a"}
    job_b = {**environ("b", "host_tag_b"), "ML2P_TRAINING_JOB": "job-b"}
    assert runtime.train(folder_a, "tests.models.MinimalModel", job_a) == 0
    assert runtime.train(folder_b, "tests.models.MinimalModel", job_b) == 0
    assert runtime.train(folder_a, "tests.models.MinimalModel", job_a) == 0
    assert sorted(p.name for p in folder_a.glob("trained-by-*")) == ["trained-by-host_tag_a"]
    assert sorted(p.name for p in folder_b.glob("trained-by-*")) == ["trained-by-host_tag_b"]


# -- the library default ------------------------------------------------------------


def test_library_default_is_never_changed(taggers, trained):
    only_a = get_plugin_manager(["host_tag_a"])
    only_b = get_plugin_manager(["host_tag_b"])
    assert only_a is not only_b
    assert get_plugin_manager(["host_tag_a"]) is only_a
    assert "host_tag_b" not in plugin_names(only_a)
    assert "host_tag_a" not in plugin_names(only_b)
    # ML2P 0.6 code makes predictors itself: each fetches the default for its own plugins.
    a = MinimalPredictor(SageMakerEnv(trained, environ("a", "host_tag_a")))
    plain = MinimalPredictor(SageMakerEnv(trained, environ("plain")))
    lifecycle.setup(a)
    lifecycle.setup(plain)
    assert a.invoke({"x": 1})["result"] == {"y": 2, "tags": ["host_tag_a"]}
    assert plain.invoke({"x": 1})["result"] == {"y": 2}
    assert a.plugin_manager is only_a
    assert plugin_names(only_a) == plugin_names(get_plugin_manager(["host_tag_a"]))


def test_library_default_reads_project_plugins_of_the_process(taggers, monkeypatch):
    monkeypatch.setenv("ML2P_PROJECT_PLUGINS", " host_tag_a , ,host_tag_b ")
    pm = get_plugin_manager()
    assert {"host_tag_a", "host_tag_b"} <= plugin_names(pm)
    assert get_plugin_manager(["host_tag_a", "host_tag_b"]) is pm


# -- the hand-over ------------------------------------------------------------------


def test_host_takes_over_a_library_default_fetched_while_making_the_object(taggers, trained):
    class EagerPredictor(MinimalPredictor):
        def __init__(self, env):
            super().__init__(env)
            self.made_with = self.plugin_manager  # fetches the library default

    class EagerModel(Model):
        PREDICTOR = EagerPredictor

    env = SageMakerEnv(trained, environ("a", "host_tag_a"))
    host = PluginHost(make_plugin_manager(["host_tag_b"], load_entry_points=False))
    predictor = host.make_predictor(EagerModel, env)
    assert predictor.made_with is get_plugin_manager(["host_tag_a"])
    assert predictor.plugin_manager is host.plugin_manager
    lifecycle.setup(predictor)
    assert predictor.invoke({"x": 1})["result"]["tags"] == ["host_tag_b"]


def test_a_manager_given_to_the_object_is_kept(taggers, trained):
    own = make_plugin_manager(["host_tag_c"], load_entry_points=False)

    class OwnModel(Model):
        def predictor(self, env):
            predictor = MinimalPredictor(env, plugin_manager=own)
            predictor.made_by_the_model = True
            return predictor

    env = SageMakerEnv(trained, environ("a", "host_tag_a"))
    predictor = PluginHost.for_env(env).make_predictor(OwnModel, env)
    assert predictor.made_by_the_model and predictor.plugin_manager is own
    lifecycle.setup(predictor)
    assert predictor.invoke({"x": 1})["result"]["tags"] == ["host_tag_c"]
    assert hand_over(predictor, make_plugin_manager(load_entry_points=False)) is predictor
    assert predictor.plugin_manager is own


def test_host_makes_each_object_through_the_models_factory(taggers, trained):
    calls = []

    class CountingModel(MinimalModel):
        def trainer(self, env):
            calls.append("trainer")
            return super().trainer(env)

        def dataset_generator(self, env):
            calls.append("dataset_generator")
            return super().dataset_generator(env)

    env = SageMakerEnv(trained, environ("a", "host_tag_a"))
    host = PluginHost.for_env(env)
    trainer = host.make_trainer(CountingModel, env)
    generator = host.make_generator(CountingModel, env)
    assert calls == ["trainer", "dataset_generator"]
    assert trainer.plugin_manager is host.plugin_manager is generator.plugin_manager
    lifecycle.train(trainer)
    assert (trained / "trained-by-host_tag_a").read_text() == "yes"
    assert "host_tag_a" in repr(host)


# -- the command line ---------------------------------------------------------------

COMMANDS = '''
import click
from ml2p import hookimpl


@hookimpl
def ml2p_cli_commands(cli):
    @cli.command("host-hello")
    def hello():
        """Say hello."""
        click.echo("hello from a plugin")
'''


def test_plugin_commands_belong_to_one_run(tmp_path, monkeypatch):
    (tmp_path / "host_cli_plugin.py").write_text(textwrap.dedent(COMMANDS))
    monkeypatch.syspath_prepend(str(tmp_path))
    with_plugin, without = tmp_path / "with.yml", tmp_path / "without.yml"
    config = 'project: p\ns3folder: "s3://b/p/"\nmodels: {m: tests.models.MinimalModel}\n'
    with_plugin.write_text(config + "plugins: [host_cli_plugin]\n")
    without.write_text(config)
    try:
        runner = cli_runner()
        ran = runner.invoke(cli, ["--cfg", str(with_plugin), "host-hello"])
        assert ran.exit_code == 0 and "hello from a plugin" in ran.output, ran.output
        # Nothing is left on the shared group for the next run in this process.
        assert "host-hello" not in cli.commands
        with click.Context(cli) as ctx:
            assert "host-hello" not in cli.list_commands(ctx)
        missing = runner.invoke(cli, ["--cfg", str(without), "host-hello"])
        assert missing.exit_code == 2 and "No such command 'host-hello'" in missing.output
        # The command's manager was its own: the library default never saw the plugin.
        assert not get_plugin_manager().has_plugin("host_cli_plugin")
    finally:
        sys.modules.pop("host_cli_plugin", None)
