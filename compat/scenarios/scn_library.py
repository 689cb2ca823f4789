"""Library calls an ML2P 0.6 project makes, with their results, errors and effects.

Covers the public names and signatures, ``S3URL``, hyperparameters, names,
``ModellingProject``/``ModellingSubCfg``, the ``mk_*`` request builders,
``SageMakerEnv``/``LocalEnv``, ``Model``, errors, ``import_string`` and
``setup_logging``. Predictions and their S3 records are in ``scn_records``.
"""

from __future__ import annotations

import datetime
import importlib.util
import inspect
import io
import json
import os
import pathlib
import subprocess
import sys
import tarfile
import warnings

from observe import (
    BUCKET,
    PROJECT,
    S3FOLDER,
    captured_output,
    class_value,
    copy_configs,
    environ,
    import_path,
    make_bucket,
    run,
    s3_client,
    signature_value,
    tree,
)

HERE = pathlib.Path(__file__).resolve().parent

CORE_NAMES = [
    "Model",
    "ModelTrainer",
    "ModelPredictor",
    "ModelDatasetGenerator",
    "SageMakerEnv",
    "SageMakerEnvType",
    "LocalEnv",
    "S3URL",
    "ModellingProject",
    "ModellingSubCfg",
    "import_string",
    "setup_logging",
    "LocalEnvError",
    "ml2p_version",
]
ERROR_NAMES = [
    "NamingError",
    "ConfigError",
    "LocalEnvError",
    "APIError",
    "ServerError",
    "ClientError",
]


