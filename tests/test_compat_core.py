"""ML2P 0.6 compatibility of ml2p.core, in process (S3 through moto over HTTP)."""

from __future__ import annotations

import io
import json
import logging
import sys
import tarfile
import warnings

import boto3
import pytest

import ml2p
import ml2p.cli
import ml2p.errors
import ml2p.plugins
from ml2p import runtime
from ml2p.core import (
    S3URL,
    LocalEnv,
    LocalEnvError,
    Model,
    ModelDatasetGenerator,
    ModelPredictor,
    ModelTrainer,
    SageMakerEnv,
    SageMakerEnvType,
    import_string,
    ml2p_version,
    setup_logging,
)
from ml2p.errors import ModelNotFoundError
from tests import v060
from tests.cli_support import cli_runner
from tests.compat_models import FactoryGenerator, FactoryModel, FactoryPredictor, FactoryTrainer
from tests.conftest import read_json_object
from tests.models import MinimalModel

# -- names ----------------------------------------------------------------------------


def test_the_other_names_ml2p_0_6_core_offered():
    assert ml2p_version == ml2p.__version__
    assert import_string("tests.models.MinimalModel") is MinimalModel
    assert import_string("ml2p.core.SageMakerEnv") is SageMakerEnv
    assert issubclass(LocalEnvError, Exception)
    assert {"import_string", "setup_logging", "LocalEnvError", "ml2p_version"} <= set(
        ml2p.core.__all__
    )


#: import_string(name) -> the exception ML2P 0.6.0 raised (importlib's and getattr's), and
#: text the message must hold. Modules written to the test's folder: ``raises_import``
#: fails with an ImportError of its own, ``raises_runtime`` with a RuntimeError.
IMPORT_STRING_ERRORS = [
    ("no_such_module_x.Thing", ModuleNotFoundError, "no_such_module_x"),
    ("json.no_such_attr", AttributeError, "no_such_attr"),
    ("json.dumps.x", ModuleNotFoundError, "json.dumps"),
    ("json..dumps", ModuleNotFoundError, "json."),
    ("json.", AttributeError, "json"),
    ("MinimalModel", ValueError, "MinimalModel"),
    ("", ValueError, "''"),
    (".x", ValueError, ".x"),
    ("json:dumps", ValueError, "json:dumps"),
    ("..x", TypeError, "relative import"),
    ("raises_import.Model", ImportError, "no_such_name"),
    ("raises_runtime.Model", RuntimeError, "broken on purpose"),
]


