"""ml2p-validate through a real plugin manager and real predictors."""

from __future__ import annotations

import json
import logging

import pytest
from ml2p_validate import hooks, report, schemas

from ml2p import lifecycle
from ml2p.core import ModelPredictor, ModelTrainer
from ml2p.errors import ClientError, PluginError

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0},
        "first name": {"type": "string"},
    },
    "required": ["name", "age"],
}


class CountingPredictor(ModelPredictor):
    """Answers {"n": len(name)}; counts calls of result and batch_result."""

    INPUT_SCHEMA = PERSON

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.result_calls = 0
        self.batch_calls = 0

    def result(self, data):
        self.result_calls += 1
        return {"n": len(data["name"])}

    def batch_result(self, data):
        self.batch_calls += 1
        return [{"n": len(d["name"])} for d in data]


class NoSchemaPredictor(CountingPredictor):
    INPUT_SCHEMA = None


def good(i=0):
    return {"name": "x" * (i + 1), "age": 30 + i}


# --- bad input ------------------------------------------------------------


def test_invalid_field_is_400_naming_its_path(env, pm):
    predictor = CountingPredictor(env, plugin_manager=pm)
    with pytest.raises(ClientError) as info:
        predictor.invoke({"name": "ann", "age": -3})
    err = info.value
    assert err.status_code == 400
    assert "$.age" in err.message
    assert err.details["errors"] == [
        {"path": "$.age", "error": "-3 is less than the minimum of 0", "validator": "minimum"}
    ]
    assert err.details["truncated"] is False
    assert predictor.result_calls == 0
    json.dumps(err.to_dict())  # the server answers with this body


def test_missing_required_field_names_the_field(env, pm):
    predictor = CountingPredictor(env, plugin_manager=pm)
    with pytest.raises(ClientError) as info:
        predictor.invoke({"name": "ann"})
    assert info.value.details["errors"][0]["path"] == "$.age"
    assert info.value.details["errors"][0]["validator"] == "required"
    assert info.value.message.startswith("invalid input at $.age:")


def test_non_identifier_key_is_quoted_in_the_path(env, pm):
    predictor = CountingPredictor(env, plugin_manager=pm)
    with pytest.raises(ClientError) as info:
        predictor.invoke({"name": "ann", "age": 1, "first name": 7})
    assert info.value.details["errors"][0]["path"] == "$['first name']"


def test_additional_property_path_names_the_property(env, pm):
    predictor = CountingPredictor(env, plugin_manager=pm)
    predictor.input_schema = {**PERSON, "additionalProperties": False}
    with pytest.raises(ClientError) as info:
        predictor.invoke({"name": "ann", "age": 1, "extra": True})
    assert info.value.details["errors"][0]["path"] == "$.extra"


def test_non_object_input_is_rejected(env, pm):
    predictor = CountingPredictor(env, plugin_manager=pm)
    with pytest.raises(ClientError) as info:
        predictor.invoke(["not", "an", "object"])
    assert info.value.details["errors"][0] == {
        "path": "$",
        "error": "['not', 'an', 'object'] is not of type 'object'",
        "validator": "type",
    }


def test_invalid_datum_in_batch_names_its_index_and_rejects_the_batch(env, pm):
    predictor = CountingPredictor(env, plugin_manager=pm)
    data = [good(i) for i in range(5)]
    data[3] = {"name": "bob", "age": "old"}
    with pytest.raises(ClientError) as info:
        predictor.batch_invoke(data)
    err = info.value
    assert err.status_code == 400
    assert "$.instances[3].age" in err.message
    assert [e["path"] for e in err.details["errors"]] == ["$.instances[3].age"]
    assert predictor.batch_calls == 0 and predictor.result_calls == 0


def test_errors_are_bounded(env, pm):
    predictor = CountingPredictor(env, plugin_manager=pm)
    data = [{"name": i, "age": -1} for i in range(30)]  # two errors each
    with pytest.raises(ClientError) as info:
        predictor.batch_invoke(data)
    details = info.value.details
    assert len(details["errors"]) == report.MAX_ERRORS
    assert details["truncated"] is True
    assert {e["path"] for e in details["errors"][:2]} == {
        "$.instances[0].name",
        "$.instances[0].age",
    }
    assert "more; see details" in info.value.message


def test_long_error_messages_are_cut(env, pm):
    predictor = CountingPredictor(env, plugin_manager=pm)
    with pytest.raises(ClientError) as info:
        predictor.invoke({"name": "n" * 5000, "age": 1, "first name": ["z" * 5000]})
    assert len(info.value.details["errors"][0]["error"]) <= report.MAX_MESSAGE_CHARS