def _v06_cli_names():
    """``tests/v060_names.py``'s ``V06_CLI_NAMES``: the one list of 0.6's CLI module names."""
    path = HERE.parent.parent / "tests" / "v060_names.py"
    spec = importlib.util.spec_from_file_location("v060_names", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.V06_CLI_NAMES


V06_CLI_NAMES = _v06_cli_names()
UTILS_NAMES = V06_CLI_NAMES["ml2p.cli_commands.utils"]
#: What 0.6's ``ml2p.cli`` module exposed.
CLI_NAMES = V06_CLI_NAMES["ml2p.cli"]
#: The :data:`UTILS_NAMES` each 0.6 ``ml2p.cli_commands`` module imported (its attributes too).
CLI_COMMANDS_HELPERS = {
    group: [n for n in V06_CLI_NAMES[f"ml2p.cli_commands.{group}"] if n in UTILS_NAMES]
    for group in V06_CLI_NAMES["ml2p.cli_commands"]
}
#: The click group and commands each 0.6 ``ml2p.cli_commands`` module defined.
CLI_COMMANDS = {
    group: [n for n in V06_CLI_NAMES[f"ml2p.cli_commands.{group}"] if n not in UTILS_NAMES]
    for group in V06_CLI_NAMES["ml2p.cli_commands"]
}
#: Methods whose signatures a 0.6 project calls or overrides.
METHODS = {
    "ml2p.core.S3URL": ["__init__", "bucket", "path", "url"],
    "ml2p.core.SageMakerEnv": [
        "__init__",
        "resourceconfig",
        "dataset_folder",
        "data_channel_folder",
        "model_folder",
        "write_failure",
    ],
    "ml2p.core.LocalEnv": ["__init__", "clean_model_folder", "download_dataset", "download_model"],
    "ml2p.core.ModelPredictor": [
        "__init__",
        "setup_logging",
        "setup",
        "teardown",
        "invoke",
        "metadata",
        "result",
        "batch_invoke",
        "batch_result",
        "record_invoke_id",
        "record_invoke",
    ],
    "ml2p.core.ModelTrainer": ["__init__", "train", "setup_logging"],
    "ml2p.core.ModelDatasetGenerator": ["__init__", "generate", "setup_logging", "upload_to_s3"],
    "ml2p.core.Model": ["dataset_generator", "trainer", "predictor"],
    "ml2p.core.ModellingProject": ["__init__", "full_job_name", "tags"],
    "ml2p.core.ModellingSubCfg": [
        "__init__",
        "__getattr__",
        "__getitem__",
        "__setitem__",
        "keys",
        "get",
    ],
    "ml2p.errors.APIError": ["__init__"],
}


def kind(obj):
    try:
        import click

        if isinstance(obj, click.Group):
            return "click group"
        if isinstance(obj, click.Command):
            return "click command"
    except ImportError:
        pass
    if isinstance(obj, type):
        return "class"
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return "function"
    return type(obj).__name__


def names(obs):
    dotted = [
        "ml2p.__version__",
        "ml2p.docker.ml2p_docker",
        "ml2p.docker.app",
        "ml2p.hyperparameters.encode",
        "ml2p.hyperparameters.decode",
        "ml2p.hyperparameters.HyperParameterEncodingError",
    ]
    dotted += [f"ml2p.core.{n}" for n in CORE_NAMES]
    dotted += [f"ml2p.errors.{n}" for n in ERROR_NAMES]
    dotted += [f"ml2p.cli_commands.utils.{n}" for n in UTILS_NAMES]
    dotted += [f"ml2p.cli.{n}" for n in CLI_NAMES]
    for module, commands in CLI_COMMANDS.items():
        dotted.append(f"ml2p.cli_commands.{module}")
        dotted += [f"ml2p.cli_commands.{module}.{c}" for c in commands]
        dotted += [f"ml2p.cli_commands.{module}.{h}" for h in CLI_COMMANDS_HELPERS.get(module, [])]
    for name in dotted:
        obs.call(f"names/{name}", lambda n: kind(import_path(n)), name)
    obs.check(
        "names/cli_commands-helpers-are-utils",
        lambda: {
            f"{module}.{h}": import_path(f"ml2p.cli_commands.{module}.{h}")
            is import_path(f"ml2p.cli_commands.utils.{h}")
            for module, helpers in CLI_COMMANDS_HELPERS.items()
            for h in helpers
        },
    )
    obs.check(
        "names/cli-groups-are-cli_commands",
        lambda: {
            n: import_path(f"ml2p.cli.{n}") is import_path(f"ml2p.cli_commands.{n}.{n}")
            for n in CLI_COMMANDS
        },
    )
    obs.check(
        "names/cli.ModellingProject-is-core.ModellingProject",
        lambda: (
            import_path("ml2p.cli.ModellingProject") is import_path("ml2p.core.ModellingProject")
        ),
    )
    obs.check("names/cli.ml2p_version", lambda: import_path("ml2p.cli.ml2p_version"))
    functions = [
        "ml2p.core.import_string",
        "ml2p.core.setup_logging",
        "ml2p.hyperparameters.encode",
        "ml2p.hyperparameters.decode",
    ]
    functions += [f"ml2p.cli_commands.utils.{n}" for n in UTILS_NAMES if n.islower()]
    for name in functions:
        obs.call(f"signatures/{name}", lambda n: signature_value(import_path(n)), name)
    for cls_name, methods in METHODS.items():
        for method in methods:
            obs.call(
                f"signatures/{cls_name}.{method}",
                lambda c, m: signature_value(getattr(import_path(c), m)),
                cls_name,
                method,
            )
    obs.check(
        "names/SageMakerEnvType.members",
        lambda: [[m.name, m.value] for m in import_path("ml2p.core.SageMakerEnvType")],
    )
    obs.check(
        "names/SageMakerEnv.constants",
        lambda: {
            n: getattr(import_path("ml2p.core.SageMakerEnv"), n).value
            for n in ["TRAIN", "SERVE", "DATASET", "LOCAL", "UNKNOWN"]
        },
    )
    obs.check(
        "names/Model.attributes",
        lambda: {
            n: getattr(import_path("ml2p.core.Model"), n)
            for n in ["DATASET_GENERATOR", "TRAINER", "PREDICTOR"]
        },
    )
    obs.check(
        "names/LocalEnv-is-a-SageMakerEnv",
        lambda: issubclass(
            import_path("ml2p.core.LocalEnv"), import_path("ml2p.core.SageMakerEnv")
        ),
    )
    obs.check(
        "names/core.LocalEnvError-is-errors.LocalEnvError",
        lambda: import_path("ml2p.core.LocalEnvError") is import_path("ml2p.errors.LocalEnvError"),
    )


def env_type_behaviour(obs):
    from ml2p.core import SageMakerEnvType

    train = SageMakerEnvType.TRAIN
    obs.check("env-type/value", lambda: train.value)
    obs.check("env-type/name", lambda: train.name)
    obs.check("env-type/by-value", lambda: SageMakerEnvType("serve") is SageMakerEnvType.SERVE)
    obs.check("env-type/str", lambda: str(train))
    obs.check("env-type/equals-its-value", lambda: train == "train")


def errors(obs):
    def error(name):
        return import_path(f"ml2p.errors.{name}")

    for name in ERROR_NAMES:
        obs.call(f"errors/{name}/class", lambda n: class_value(error(n)), name)
    for name in ["NamingError", "ConfigError", "LocalEnvError"]:
        obs.call(f"errors/{name}('m')", lambda n: _plain_error(error(n)), name)
    calls = {
        "(m)": (("m",), {}),
        "(m, 'd')": (("m", "d"), {}),
        "(m, ['a', 'b'], 418)": (("m", ["a", "b"], 418), {}),
        "(m, details=None, status_code=404)": (("m",), {"details": None, "status_code": 404}),
        "(m, details='d', status_code=422)": (("m",), {"details": "d", "status_code": 422}),
    }
    for name in ["APIError", "ClientError", "ServerError"]:
        for label, (args, kwargs) in calls.items():
            obs.call(
                f"errors/{name}{label}",
                lambda n, a, k: _api_error(error(n), a, k),
                name,
                args,
                kwargs,
            )


def _plain_error(cls):
    exc = cls("m")
    return {"str": str(exc), "args": list(exc.args)}


def _api_error(cls, args, kwargs):
    exc = cls(*args, **kwargs)
    return {
        "message": exc.message,
        "details": exc.details,
        "status_code": exc.status_code,
        "code": exc.code,
        "is-Exception": isinstance(exc, Exception),
    }


def hyperparameters(obs):
    from ml2p import hyperparameters as hp

    encode_cases = {
        "empty": {},
        "scalars": {"a": 1, "b": "x", "c": [1, 2], "d": None, "e": True, "f": 1.5},
        "nested": {"n": {"m": {"k": 1}, "j": "v"}, "top": 0},
        "unicode": {"name": "café ☕", "list": ["ü", 2]},
        "key-with-dot": {"a.b": 1},
        "non-string-key": {1: 2},
        "long-key": {"k" * 257: 1},
        "key-256": {"k" * 256: 1},
        "long-value": {"k": "v" * 300},
        "value-256-encoded": {"k": "v" * 254},
        "long-nested-key": {"n": {"k" * 255: 1}},
        "too-many": {f"k{i}": i for i in range(101)},
        "exactly-100": {f"k{i}": i for i in range(100)},
        "nested-too-many": {"n": {f"k{i}": i for i in range(101)}},
        "nan-and-infinity": {"a": float("nan"), "b": float("inf"), "c": float("-inf")},
        "empty-key": {"": 1},
    }
    for label, params in encode_cases.items():
        obs.call(f"hyperparameters/encode/{label}", hp.encode, params)
    decode_cases = {
        "empty": {},
        "flat": {"a": "1", "b": '"x"', "c": "[1, 2]", "d": "null"},
        "dotted": {"n.m.k": "1", "n.j": '"v"', "top": "0"},
        "not-json": {"a": "not json"},
        "conflict": {"a": "1", "a.b": "2"},
    }
    for label, params in decode_cases.items():
        obs.call(f"hyperparameters/decode/{label}", hp.decode, params)
    nested = encode_cases["nested"]
    obs.check("hyperparameters/round-trip", lambda: hp.decode(hp.encode(nested)) == nested)
    obs.check("hyperparameters/error-class", lambda: class_value(hp.HyperParameterEncodingError))


def s3urls(obs):
    from ml2p.core import S3URL

    for url in [
        "s3://bucket/prefix/",
        "s3://bucket",
        "s3://bucket/",
        "s3://bucket/a/b",
        "s3://bucket//a//",
        "http://not-s3/x",
        "bucket/path",
    ]:

        def use(url=url):
            u = S3URL(url)
            return {
                "bucket": u.bucket(),
                "path(x)": u.path("x"),
                "path(/x)": u.path("/x"),
                "path('')": u.path(""),
                "url()": u.url(),
                "url(y/)": u.url("y/"),
                "url(/models/)": u.url("/models/"),
            }

        obs.check(f"s3url/{url}", use)


NAMES = [
    "m-20260101",
    "m-2026010",
    "my-model-1-0",
    "m-1-0-dev",
    "m-1-0-1",
    "m-1-0-1-dev",
    "m-1-0-1-live",
    "m-1-0-1-dev-test",
    "m-1-0-1-analysis",
    "m_1-1-0",
    "M-1-0-1",
    "m-1-0-1-prod",
    "",
    "a-b-c-1-2-3",
    "m-01-02-03",
    "m.x-1-0",
    "m-1-0-1-dev-dev",
    "1-2-3-4",
    "-1-0",
]


def naming(obs):
    def utils(function, *args):
        return import_path(f"ml2p.cli_commands.utils.{function}")(*args)

    obs.call("naming/validate_name/bogus-resource", utils, "validate_name", "m-1-0", "bogus")
    for resource in ["dataset", "training-job", "model", "endpoint"]:
        for name in NAMES:
            label = f"naming/validate_name/{resource}/{name!r}"
            obs.call(label, utils, "validate_name", name, resource)
    for name in NAMES:
        for function in ["training_job_name_for_model", "model_name_for_endpoint"]:
            obs.call(f"naming/{function}/{name!r}", utils, function, name)


def project_with_client(obs):
    """``ml2p.cli.ModellingProjectWithSagemakerClient``: the calls 0.6's ``(*args, **kw)`` took."""
    from ml2p.cli import ModellingProjectWithSagemakerClient

    class Forwarding(ModellingProjectWithSagemakerClient):
        def __init__(self, *args, **kw):  # as a 0.6 deploy script subclassed it
            super().__init__(*args, **kw)

    def made(cls, *args, **kwargs):
        prj = cls(*args, **kwargs)
        return [prj.project, prj.cfg["project"], prj.client.meta.service_model.service_name]

    for cls in (ModellingProjectWithSagemakerClient, Forwarding):
        label = f"project-with-client/{cls.__name__.replace('ModellingProjectWith', '')}"
        obs.call(f"{label}(path)", made, cls, "full.yml")
        obs.call(f"{label}(cfg=path)", made, cls, cfg="full.yml")
        obs.call(f"{label}(missing)", made, cls, "missing.yml")
        obs.call(f"{label}(path, extra)", made, cls, "full.yml", "extra")


def project(obs):
    from ml2p.core import ModellingProject, ModellingSubCfg

    prj = ModellingProject("full.yml")
    obs.check("project/cfg", lambda: prj.cfg)
    obs.check("project/project", lambda: prj.project)
    obs.check("project/s3", lambda: [prj.s3.bucket(), prj.s3.url(), prj.s3.path("x")])
    obs.check("project/full_job_name", lambda: prj.full_job_name("x-1-0"))
    obs.check("project/tags", lambda: prj.tags())
    obs.check("project/train.image", lambda: prj.train.image)
    obs.check("project/train[instance_type]", lambda: prj.train["instance_type"])
    obs.check("project/deploy.get(record_invokes)", lambda: prj.deploy.get("record_invokes"))
    obs.check("project/models.keys()", lambda: prj.models.keys())
    obs.check("project/train.keys()", lambda: prj.train.keys())
    obs.check("project/models[single]", lambda: prj.models["single"])
    obs.check("project/notebook.get(missing, d)", lambda: prj.notebook.get("nope", "d"))
    obs.check("project/dataset.missing", lambda: prj.dataset.nope)
    obs.check("project/dataset[missing]", lambda: prj.dataset["nope"])
    obs.check("project/missing-file", lambda: ModellingProject("missing.yml").project)

    project_with_client(obs)

    cfg = {"defaults": {"role": "r", "image": "i"}, "train": {"image": "t"}}
    sub = ModellingSubCfg(cfg, "train")
    obs.check("subcfg/getattr", lambda: [sub.image, sub.role])
    obs.check("subcfg/getitem", lambda: [sub["image"], sub["role"]])
    obs.check("subcfg/keys", lambda: sub.keys())
    obs.check("subcfg/get", lambda: [sub.get("image"), sub.get("role"), sub.get("x", 5)])

    def set_item():
        sub["extra"] = 1
        return [sub.get("extra"), cfg]

    obs.check("subcfg/setitem", set_item)
    obs.check("subcfg/missing-section", lambda: ModellingSubCfg(cfg, "deploy").keys())
    obs.check(
        "subcfg/models-defaults",
        lambda: ModellingSubCfg({"models": {"a": "x.Y"}}, "models", defaults="models").keys(),
    )


def requests(obs):
    """The SageMaker requests the ``mk_*`` helpers build for the same ``ml2p.yml``."""
    from ml2p.core import ModellingProject

    def utils(name):
        return import_path(f"ml2p.cli_commands.utils.{name}")

    def fresh(cfg="full.yml"):
        return ModellingProject(cfg)

    cases = {
        "mk_training_job/single": lambda: utils("mk_training_job")(
            fresh(), "single-1-0", "single-20260101", "single"
        ),
        "mk_training_job/multi": lambda: utils("mk_training_job")(
            fresh(), "multi-1-0", "single-20260101", "multi"
        ),
        "mk_training_job/no-model-type": lambda: utils("mk_training_job")(
            fresh(), "x-1-0", "x-20260101"
        ),
        "mk_training_job/plain": lambda: utils("mk_training_job")(
            fresh("plain.yml"), "single-1-0", "single-20260101", "single"
        ),
        "mk_processing_job/single": lambda: utils("mk_processing_job")(
            fresh(), "single-20260101", "single"
        ),
        "mk_processing_job/multi": lambda: utils("mk_processing_job")(
            fresh(), "single-20260101", "multi"
        ),
        "mk_processing_job/plain": lambda: utils("mk_processing_job")(
            fresh("plain.yml"), "single-20260101"
        ),
        "mk_model/single": lambda: utils("mk_model")(
            fresh(), "single-1-0-0", "single-1-0", "single"
        ),
        "mk_model/no-model-type": lambda: utils("mk_model")(fresh(), "single-1-0-0", "single-1-0"),
        "mk_model/plain": lambda: utils("mk_model")(
            fresh("plain.yml"), "single-1-0-0", "single-1-0", "single"
        ),
        "mk_multimodel/multi": lambda: utils("mk_multimodel")(fresh(), "multi-1-0-0", "multi"),
        "mk_endpoint_config": lambda: utils("mk_endpoint_config")(
            fresh(), "single-1-0-0-live", "single-1-0-0"
        ),
        "mk_notebook/full": lambda: utils("mk_notebook")(fresh(), "nb"),
        "mk_notebook/with-repo": lambda: utils("mk_notebook")(
            fresh("repo.yml"), "nb", repo_name="nb-repo"
        ),
        "mk_notebook/plain": lambda: utils("mk_notebook")(fresh("plain.yml"), "nb"),
        "mk_notebook/no-subnet": lambda: utils("mk_notebook")(fresh("nosubnet.yml"), "nb"),
        "mk_lifecycle_config/full": lambda: utils("mk_lifecycle_config")(fresh(), "nb"),
        "mk_lifecycle_config/plain": lambda: utils("mk_lifecycle_config")(fresh("plain.yml"), "nb"),
        "mk_repo": lambda: utils("mk_repo")(fresh("repo.yml"), "nb-repo"),
        "mk_vpc_config/train": lambda: utils("mk_vpc_config")(fresh().train),
        "mk_vpc_config/none": lambda: utils("mk_vpc_config")({}),
        "mk_vpc_config/no-security-group": lambda: utils("mk_vpc_config")(
            {"vpc_config": {"security_groups": [], "subnets": ["s"]}}
        ),
        "mk_vpc_config/no-subnet": lambda: utils("mk_vpc_config")(
            {"vpc_config": {"security_groups": ["g"], "subnets": []}}
        ),
        "mk_vpc_config/not-a-dict": lambda: utils("mk_vpc_config")({"vpc_config": "bad"}),
        "endpoint_url_for_arn/good": lambda: utils("endpoint_url_for_arn")(
            "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/compat-proj-m-1-0-0"
        ),
        "endpoint_url_for_arn/bad": lambda: utils("endpoint_url_for_arn")("not-an-arn"),
        "date_to_string_serializer/datetime": lambda: utils("date_to_string_serializer")(
            datetime.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=datetime.timezone.utc)
        ),
        "date_to_string_serializer/other": lambda: utils("date_to_string_serializer")(object()),
    }
    for label, call in cases.items():
        obs.check(f"requests/{label}", call)

    def twice():
        # The same project used for two requests, as one command run may do.
        prj = fresh()
        first = utils("mk_training_job")(prj, "multi-1-0", "single-20260101", "multi")
        second = utils("mk_multimodel")(prj, "multi-1-0-0", "multi")
        return {
            "training-job-env": first["Environment"],
            "model": second,
            "config-after": prj.cfg["models"],
        }

    obs.check("requests/config-reused", twice)

    def echo():
        with captured_output() as (out, _):
            utils("click_echo_json")({"when": datetime.datetime(2026, 1, 2, 3, 4, 5, 6), "n": 1})
        return out.getvalue()

    obs.check("requests/click_echo_json", echo)

    def model_type(value, cfg="full.yml"):
        import click

        ctx = click.Context(click.Command("x"), obj=fresh(cfg))
        return utils("validate_model_type")(ctx, None, value)

    obs.check("requests/validate_model_type/known", lambda: model_type("single"))
    obs.check("requests/validate_model_type/unknown", lambda: model_type("nope"))
    obs.check("requests/validate_model_type/omitted-two-models", lambda: model_type(None))
    obs.check(
        "requests/validate_model_type/omitted-one-model", lambda: model_type(None, "plain.yml")
    )
    obs.check(
        "requests/validate_model_type/no-models", lambda: model_type("single", "nomodels.yml")
    )


