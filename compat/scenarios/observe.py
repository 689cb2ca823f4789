"""What a scenario script uses to record its observations (runs under both packages).

A scenario is run as ``python scn_<name>.py OUT_JSON WORK_DIR`` by the Python of
one package (ML2P 0.6.0's virtualenv, or this project's environment), with
``AWS_ENDPOINT_URL`` pointing at the suite's moto server. It records
observations under names with :class:`Observer` and writes them as JSON.

Only the standard library, boto3 and ``ml2p`` may be imported here: this
module runs in ML2P 0.6.0's virtualenv too. Values that are not plain JSON
are recorded as small tagged objects that the suite compares by rule:

* ``{"$exc": {"mro": [...], "message": ...}}``: an exception; a 0.6 ``except``
  clause still catches ours if 0.6's class is in our class's MRO;
* ``{"$sig": [[name, kind, has_default], ...]}``: a signature; ours is
  compatible if every call that 0.6 accepts is accepted the same way.

Keys starting with ``_`` are shown in reports but never compared.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import os
import sys
import traceback
from typing import Any, Callable

#: The bucket every scenario's project uses.
BUCKET = "compat-bucket"
PROJECT = "compat-proj"
S3FOLDER = f"s3://{BUCKET}/prj/"


def copy_configs(work: str) -> None:
    """Copy the scenarios' ``ml2p.yml`` variants (and notebook scripts) into ``work``.

    ``full.yml`` is also copied as ``ml2p.yml``, the file ``ml2p`` reads by default.
    """
    import shutil

    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
    for name in sorted(os.listdir(folder)):
        shutil.copy(os.path.join(folder, name), os.path.join(work, name))
    shutil.copy(os.path.join(folder, "full.yml"), os.path.join(work, "ml2p.yml"))


def qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


#: The exception classes a 0.6 project may name in an ``except`` clause, by their 0.6
#: paths. An exception is observed by which of these it is an instance of.
CATCHABLE = (
    "ml2p.errors.NamingError",
    "ml2p.errors.ConfigError",
    "ml2p.errors.LocalEnvError",
    "ml2p.errors.APIError",
    "ml2p.errors.ServerError",
    "ml2p.errors.ClientError",
    "ml2p.core.LocalEnvError",
    "ml2p.hyperparameters.HyperParameterEncodingError",
    "werkzeug.exceptions.HTTPException",
    "click.exceptions.ClickException",
    "click.exceptions.UsageError",
    "click.exceptions.BadParameter",
    "botocore.exceptions.ClientError",
    "json.JSONDecodeError",
    "builtins.ValueError",
    "builtins.TypeError",
    "builtins.KeyError",
    "builtins.LookupError",
    "builtins.AttributeError",
    "builtins.ImportError",
    "builtins.ModuleNotFoundError",
    "builtins.FileNotFoundError",
    "builtins.OSError",
    "builtins.NotImplementedError",
    "builtins.Exception",
)


def _catchable_classes() -> list[Any]:
    found = []
    for path in CATCHABLE:
        try:
            found.append((path, import_path(path)))
        except (ImportError, AttributeError):
            continue
    return found


def catchable_as(cls: type) -> list[str]:
    """The 0.6 exception paths of :data:`CATCHABLE` that ``cls`` is a subclass of."""
    return [path for path, base in _catchable_classes() if issubclass(cls, base)]


def exception_value(exc: BaseException) -> dict[str, Any]:
    """Return the tagged observation of a raised exception.

    Compared by ``catchable``: every ``except`` clause (of :data:`CATCHABLE`)
    that catches 0.6's exception must catch ours.
    """
    return {
        "$exc": {
            "catchable": catchable_as(type(exc)),
            "_mro": [qualname(c) for c in type(exc).__mro__],
            "_message": str(exc),
        }
    }


def class_value(cls: type) -> dict[str, Any]:
    """Return the tagged observation of an exception class: what catches it."""
    return {"$class": {"catchable": catchable_as(cls), "_mro": [qualname(c) for c in cls.__mro__]}}


def signature_value(func: Callable[..., Any]) -> Any:
    """Return the tagged observation of ``func``'s signature (names, kinds, defaults)."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        return {"$sig-error": str(exc)}
    params = [
        [p.name, p.kind.name, p.default is not inspect.Parameter.empty]
        for p in sig.parameters.values()
    ]
    return {"$sig": params}