def test_format_is_asserted(env, pm):
    predictor = CountingPredictor(env, plugin_manager=pm)
    predictor.input_schema = {"properties": {"when": {"type": "string", "format": "date"}}}
    assert predictor.invoke({"when": "2024-02-29", "name": "a"})["result"] == {"n": 1}
    with pytest.raises(ClientError) as info:
        predictor.invoke({"when": "yesterday", "name": "a"})
    assert info.value.details["errors"][0]["path"] == "$.when"
    assert info.value.details["errors"][0]["validator"] == "format"


def test_env_schema_missing_file_names_the_variable(env, pm, monkeypatch, tmp_path):
    missing = tmp_path / "nope.json"
    monkeypatch.setenv(schemas.SCHEMA_ENV, str(missing))
    predictor = CountingPredictor(env, plugin_manager=pm)
    with pytest.raises(PluginError) as info:
        predictor.invoke(good())
    assert "ML2P_VALIDATE_SCHEMA" in str(info.value)
    assert "no such file" in str(info.value)
    assert info.value.plugin == "ml2p-validate"
    assert predictor.result_calls == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", "not valid JSON"),
        ('["a", "list"]', "must be a JSON object"),
        ('{"type": 5}', "invalid JSON Schema at type"),
        ('{"$schema": "https://example.com/no-such-dialect"}', "unknown $schema"),
    ],
)
def test_bad_env_schema_fails_setup_naming_the_variable(
    env, pm, monkeypatch, tmp_path, text, expected
):
    path = tmp_path / "schema.json"
    path.write_text(text)
    monkeypatch.setenv(schemas.SCHEMA_ENV, str(path))
    predictor = CountingPredictor(env, plugin_manager=pm)
    with pytest.raises(PluginError) as info:
        lifecycle.setup(predictor)
    assert "ML2P_VALIDATE_SCHEMA" in str(info.value)
    assert expected in str(info.value)


def test_bad_schema_in_model_folder_fails_setup_naming_the_file(env, pm):
    path = env.model_folder() / schemas.SCHEMA_FILE
    path.write_text('{"properties": {"age": {"minimum": "zero"}}}')
    predictor = NoSchemaPredictor(env, plugin_manager=pm)
    with pytest.raises(PluginError) as info:
        lifecycle.setup(predictor)
    assert str(path) in str(info.value)
    assert "properties/age/minimum" in str(info.value)


def test_input_schema_attribute_must_be_an_object(env, pm):
    predictor = CountingPredictor(env, plugin_manager=pm)
    predictor.input_schema = ["type", "object"]
    with pytest.raises(PluginError) as info:
        predictor.invoke(good())
    assert "CountingPredictor.input_schema" in str(info.value)


# --- good input and schema lookup ------------------------------------------


def test_valid_input_reaches_the_model(env, pm):
    predictor = CountingPredictor(env, plugin_manager=pm)
    assert predictor.invoke({"name": "ann", "age": 3})["result"] == {"n": 3}
    assert predictor.result_calls == 1


def test_batch_keeps_the_model_batch_path_and_checks_once(env, pm, monkeypatch):
    calls = {"datum": 0, "batch": 0}
    check_datum, check_batch = report.check_datum, report.check_batch

    def counting_datum(*a):
        calls["datum"] += 1
        return check_datum(*a)

    def counting_batch(*a):
        calls["batch"] += 1
        return check_batch(*a)

    monkeypatch.setattr(report, "check_datum", counting_datum)
    monkeypatch.setattr(report, "check_batch", counting_batch)
    predictor = CountingPredictor(env, plugin_manager=pm)
    data = [good(i) for i in range(4)]
    out = predictor.batch_invoke(data)
    assert [o["result"]["n"] for o in out] == [len(d["name"]) for d in data]
    assert predictor.batch_calls == 1 and predictor.result_calls == 0
    assert calls == {"datum": 0, "batch": 1}


def test_batch_is_not_checked_twice_when_another_plugin_forces_per_datum_calls(
    env, pm, monkeypatch
):
    class PerDatum:
        seen = 0

        @staticmethod
        @hooks.hookimpl(wrapper=True)
        def ml2p_result(data):
            PerDatum.seen += 1
            return (yield)

    pm.register(PerDatum, name="per-datum")
    calls = {"datum": 0}
    check_datum = report.check_datum

    def counting_datum(*a):
        calls["datum"] += 1
        return check_datum(*a)

    monkeypatch.setattr(report, "check_datum", counting_datum)
    predictor = CountingPredictor(env, plugin_manager=pm)
    predictor.batch_invoke([good(i) for i in range(3)])
    assert PerDatum.seen == 3 and predictor.result_calls == 3
    assert calls["datum"] == 0
    with pytest.raises(ClientError) as info:
        predictor.batch_invoke([good(), {"name": "x"}])
    assert info.value.details["errors"][0]["path"] == "$.instances[1].age"