ENV_VARS = ["ML2P_DATASET", "ML2P_TRAINING_JOB", "ML2P_MODEL_VERSION"]


def env_attributes(env):
    return {
        "env_type": env.env_type.value,
        "dataset_name": env.dataset_name,
        "training_job_name": env.training_job_name,
        "model_version": env.model_version,
        "record_invokes": env.record_invokes,
        "project": env.project,
        "model_cls": env.model_cls,
        "s3": env.s3.url() if env.s3 is not None else None,
    }


def sagemaker_env(obs):
    work = obs.work
    from ml2p.core import SageMakerEnv

    ml = os.path.join(work, "opt-ml")
    os.makedirs(ml)
    base = {"ML2P_PROJECT": PROJECT, "ML2P_S3_URL": S3FOLDER, "ML2P_MODEL_CLS": "a.B"}
    for mask in range(8):
        values = {v: (f"value-of-{v}" if mask & (1 << i) else None) for i, v in enumerate(ENV_VARS)}
        label = "+".join(v[5:] for v, x in values.items() if x) or "none"
        with environ(**base, **values):
            obs.check(f"sagemaker-env/types/{label}", lambda: env_attributes(SageMakerEnv(ml)))
    with environ(**{v: None for v in [*ENV_VARS, "ML2P_PROJECT", "ML2P_S3_URL", "ML2P_MODEL_CLS"]}):
        obs.check("sagemaker-env/nothing-set", lambda: env_attributes(SageMakerEnv(ml)))
    for value in ["true", "True", "TRUE", "false", "1", ""]:
        with environ(ML2P_MODEL_VERSION="v", ML2P_RECORD_INVOKES=value):
            obs.check(
                f"sagemaker-env/record_invokes/{value!r}", lambda: SageMakerEnv(ml).record_invokes
            )

    from ml2p.core import SageMakerEnvType

    dict06 = {
        "env_type": SageMakerEnvType.SERVE,
        "dataset_name": None,
        "training_job_name": None,
        "model_version": "compat-proj-m-1-0-0",
        "record_invokes": True,
        "project": PROJECT,
        "model_cls": "a.B",
        "s3_url": S3FOLDER,
    }
    obs.check(
        "sagemaker-env/environ-0.6-dict", lambda: env_attributes(SageMakerEnv(ml, environ=dict06))
    )
    with environ(ML2P_TRAINING_JOB="compat-proj-m-1-0"):
        env = SageMakerEnv(ml)
    rel = lambda p: os.path.relpath(str(p), ml)  # noqa: E731
    obs.check("sagemaker-env/dataset_folder()", lambda: rel(env.dataset_folder()))

    def deprecated():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            path = env.dataset_folder("other")
        return {"path": rel(path), "warnings": [w.category.__name__ for w in caught]}

    obs.check("sagemaker-env/dataset_folder(name)", deprecated)
    obs.check("sagemaker-env/data_channel_folder", lambda: rel(env.data_channel_folder("extra")))
    obs.check("sagemaker-env/model_folder", lambda: rel(env.model_folder()))
    obs.check("sagemaker-env/resourceconfig-absent", lambda: env.resourceconfig())
    os.makedirs(os.path.join(ml, "input", "config"))
    with open(os.path.join(ml, "input", "config", "resourceconfig.json"), "w") as f:
        f.write('{"current_host": "algo-1", "hosts": ["algo-1"]}')
    obs.check("sagemaker-env/resourceconfig", lambda: env.resourceconfig())
    obs.effect("sagemaker-env/write_failure-no-output-folder", lambda: env.write_failure("boom"))
    os.makedirs(os.path.join(ml, "output"), exist_ok=True)

    def failure():
        env.write_failure("boom\nline 2")
        with open(os.path.join(ml, "output", "failure")) as f:
            return f.read()

    obs.check("sagemaker-env/write_failure", failure)


