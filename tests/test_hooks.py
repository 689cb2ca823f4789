"""The semantics of every hook, through a real plugin manager.

``tests/test_hookspecs.py`` checks that each hookspec has a ``test_hook_<name>``
test here.
"""

from __future__ import annotations

import json
import re

import pytest

from ml2p import hookimpl, lifecycle
from ml2p.core import ModelPredictor, SageMakerEnv
from ml2p.errors import ClientError
from ml2p.plugins import make_plugin_manager
from tests.models import MinimalGenerator, MinimalTrainer


class _Plugin:
    pass


def plugin(**hooks):
    """A (hashable) plugin object whose attributes are the given hook implementations."""
    obj = _Plugin()
    obj.__dict__.update(hooks)
    return obj


class Doubler(ModelPredictor):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.calls = []

    def setup(self):
        self.calls.append("setup")

    def teardown(self):
        self.calls.append("teardown")

    def result(self, data):
        self.calls.append(("result", data["x"]))
        return {"y": 2 * data["x"]}

    def batch_result(self, data):
        self.calls.append(("batch_result", len(data)))
        return [{"y": 2 * d["x"]} for d in data]


@pytest.fixture
def env(tmp_path):
    return SageMakerEnv(str(tmp_path), environ={"ML2P_MODEL_VERSION": "mv-0-1-0"})


@pytest.fixture
def pm():
    return make_plugin_manager(load_entry_points=False)


def test_hook_ml2p_setup(env, pm):
    order = []

    @hookimpl(wrapper=True)
    def ml2p_setup(predictor):
        order.append("before")
        yield
        order.append(list(predictor.calls))

    @hookimpl
    def plain_setup(predictor):  # pragma: no cover - never registered under this name
        raise AssertionError

    pm.register(plugin(ml2p_setup=ml2p_setup), name="observer")
    p = Doubler(env, plugin_manager=pm)
    lifecycle.setup(p)
    assert order == ["before", ["setup"]]


def test_hook_ml2p_teardown(env, pm):
    seen = []

    @hookimpl
    def ml2p_teardown(predictor):
        seen.append(list(predictor.calls))

    pm.register(plugin(ml2p_teardown=ml2p_teardown), name="t")
    p = Doubler(env, plugin_manager=pm)
    lifecycle.teardown(p)
    # Plain implementations run before the built-in (trylast) one.
    assert seen == [[]]
    assert p.calls == ["teardown"]


def test_hook_ml2p_train(tmp_path, pm):
    env = SageMakerEnv(str(tmp_path), environ={"ML2P_TRAINING_JOB": "tj"})
    events = []

    @hookimpl(wrapper=True)
    def ml2p_train(trainer):
        events.append("start")
        try:
            return (yield)
        finally:
            events.append("end")

    pm.register(plugin(ml2p_train=ml2p_train), name="timer")
    lifecycle.train(MinimalTrainer(env, plugin_manager=pm))
    assert events == ["start", "end"]
    assert json.loads((tmp_path / "model" / "model.json").read_text()) == {"slope": 2}


def test_hook_ml2p_train_firstresult_skips_model(tmp_path, pm):
    env = SageMakerEnv(str(tmp_path), environ={"ML2P_TRAINING_JOB": "tj"})

    @hookimpl
    def ml2p_train(trainer):
        return "cached"

    pm.register(plugin(ml2p_train=ml2p_train), name="cache")
    assert lifecycle.train(MinimalTrainer(env, plugin_manager=pm)) == "cached"
    assert not (tmp_path / "model" / "model.json").exists()


def test_hook_ml2p_checkpoint(tmp_path, pm):
    order = []

    class SavingTrainer(MinimalTrainer):
        def checkpoint(self):
            order.append("model")

    @hookimpl
    def ml2p_checkpoint(trainer):
        order.append(("plugin", type(trainer).__name__))

    pm.register(plugin(ml2p_checkpoint=ml2p_checkpoint), name="saver")
    env = SageMakerEnv(str(tmp_path), environ={"ML2P_TRAINING_JOB": "tj"})
    assert lifecycle.checkpoint(SavingTrainer(env, plugin_manager=pm)) is None
    # Every implementation is called; the model's own method last.
    assert order == [("plugin", "SavingTrainer"), "model"]