def test_lookup_order_attribute_class_file_env(env, pm, monkeypatch, tmp_path):
    file_schema = {"properties": {"src": {"const": "file"}}}
    (env.model_folder() / schemas.SCHEMA_FILE).write_text(json.dumps(file_schema))
    predictor = NoSchemaPredictor(env, plugin_manager=pm)
    assert schemas.schema_for(predictor).source.endswith(schemas.SCHEMA_FILE)
    with pytest.raises(ClientError):
        predictor.invoke({"name": "a", "src": "class"})

    class WithClass(NoSchemaPredictor):
        INPUT_SCHEMA = {"properties": {"src": {"const": "class"}}}

    predictor = WithClass(env, plugin_manager=pm)
    assert predictor.invoke({"name": "a", "src": "class"})["result"] == {"n": 1}
    predictor.input_schema = {"properties": {"src": {"const": "attr"}}}
    assert predictor.invoke({"name": "a", "src": "attr"})["result"] == {"n": 1}
    with pytest.raises(ClientError):
        predictor.invoke({"name": "a", "src": "class"})

    override = tmp_path / "override.json"
    override.write_text(json.dumps({"properties": {"src": {"const": "env"}}}))
    monkeypatch.setenv(schemas.SCHEMA_ENV, str(override))
    assert predictor.invoke({"name": "a", "src": "env"})["result"] == {"n": 1}
    with pytest.raises(ClientError) as info:
        predictor.invoke({"name": "a", "src": "attr"})
    assert info.value.details["schema"] == f"ML2P_VALIDATE_SCHEMA={str(override)!r}"


def test_schema_is_compiled_once_per_predictor(env, pm):
    predictor = CountingPredictor(env, plugin_manager=pm)
    first = schemas.schema_for(predictor)
    assert schemas.schema_for(predictor) is first
    predictor.invoke(good())
    assert schemas.schema_for(predictor) is first
    other = CountingPredictor(env, plugin_manager=pm)
    assert schemas.schema_for(other) is not first
    predictor.input_schema = dict(PERSON)
    assert schemas.schema_for(predictor) is not first


def test_schema_shipped_by_the_trainer(env, pm):
    class Trainer(ModelTrainer):
        def train(self):
            folder = self.env.model_folder()
            (folder / "model.json").write_text(json.dumps({"scale": 10}))
            (folder / schemas.SCHEMA_FILE).write_text(
                json.dumps({"required": ["x"], "properties": {"x": {"type": "number"}}})
            )

    class Predictor(ModelPredictor):
        def setup(self):
            self.scale = json.loads((self.env.model_folder() / "model.json").read_text())["scale"]

        def result(self, data):
            return {"y": self.scale * data["x"]}

    predictor = Predictor(env, plugin_manager=pm)
    # Set up before training: nothing to validate against yet.
    (env.model_folder() / "model.json").write_text(json.dumps({"scale": 1}))
    lifecycle.setup(predictor)
    assert schemas.schema_for(predictor) is None
    lifecycle.train(Trainer(env, plugin_manager=pm))
    lifecycle.setup(predictor)  # as a new server would after deploying the model
    assert predictor.invoke({"x": 2})["result"] == {"y": 20}
    with pytest.raises(ClientError) as info:
        predictor.invoke({"x": "2"})
    assert info.value.details["errors"][0]["path"] == "$.x"


def test_no_schema_passes_through_and_logs_once(env, pm, caplog):
    predictor = NoSchemaPredictor(env, plugin_manager=pm)
    with caplog.at_level(logging.INFO, logger="ml2p.validate"):
        for _ in range(3):
            assert predictor.invoke({"name": "abc", "age": "any"})["result"] == {"n": 3}
        predictor.batch_invoke([{"name": "a"}, {"name": "bc"}])
    notes = [r for r in caplog.records if r.name == "ml2p.validate"]
    assert len(notes) == 1
    assert "NoSchemaPredictor has no input schema" in notes[0].getMessage()


def test_json_path_formatting():
    assert report.json_path([]) == "$"
    assert report.json_path(["a", 0, "b_c"]) == "$.a[0].b_c"
    assert report.json_path(["it's", "x.y"], "$.instances[2]") == "$.instances[2]['it\\'s']['x.y']"