def plain(value: Any) -> Any:
    """Return ``value`` as plain JSON (tuples become lists, paths and others strings)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, bytes):
        return {"$bytes": value.decode("utf-8", errors="replace")}
    if hasattr(value, "isoformat"):  # datetimes described back from AWS
        return value.isoformat()
    return {"$repr-type": type(value).__name__, "_repr": repr(value)}


class Observer:
    """Collects named observations; :meth:`write` saves them for the suite."""

    def __init__(self, out_path: str, work: str):
        self.out_path = out_path
        self.work = work
        self.observations: dict[str, Any] = {}

    def record(self, name: str, value: Any) -> Any:
        if name in self.observations:
            raise KeyError(f"observation {name!r} recorded twice")
        self.observations[name] = plain(value)
        return value

    def call(self, name: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Record what ``func(*args, **kwargs)`` returns (made plain) or raises."""
        try:
            result = func(*args, **kwargs)
        except Exception as exc:
            self.observations[name] = exception_value(exc)
            return None
        self.record(name, result)
        return result

    def check(self, name: str, func: Callable[[], Any]) -> Any:
        """Like :meth:`call` without arguments, keeping the traceback for the report."""
        try:
            result = func()
        except Exception as exc:
            value = exception_value(exc)
            value["$exc"]["_traceback"] = traceback.format_exc().splitlines()[-6:]
            self.observations[name] = value
            return None
        self.record(name, result)
        return result

    def effect(self, name: str, func: Callable[[], Any]) -> Any:
        """Record whether ``func()`` raised, not what it returned.

        For calls that return None in ML2P 0.6.0, whose effects the scenario
        observes separately: a value returned where 0.6 returned None is no
        difference a 0.6 project can notice.
        """
        try:
            result = func()
        except Exception as exc:
            self.observations[name] = exception_value(exc)
            return None
        self.record(name, {"raised": False, "_returned": plain(result)})
        return result

    def write(self) -> None:
        import ml2p

        doc = {
            "ml2p_version": ml2p.__version__,
            "python": sys.version.split()[0],
            "work": self.work,
            "observations": self.observations,
        }
        with open(self.out_path, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1, sort_keys=True)


def run(*sections: Callable[[Observer], None]) -> None:
    """Run a scenario's sections with the arguments the suite passes; always write.

    A section that crashes is recorded (``section-completed/<name>`` false,
    its traceback under ``_crashed/<name>``) and the next one still runs.
    """
    out_path, work = sys.argv[1], sys.argv[2]
    os.chdir(work)
    obs = Observer(out_path, work)
    for section in sections:
        name = section.__name__
        try:
            section(obs)
        except Exception:
            obs.observations[f"_crashed/{name}"] = traceback.format_exc().splitlines()[-12:]
            obs.observations[f"section-completed/{name}"] = False
        else:
            obs.observations[f"section-completed/{name}"] = True
    obs.observations["scenario-completed"] = True
    obs.write()


def import_path(dotted: str) -> Any:
    """Import ``module.attr.attr`` (for checking that a 0.6 name exists)."""
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


@contextlib.contextmanager
def environ(**values: str | None):
    """Set (or, for None, unset) environment variables for the block."""
    saved = {k: os.environ.get(k) for k in values}
    try:
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# ---------------------------------------------------------------- AWS state


_CLIENTS: dict[str, Any] = {}


def client(service: str) -> Any:
    """A boto3 client for ``service``, made once (making one takes a while)."""
    if service not in _CLIENTS:
        import boto3

        _CLIENTS[service] = boto3.client(service)
    return _CLIENTS[service]


def s3_client() -> Any:
    return client("s3")


def make_bucket(bucket: str = BUCKET) -> None:
    s3_client().create_bucket(Bucket=bucket)