def put(key, body):
    s3_client().put_object(Bucket=BUCKET, Key=key, Body=body)


def model_tgz(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def local_env(obs):
    work = obs.work
    import boto3

    from ml2p.core import LocalEnv

    make_bucket()
    put("prj/datasets/ds-20260101/a.csv", b"x,y\n1,2\n")
    put("prj/datasets/ds-20260101/sub/b.csv", b"x,y\n3,4\n")
    put("prj/datasets/ds-20260101/folder/", b"")
    put("prj/datasets/ds-202601011/sibling.csv", b"from another dataset\n")
    put("prj/datasets/ds-empty/", b"")
    put(
        "prj/models/compat-proj-m-1-0/output/model.tar.gz",
        model_tgz({"model.json": b'{"factor": 2}', "sub/extra.txt": b"extra"}),
    )
    put(
        "prj/models/compat-proj-evil-1-0/output/model.tar.gz",
        model_tgz({"ok.txt": b"ok", "../escaped.txt": b"outside"}),
    )

    obs.check("local-env/missing-folder", lambda: LocalEnv(os.path.join(work, "nope"), "full.yml"))
    ml = os.path.join(work, "local-ml")
    os.makedirs(ml)
    env = LocalEnv(ml, "full.yml")
    obs.check("local-env/attributes", lambda: env_attributes(env))
    obs.check("local-env/after-construction", lambda: tree(ml))
    obs.effect(
        "local-env/download_dataset-without-session", lambda: env.download_dataset("ds-20260101")
    )
    obs.effect("local-env/download_model-without-session", lambda: env.download_model("m-1-0"))

    env = LocalEnv(ml, "full.yml", session=boto3.session.Session())
    obs.effect("local-env/download_dataset", lambda: env.download_dataset("ds-20260101"))
    obs.check("local-env/dataset-files", lambda: tree(os.path.join(ml, "input")))
    obs.effect("local-env/download_dataset-empty", lambda: env.download_dataset("ds-empty"))
    obs.effect("local-env/download_dataset-missing", lambda: env.download_dataset("ds-19990101"))
    obs.effect("local-env/download_model", lambda: env.download_model("m-1-0"))
    obs.check("local-env/model-files", lambda: tree(os.path.join(ml, "model")))
    obs.effect("local-env/clean_model_folder", lambda: env.clean_model_folder())
    obs.check("local-env/model-files-after-clean", lambda: tree(os.path.join(ml, "model")))
    obs.effect("local-env/download_model-missing", lambda: env.download_model("m-9-9"))
    # An S3 key with a ".." segment: a download must not write outside the dataset folder.
    put("prj/datasets/ds-20260102/ok.csv", b"ok\n")
    put("prj/datasets/ds-20260102/../escape.csv", b"outside\n")
    obs.effect(
        "local-env/download_dataset-escaping-key", lambda: env.download_dataset("ds-20260102")
    )
    obs.check(
        "local-env/escaping-key-written-outside",
        lambda: os.path.exists(os.path.join(ml, "input", "data", "escape.csv")),
    )
    evil_ml = os.path.join(work, "evil", "ml")
    os.makedirs(evil_ml)
    evil = LocalEnv(evil_ml, "full.yml", session=boto3.session.Session())
    obs.effect("local-env/download_model-escaping-member", lambda: evil.download_model("evil-1-0"))
    obs.check(
        "local-env/escaping-member-written-outside",
        lambda: os.path.exists(os.path.join(work, "evil", "escaped.txt")),
    )


def models(obs):
    work = obs.work
    import compat_models

    from ml2p.core import SageMakerEnv

    with environ(ML2P_MODEL_VERSION="compat-proj-m-1-0-0", ML2P_S3_URL=S3FOLDER):
        env = SageMakerEnv(os.path.join(work, "opt-ml"))
    for method in ["trainer", "predictor", "dataset_generator"]:
        obs.call(f"model/{method}-unset", _made, compat_models.EmptyModel(), method, env)
        obs.call(f"model/{method}", _made, compat_models.SingleModel(), method, env)


def _made(model, method, env):
    obj = getattr(model, method)(env)
    return {"class": type(obj).__name__, "env-is-given-env": obj.env is env}


def import_string(obs):
    from ml2p.core import import_string as imp

    obs.check("import_string/function", lambda: imp("os.path.join") is os.path.join)
    obs.check("import_string/class", lambda: imp("compat_models.SingleModel").__name__)
    obs.check("import_string/missing-attribute", lambda: imp("json.nope"))
    obs.check("import_string/missing-module", lambda: imp("nope_module_xyz.Cls"))
    obs.check("import_string/no-dot", lambda: imp("json"))


LOGGING_PROBE = """
import json, logging, sys
from ml2p.core import setup_logging
setup_logging()
setup_logging()
root = logging.getLogger()
handlers = sum(1 for h in root.handlers if getattr(h, "stream", None) is sys.stdout)
facts = {"level": logging.getLevelName(root.level), "stdout-handlers": handlers}
sys.stdout.write(json.dumps(facts) + chr(10))
logging.getLogger("model.code").info("model says hello")
logging.getLogger("model.code").debug("model says debug")
"""

TRAINER_LOG_PROBE = """
import logging
from ml2p.core import ModelTrainer, SageMakerEnv
env = SageMakerEnv(".")
ModelTrainer(env)
ModelTrainer(env)
logging.getLogger("model.code").info("trainer log line")
"""


def logging_behaviour(obs):
    def probe(code, line):
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=False
        )
        lines = proc.stdout.splitlines()
        facts = json.loads(lines.pop(0)) if lines and lines[0].startswith("{") else {}
        return {
            **facts,
            "returncode": proc.returncode,
            "times-printed": sum(1 for out in lines if line in out),
            "debug-printed": any("model says debug" in out for out in lines),
            "lines": lines,
            "_stderr": proc.stderr.splitlines()[-5:],
        }

    obs.check("logging/setup_logging-twice", lambda: probe(LOGGING_PROBE, "model says hello"))
    obs.check("logging/two-trainers", lambda: probe(TRAINER_LOG_PROBE, "trainer log line"))


def prepare(obs):
    sys.path.insert(0, str(HERE))
    copy_configs(obs.work)


if __name__ == "__main__":
    run(
        prepare,
        names,
        env_type_behaviour,
        errors,
        hyperparameters,
        s3urls,
        naming,
        project,
        requests,
        sagemaker_env,
        local_env,
        models,
        import_string,
        logging_behaviour,
    )