@pytest.fixture
def broken_modules(tmp_path, monkeypatch):
    (tmp_path / "raises_import.py").write_text("from json import no_such_name\n")
    (tmp_path / "raises_runtime.py").write_text("raise RuntimeError('broken on purpose')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("raises_import", "raises_runtime"):
        sys.modules.pop(name, None)


@pytest.mark.parametrize("name, error, named", IMPORT_STRING_ERRORS)
def test_import_string_raises_what_ml2p_0_6_raised(broken_modules, name, error, named):
    # A 0.6 caller's ``except ImportError`` / ``except AttributeError`` must still catch it.
    with pytest.raises(Exception) as info:
        import_string(name)
    assert type(info.value) is error, repr(info.value)
    assert not isinstance(info.value, ModelNotFoundError)
    assert named in str(info.value)


@v060.needed
def test_import_string_errors_are_ml2p_0_6_0s(broken_modules):
    names = [name for name, _, _ in IMPORT_STRING_ERRORS]
    code = (
        "import json\n"
        "from ml2p.core import import_string\n"
        "types = {}\n"
        f"for name in {names!r}:\n"
        "    try:\n"
        "        import_string(name)\n"
        "    except Exception as exc:\n"
        "        types[name] = type(exc).__name__\n"
        "print(json.dumps(types))\n"
    )
    found = v060.run_json(code, env={"PYTHONPATH": str(broken_modules)})
    assert found == {name: error.__name__ for name, error, _ in IMPORT_STRING_ERRORS}


def test_ml2p_docker_is_the_click_group():
    from ml2p.docker import cli, ml2p_docker

    assert ml2p_docker is cli
    result = cli_runner().invoke(ml2p_docker, ["--version"])
    assert result.exit_code == 0 and result.output.strip().endswith(ml2p.__version__)
    serve = ml2p_docker.commands["serve"]
    assert ["--debug"] in [param.opts for param in serve.params]
    assert ["--no-debug"] in [param.secondary_opts for param in serve.params]


# -- Model.trainer, .predictor, .dataset_generator -------------------------------------


@pytest.fixture
def env(tmp_path):
    return SageMakerEnv(tmp_path, environ={"ML2P_MODEL_VERSION": "m-1-2-3"})


@pytest.mark.parametrize(
    "method, attribute, base",
    [
        ("trainer", "TRAINER", "ModelTrainer"),
        ("predictor", "PREDICTOR", "ModelPredictor"),
        ("dataset_generator", "DATASET_GENERATOR", "ModelDatasetGenerator"),
    ],
)
def test_unset_attribute_is_a_value_error_naming_it(env, method, attribute, base):
    class Empty(Model):
        pass

    with pytest.raises(ValueError) as info:
        getattr(Empty(), method)(env)
    assert str(info.value) == f"Empty.{attribute} is not set: set it to a {base} sub-class"


def test_the_factories_make_the_class_attributes(env):
    model = MinimalModel()
    assert type(model.trainer(env)) is MinimalModel.TRAINER
    assert type(model.predictor(env)) is MinimalModel.PREDICTOR
    assert type(model.dataset_generator(env)) is MinimalModel.DATASET_GENERATOR
    assert model.predictor(env).env is env


def test_the_runtime_uses_overridden_factories(tmp_path):
    environ = {"ML2P_TRAINING_JOB": "factory-0-1"}
    assert runtime.train(tmp_path, "tests.compat_models.FactoryModel", environ=environ) == 0
    assert json.loads((tmp_path / "model" / "model.json").read_text()) == {"slope": 7}
    environ = {"ML2P_DATASET": "factory-20240101"}
    assert (
        runtime.generate_dataset(tmp_path, FactoryModel.__module__ + ".FactoryModel", environ) == 0
    )
    assert json.loads((tmp_path / "output" / "data" / "rows.json").read_text()) == {"rows": 3}


def test_ml2p_local_uses_overridden_factories(tmp_path):
    cfg = tmp_path / "ml2p.yml"
    cfg.write_text(
        "project: test-proj\n"
        's3folder: "s3://ml2p-test/proj/"\n'
        "models:\n"
        "  factory: tests.compat_models.FactoryModel\n"
    )
    folder = tmp_path / "local"
    runner = cli_runner()
    base = ["--cfg", str(cfg), "local"]
    result = runner.invoke(ml2p.cli.cli, [*base, "train", "factory", "--local-folder", str(folder)])
    assert result.exit_code == 0, result.output
    assert json.loads((folder / "model" / "model.json").read_text()) == {"slope": 7}
    args = [*base, "generate", "factory", "factory-20240101", "--local-folder", str(folder)]
    result = runner.invoke(ml2p.cli.cli, args)
    assert result.exit_code == 0, result.output
    assert json.loads((folder / "output" / "data" / "rows.json").read_text()) == {"rows": 3}


# -- environment types and 0.6's settings dictionary ------------------------------------


@pytest.mark.parametrize(
    "variables, env_type",
    [
        ({}, SageMakerEnvType.UNKNOWN),
        ({"ML2P_PROJECT": "p", "ML2P_S3_URL": "s3://b/p/"}, SageMakerEnvType.UNKNOWN),
        ({"ML2P_DATASET": "d-20240101", "ML2P_TRAINING_JOB": "t-0-1"}, SageMakerEnvType.DATASET),
        ({"ML2P_TRAINING_JOB": "t-0-1", "ML2P_MODEL_VERSION": "t-0-1-0"}, SageMakerEnvType.TRAIN),
        ({"ML2P_MODEL_VERSION": "t-0-1-0"}, SageMakerEnvType.SERVE),
    ],
)
def test_env_type_rules_of_ml2p_0_6(tmp_path, variables, env_type):
    assert SageMakerEnv(tmp_path, environ=variables).env_type is env_type


SETTINGS = {
    "env_type": SageMakerEnvType.SERVE,
    "dataset_name": None,
    "training_job_name": None,
    "model_version": "m-1-2-3",
    "record_invokes": True,
    "project": "proj",
    "model_cls": "pkg.Model",
    "s3_url": "s3://bucket/base/",
}


def test_a_0_6_settings_dictionary(tmp_path, monkeypatch):
    monkeypatch.setenv("ML2P_TRAINING_JOB", "ignored-0-1")  # the dictionary says it all
    env = SageMakerEnv(tmp_path, environ=SETTINGS)
    assert env.env_type is SageMakerEnvType.SERVE
    assert (env.model_version, env.project, env.model_cls) == ("m-1-2-3", "proj", "pkg.Model")
    assert env.training_job_name is None and env.dataset_name is None
    assert env.record_invokes is True
    assert env.s3 == S3URL("s3://bucket/base/")
    assert env.environ["ML2P_TRAINING_JOB"] == "ignored-0-1"  # other settings: os.environ


@pytest.mark.parametrize(
    "settings, env_type",
    [
        ({"env_type": "train", "training_job_name": "t-0-1"}, SageMakerEnvType.TRAIN),
        ({"env_type": None}, SageMakerEnvType.UNKNOWN),
        ({"env_type": SageMakerEnvType.LOCAL, "extra": 1}, SageMakerEnvType.LOCAL),
    ],
)
def test_partial_settings_dictionaries(tmp_path, settings, env_type):
    env = SageMakerEnv(tmp_path, environ=settings)
    assert env.env_type is env_type
    assert env.s3 is None and env.record_invokes is False and env.model_version is None


def test_variables_named_env_type_are_still_variables(tmp_path):
    env = SageMakerEnv(tmp_path, environ={"env_type": "prod", "ML2P_MODEL_VERSION": "m-0-1-0"})
    assert env.env_type is SageMakerEnvType.SERVE
    env = SageMakerEnv(tmp_path, environ={"env_type": "prod"})
    assert env.env_type is SageMakerEnvType.UNKNOWN


def test_dataset_folder_with_a_name_is_deprecated(tmp_path):
    env = SageMakerEnv(tmp_path, environ={})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert env.dataset_folder() == tmp_path / "input" / "data" / "training"
    with pytest.warns(DeprecationWarning, match="data_channel_folder"):
        assert env.dataset_folder("validation") == tmp_path / "input" / "data" / "validation"


# -- LocalEnv ------------------------------------------------------------------------


def test_local_env_makes_the_model_folder(tmp_path, ml2p_yml):
    env = LocalEnv(tmp_path, ml2p_yml)
    assert (tmp_path / "model").is_dir() and env.model_folder() == tmp_path / "model"
    assert env.env_type is SageMakerEnvType.LOCAL and env.model_version == "local"


def test_local_env_without_its_folder(tmp_path, ml2p_yml):
    with pytest.raises(LocalEnvError, match="does not exist"):
        LocalEnv(tmp_path / "missing", ml2p_yml)


@pytest.mark.parametrize("download", ["download_dataset", "download_model"])
def test_local_downloads_need_a_session(tmp_path, ml2p_yml, download):
    env = LocalEnv(tmp_path, ml2p_yml)
    with pytest.raises(LocalEnvError, match="needs a boto3 session"):
        getattr(env, download)("m-20240101" if download == "download_dataset" else "m-0-1")


def test_empty_dataset_names_its_s3_url(tmp_path, ml2p_yml, s3):
    env = LocalEnv(tmp_path, ml2p_yml, session=boto3.session.Session())
    with pytest.raises(ml2p.errors.ML2PError) as info:
        env.download_dataset("empty-20240101")
    assert str(info.value).endswith("has no files at s3://ml2p-test/proj/datasets/empty-20240101/")


def _archive(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


MODEL_KEY = "proj/models/test-proj-m-0-1/output/model.tar.gz"


def test_download_model_keeps_the_archive_beside_the_files(tmp_path, ml2p_yml, s3):
    archive = _archive({"model.json": b'{"slope": 2}', "sub/extra.txt": b"e"})
    s3.put_object(Bucket="ml2p-test", Key=MODEL_KEY, Body=archive)
    env = LocalEnv(tmp_path, ml2p_yml, session=boto3.session.Session())
    files = env.download_model("m-0-1")
    folder = env.model_folder()
    assert sorted(p.name for p in files) == ["extra.txt", "model.json"]
    assert (folder / "model.tar.gz").read_bytes() == archive
    assert json.loads((folder / "model.json").read_text()) == {"slope": 2}


def test_download_model_keeps_a_member_named_like_the_archive(tmp_path, ml2p_yml, s3):
    archive = _archive({"model.tar.gz": b"inner", "model.json": b"{}"})
    s3.put_object(Bucket="ml2p-test", Key=MODEL_KEY, Body=archive)
    env = LocalEnv(tmp_path, ml2p_yml, session=boto3.session.Session())
    env.download_model("m-0-1")
    assert (env.model_folder() / "model.tar.gz").read_bytes() == b"inner"
    assert not list(tmp_path.glob("model-*.tar.gz"))


# -- records -------------------------------------------------------------------------


def test_ids_and_records_see_the_whole_prediction(tmp_path, s3):
    seen = []

    class IdsFromPrediction(FactoryPredictor):
        def record_invoke_id(self, datum, prediction):
            seen.append(("model", prediction))
            return {**super().record_invoke_id(datum, prediction), "y": prediction["result"]["y"]}

    class Plugin:
        @ml2p.hookimpl
        def ml2p_record_invoke_id(self, predictor, datum, prediction):
            seen.append(("plugin", prediction))
            return {"v": prediction["metadata"]["model_version"]}

    pm = ml2p.plugins.make_plugin_manager(load_entry_points=False)
    pm.register(Plugin(), name="ids")
    predictor = IdsFromPrediction(serving_env(tmp_path), plugin_manager=pm)
    predictor.slope = 3
    single = predictor.invoke({"x": 1})
    batch = predictor.batch_invoke([{"x": 2}, {"x": 5}])["predictions"]  # 0.6's shape
    predictions = [single, *batch]
    # The plugin is called before the model's built-in part, for each datum.
    assert seen == [(who, p) for p in predictions for who in ("plugin", "model")]
    listed = s3.list_objects_v2(Bucket="ml2p-test", Prefix="proj/predictions/m-0-1-0/")
    records = {}
    for obj in listed["Contents"]:
        assert obj["Key"].endswith("--v-m-0-1-0.json")
        record = read_json_object(s3, obj["Key"])
        assert f"--y-{record['result']['result']['y']}--" in obj["Key"]
        records[record["input"]["x"]] = record["result"]
    assert records == {1: single, 2: batch[0], 5: batch[1]}


# -- s3_client -----------------------------------------------------------------------


def serving_env(tmp_path):
    return SageMakerEnv(
        tmp_path,
        environ={
            "ML2P_MODEL_VERSION": "m-0-1-0",
            "ML2P_S3_URL": "s3://ml2p-test/proj/",
            "ML2P_RECORD_INVOKES": "true",
        },
    )


@pytest.fixture
def own_client(s3, aws, monkeypatch):
    """A client on the moto server, while the default endpoint is a closed port."""
    client = boto3.client("s3", region_name="us-east-1", endpoint_url=aws)
    calls = []
    client.meta.events.register("before-call.s3.*", lambda **kw: calls.append(kw["model"].name))
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    client.calls = calls
    return client


def test_records_go_through_the_client_the_user_set(tmp_path, own_client):
    predictor = FactoryPredictor(serving_env(tmp_path))
    predictor.slope = 2
    predictor.s3_client = own_client
    assert predictor.s3_client is own_client
    out = predictor.invoke({"x": 4})
    [obj] = own_client.list_objects_v2(Bucket="ml2p-test", Prefix="proj/predictions/")["Contents"]
    assert read_json_object(own_client, obj["Key"]) == {"input": {"x": 4}, "result": out}
    assert own_client.calls.count("PutObject") == 1


def test_uploads_go_through_the_client_the_user_set(tmp_path, own_client):
    env = SageMakerEnv(
        tmp_path, environ={"ML2P_DATASET": "up-20240101", "ML2P_S3_URL": "s3://ml2p-test/proj/"}
    )
    generator = FactoryGenerator(env)
    generator.s3_client = own_client
    path = tmp_path / "rows.csv"
    path.write_text("a,b\n1,2\n")
    assert generator.upload_to_s3(path) == "s3://ml2p-test/proj/datasets/up-20240101/rows.csv"
    body = own_client.get_object(Bucket="ml2p-test", Key="proj/datasets/up-20240101/rows.csv")
    assert body["Body"].read() == b"a,b\n1,2\n"


def test_the_default_client_is_made_once_on_first_use(tmp_path, s3):
    predictor = ModelPredictor(serving_env(tmp_path))
    assert predictor.__dict__.get("_s3_client") is None
    client = predictor.s3_client
    assert client is predictor.s3_client
    assert client.list_objects_v2(Bucket="ml2p-test")["KeyCount"] == 0
    assert ModelDatasetGenerator(serving_env(tmp_path)).s3_client is not client


# -- setup_logging -----------------------------------------------------------------------


def bare_root():
    """The root logger with no handler and at WARNING, as in a fresh process.

    Called in the test itself: pytest adds its capturing handlers just before.
    """
    root = logging.getLogger()
    root.handlers[:] = []
    root.setLevel(logging.WARNING)
    return root


@pytest.mark.usefixtures("restore_ml2p_logger")
def test_setup_logging_is_idempotent(capsys, tmp_path):
    root = bare_root()
    setup_logging()
    setup_logging()
    env = SageMakerEnv(tmp_path, environ={})
    objects = [FactoryTrainer(env), FactoryPredictor(env), FactoryGenerator(env)] * 2
    assert len(objects) == 6 and len(root.handlers) == 1
    assert root.level == logging.INFO
    logging.getLogger("my_model.train").info("epoch 1 done")
    assert capsys.readouterr().out.count("epoch 1 done") == 1


@pytest.mark.usefixtures("restore_ml2p_logger")
def test_setup_logging_keeps_an_applications_own_handler():
    root = bare_root()
    stream = io.StringIO()
    own = logging.StreamHandler(stream)
    root.addHandler(own)
    ModelPredictor(SageMakerEnv("/nonexistent", environ={}))
    assert root.handlers == [own] and root.level == logging.INFO
    logging.getLogger("my_model").info("to the application's handler")
    assert stream.getvalue() == "to the application's handler\n"


@pytest.mark.usefixtures("restore_ml2p_logger")
def test_an_overridden_setup_logging_method_is_honoured():
    root = bare_root()

    class Quiet(ModelTrainer):
        def setup_logging(self):
            self.configured = "my way"

    assert Quiet(SageMakerEnv("/nonexistent", environ={})).configured == "my way"
    assert root.handlers == [] and root.level == logging.WARNING