def s3_body(raw: bytes) -> Any:
    """An S3 object's body: decoded JSON if it is JSON, else text, else its size."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"$binary-bytes": len(raw)}
    try:
        return {"$json": json.loads(text)}
    except ValueError:
        return text


def s3_state(bucket: str = BUCKET, bodies: bool = True) -> list[Any]:
    """Every object in ``bucket``: ``[key, body]`` pairs.

    Ordered by folder, then body, then key: records named by time and uuid
    then come in the same order for both packages.
    """
    client = s3_client()
    out = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            key = item["Key"]
            if bodies:
                body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
                out.append([key, s3_body(body)])
            else:
                out.append([key, item["Size"]])
    out.sort(key=lambda kb: (kb[0].rsplit("/", 1)[0], json.dumps(kb[1], sort_keys=True), kb[0]))
    return out


def _strip(response: dict[str, Any]) -> dict[str, Any]:
    response = dict(response)
    response.pop("ResponseMetadata", None)
    return response


def _described(
    client: Any,
    list_call: str,
    items_key: str,
    name_key: str,
    describe: str,
    arg: str,
    arn_key: str | None,
) -> dict[str, Any]:
    out = {}
    for page in client.get_paginator(list_call).paginate():
        for item in page[items_key]:
            name = item[name_key]
            described = _strip(getattr(client, describe)(**{arg: name}))
            if arn_key and described.get(arn_key):
                tags = client.list_tags(ResourceArn=described[arn_key]).get("Tags", [])
                described["$tags"] = sorted(tags, key=lambda t: t["Key"])
            out[name] = described
    return out


def sagemaker_state() -> dict[str, Any]:
    """Every SageMaker resource ML2P makes, described back from moto (with its tags)."""
    sm = client("sagemaker")
    return {
        "training-jobs": _described(
            sm,
            "list_training_jobs",
            "TrainingJobSummaries",
            "TrainingJobName",
            "describe_training_job",
            "TrainingJobName",
            "TrainingJobArn",
        ),
        "processing-jobs": _described(
            sm,
            "list_processing_jobs",
            "ProcessingJobSummaries",
            "ProcessingJobName",
            "describe_processing_job",
            "ProcessingJobName",
            "ProcessingJobArn",
        ),
        "models": _described(
            sm, "list_models", "Models", "ModelName", "describe_model", "ModelName", "ModelArn"
        ),
        "endpoint-configs": _described(
            sm,
            "list_endpoint_configs",
            "EndpointConfigs",
            "EndpointConfigName",
            "describe_endpoint_config",
            "EndpointConfigName",
            "EndpointConfigArn",
        ),
        "endpoints": _described(
            sm,
            "list_endpoints",
            "Endpoints",
            "EndpointName",
            "describe_endpoint",
            "EndpointName",
            "EndpointArn",
        ),
        "notebooks": _described(
            sm,
            "list_notebook_instances",
            "NotebookInstances",
            "NotebookInstanceName",
            "describe_notebook_instance",
            "NotebookInstanceName",
            "NotebookInstanceArn",
        ),
        "lifecycle-configs": _lifecycle_configs(sm),
    }


#: Notebook names the scenarios use: moto cannot list lifecycle configurations,
#: so the ones these notebooks would have are described by name.
NOTEBOOKS = ["nb", "nb2", "nb3", "nb4", "nb-repo"]


def _lifecycle_configs(sm: Any) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    out = {}
    for notebook in NOTEBOOKS:
        name = f"{PROJECT}-{notebook}-lifecycle-config"
        try:
            out[name] = _strip(
                sm.describe_notebook_instance_lifecycle_config(
                    NotebookInstanceLifecycleConfigName=name
                )
            )
        except ClientError:
            continue
    return out


def tree(folder: str, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every file under ``folder``: relative path -> text (or size for binary files).

    Files whose relative paths are in ``skip`` are left out (and do not
    count when telling whether their folder is empty).
    """
    out: dict[str, Any] = {}
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        rel_root = os.path.relpath(root, folder)
        files = [f for f in files if os.path.normpath(os.path.join(rel_root, f)) not in skip]
        if not files and not dirs:
            out[os.path.normpath(rel_root) + "/"] = "<empty folder>"
        for name in sorted(files):
            path = os.path.join(root, name)
            rel = os.path.normpath(os.path.join(rel_root, name))
            if name.endswith(".tar.gz"):
                out[rel] = {"$tar": tar_members(path)}
                continue
            with open(path, "rb") as f:
                raw = f.read()
            try:
                out[rel] = raw.decode("utf-8")
            except UnicodeDecodeError:
                out[rel] = {"$binary-bytes": len(raw)}
    return out


def tar_members(path: str) -> list[Any]:
    """The members of a tar archive: ``[name, size]`` pairs in name order."""
    import tarfile

    with tarfile.open(path) as tf:
        return sorted([m.name, m.size] for m in tf.getmembers() if m.isfile())


@contextlib.contextmanager
def captured_output():
    """Capture sys.stdout and sys.stderr (text) for the block."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        yield out, err
    finally:
        sys.stdout, sys.stderr = saved