def test_hook_ml2p_generate(tmp_path, pm):
    env = SageMakerEnv(str(tmp_path), environ={"ML2P_DATASET": "ds"})
    errors = []

    @hookimpl(wrapper=True)
    def ml2p_generate(generator):
        try:
            return (yield)
        except Exception as exc:
            errors.append(type(exc).__name__)
            raise

    pm.register(plugin(ml2p_generate=ml2p_generate), name="observer")
    # No S3 URL is set: the generator's upload fails and the wrapper sees it.
    with pytest.raises(Exception, match="ML2P_S3_URL"):
        lifecycle.generate(MinimalGenerator(env, plugin_manager=pm))
    assert errors == ["ML2PError"]


def test_hook_ml2p_result(env, pm):
    @hookimpl(wrapper=True)
    def ml2p_result(predictor, data):
        result = yield
        return {**result, "wrapped": True}

    pm.register(plugin(ml2p_result=ml2p_result), name="w")
    p = Doubler(env, plugin_manager=pm)
    out = p.invoke({"x": 3})
    assert out["result"] == {"y": 6, "wrapped": True}
    assert set(out["metadata"]) == {"model_version", "ml2p_version", "timestamp"}
    assert out["metadata"]["model_version"] == "mv-0-1-0"


def test_hook_ml2p_result_short_circuits(env, pm):
    @hookimpl
    def ml2p_result(predictor, data):
        return {"y": "cached"} if data["x"] == 1 else None

    pm.register(plugin(ml2p_result=ml2p_result), name="cache")
    p = Doubler(env, plugin_manager=pm)
    assert p.invoke({"x": 1})["result"] == {"y": "cached"}
    assert p.invoke({"x": 2})["result"] == {"y": 4}
    assert p.calls == [("result", 2)]


def test_hook_ml2p_result_can_reject_input(env, pm):
    @hookimpl(wrapper=True)
    def ml2p_result(predictor, data):
        if "x" not in data:
            raise ClientError("missing field x", details={"path": "$.x"})
        return (yield)

    pm.register(plugin(ml2p_result=ml2p_result), name="validate")
    p = Doubler(env, plugin_manager=pm)
    with pytest.raises(ClientError) as info:
        p.invoke({})
    assert info.value.status_code == 400
    assert info.value.to_dict() == {"message": "missing field x", "details": {"path": "$.x"}}
    assert p.calls == []


def test_hook_ml2p_batch_result_keeps_batch_path_without_plugins(env, pm):
    p = Doubler(env, plugin_manager=pm)
    out = p.batch_invoke([{"x": i} for i in range(5)])
    assert [o["result"]["y"] for o in out] == [0, 2, 4, 6, 8]
    assert p.calls == [("batch_result", 5)]
    assert len({id(o["metadata"]) for o in out}) == 1


def test_hook_ml2p_batch_result_applies_result_wrappers_per_datum(env, pm):
    seen = []

    @hookimpl(wrapper=True)
    def ml2p_result(predictor, data):
        seen.append(data["x"])
        result = yield
        return {**result, "w": 1}

    pm.register(plugin(ml2p_result=ml2p_result), name="per-datum")
    p = Doubler(env, plugin_manager=pm)
    out = p.batch_invoke([{"x": i} for i in range(3)])
    assert seen == [0, 1, 2]
    assert [o["result"] for o in out] == [{"y": 0, "w": 1}, {"y": 2, "w": 1}, {"y": 4, "w": 1}]
    assert p.calls == [("result", 0), ("result", 1), ("result", 2)]


def test_hook_ml2p_batch_result_batch_aware_plugin_called_once(env, pm):
    calls = []

    @hookimpl(wrapper=True)
    def ml2p_result(predictor, data):
        calls.append("single")
        return (yield)

    @hookimpl(wrapper=True)
    def ml2p_batch_result(predictor, data):
        calls.append(("batch", len(data)))
        return (yield)

    pm.register(plugin(ml2p_result=ml2p_result, ml2p_batch_result=ml2p_batch_result), name="b")
    p = Doubler(env, plugin_manager=pm)
    p.batch_invoke([{"x": i} for i in range(4)])
    # The batch-aware plugin sees the batch once; the model keeps its batch path.
    assert calls == [("batch", 4)]
    assert p.calls == [("batch_result", 4)]


def test_hook_ml2p_batch_result_mixed_plugins(env, pm):
    calls = []

    @hookimpl(wrapper=True)
    def aware_result(predictor, data):
        calls.append("aware-single")
        return (yield)

    @hookimpl(wrapper=True)
    def aware_batch(predictor, data):
        calls.append("aware-batch")
        return (yield)

    @hookimpl(wrapper=True)
    def naive_result(predictor, data):
        calls.append("naive")
        return (yield)

    pm.register(plugin(ml2p_result=aware_result, ml2p_batch_result=aware_batch), name="aware")
    pm.register(plugin(ml2p_result=naive_result), name="naive")
    p = Doubler(env, plugin_manager=pm)
    p.batch_invoke([{"x": 1}, {"x": 2}])
    assert calls == ["aware-batch", "naive", "naive"]
    # Unregistering the naive plugin restores the batch path.
    pm.unregister(name="naive")
    calls.clear()
    p.calls.clear()
    p.batch_invoke([{"x": 1}, {"x": 2}])
    assert calls == ["aware-batch"] and p.calls == [("batch_result", 2)]


def test_hook_ml2p_batch_result_wrong_length_is_an_error(env, pm):
    @hookimpl
    def ml2p_batch_result(predictor, data):
        return data[:-1]

    pm.register(plugin(ml2p_batch_result=ml2p_batch_result), name="lossy")
    p = Doubler(env, plugin_manager=pm)
    with pytest.raises(Exception, match="returned 1 results for 2 inputs"):
        p.batch_invoke([{"x": 1}, {"x": 2}])


class _Keeping:
    """A recorder that keeps records: ``record_invoke`` then returns the key without S3."""

    layout = "object"

    def __init__(self):
        self.records = []

    def record(self, record):
        self.records.append(record)


def record_key_of(predictor, datum, prediction):
    predictor.recorder = _Keeping()
    return predictor.record_invoke(datum, prediction)


def test_hook_ml2p_record_invoke_id(env, pm):
    @hookimpl
    def ml2p_record_invoke_id(predictor, datum, prediction):
        return [("customer", datum["customer"]), ("ts", "overridden")]

    @hookimpl
    def second(predictor, datum, prediction):
        return {"region": "eu/../west\n1", "a" * 200: "b" * 500}

    pm.register(plugin(ml2p_record_invoke_id=ml2p_record_invoke_id), name="first")
    pm.register(plugin(ml2p_record_invoke_id=second), name="second")
    env.s3 = None
    from ml2p.core import S3URL

    env.s3 = S3URL("s3://bucket/prefix/")
    p = Doubler(env, plugin_manager=pm)
    key = record_key_of(p, {"customer": "c/42--x"}, {"y": 1})
    folder = "prefix/predictions/mv-0-1-0/"
    match = re.fullmatch(re.escape(folder) + r"ts-([^/]+?)--uuid-([0-9a-f-]{36})--(.*)\.json", key)
    assert match, key
    # Defaults first, then every plugin in registration order; first value of a key wins.
    # Values are kept as given ("--" too) but for "/", control characters and "..".
    assert match.group(3) == (
        "customer-c_42--x--region-eu____west_1--" + "a" * 200 + "-" + "b" * 500
    )
    assert "overridden" not in key


def test_hook_ml2p_cli_commands(pm):
    import click

    @hookimpl
    def ml2p_cli_commands(cli):
        @cli.command("hello")
        def hello():
            click.echo("hi")

    group = click.Group("ml2p")
    pm.register(plugin(ml2p_cli_commands=ml2p_cli_commands), name="cmds")
    pm.hook.ml2p_cli_commands.call_historic(kwargs={"cli": group})
    from tests.cli_support import cli_runner

    result = cli_runner().invoke(group, ["hello"])
    assert result.exit_code == 0 and result.output == "hi\n"


def test_hook_ml2p_record_invoke_id_model_only_is_cached_and_invalidated(env, pm):
    assert pm.record_ids_from_model_only() is True

    @hookimpl
    def ml2p_record_invoke_id(predictor, datum, prediction):
        return {"extra": "1"}

    extra = plugin(ml2p_record_invoke_id=ml2p_record_invoke_id)
    pm.register(extra, name="extra")
    assert pm.record_ids_from_model_only() is False
    from ml2p.core import S3URL

    env.s3 = S3URL("s3://bucket/prefix/")
    assert record_key_of(Doubler(env, plugin_manager=pm), {}, {}).endswith("--extra-1.json")
    pm.unregister(name="extra")
    assert pm.record_ids_from_model_only() is True
    assert "extra" not in record_key_of(Doubler(env, plugin_manager=pm), {}, {})
