"""ML2P core utilities.

The classes a model author uses: :class:`Model` holds a dataset generator, a
trainer and a predictor; :class:`SageMakerEnv` describes the SageMaker
container they run in, and :class:`LocalEnv` a local stand-in for it.

Importing this module is cheap: boto3 is imported where a client is first
needed, and plugins are loaded when a plugin manager is built: by the
program that runs the model (:mod:`ml2p.plugin_host`), or, for objects made
by plain library code, on their first hook call.

The other names ML2P 0.6 offered here are kept: :func:`import_string`,
:func:`setup_logging`, :class:`~ml2p.errors.LocalEnvError`,
``ml2p_version`` (the installed ML2P's version string), and
:class:`~ml2p.project.ModellingProject` and :class:`~ml2p.project.ModellingSubCfg`
(loaded from :mod:`ml2p.project` on first use, so that importing this module
reads no YAML).
"""

from __future__ import annotations

import enum
import importlib
import json
import logging
import os
import pathlib
import re
import shutil
import tempfile
import time
import urllib.parse
import warnings
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable, Union

from ml2p import __version__ as ml2p_version
from ml2p import lifecycle
from ml2p.errors import APIError, LocalEnvError, ML2PError
from ml2p.logs import setup_logging
from ml2p.record_ids import default_id, format_record_id
from ml2p.variables import (
    ENV_SETTINGS,
    ML2P_DATASET,
    ML2P_ENV,
    ML2P_PREFIX,
    ML2P_PROJECT,
    ML2P_PROJECT_PLUGINS,
    ML2P_RECORD_INVOKES,
    ML2P_S3_URL,
    names_in,
)

if TYPE_CHECKING:  # pragma: no cover
    from ml2p.config import Config
    from ml2p.plugins import PluginManager
    from ml2p.project import ModellingProject, ModellingSubCfg
    from ml2p.recording import Recorder, RecordingPlan

__all__ = [
    "S3URL",
    "LocalEnv",
    "LocalEnvError",
    "Model",
    "ModelDatasetGenerator",
    "ModelPredictor",
    "ModelTrainer",
    "ModellingProject",
    "ModellingSubCfg",
    "SageMakerEnv",
    "SageMakerEnvType",
    "import_string",
    "ml2p_version",
    "setup_logging",
]

PathLike = Union[str, "os.PathLike[str]"]

#: Names of datasets and training jobs: they become parts of S3 keys.
_RESOURCE_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")


def _check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not _RESOURCE_NAME.match(name) or ".." in name:
        raise ML2PError(
            f"invalid {kind} name {name!r}: use letters, digits, '.', '_' and '-', "
            "starting and ending with a letter or digit"
        )
    return name


class S3URL:
    """A friendly interface to an S3 URL.

    :param str s3folder: An ``s3://bucket/path`` URL.
    """

    def __init__(self, s3folder: str):
        parsed = urllib.parse.urlparse(s3folder)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ML2PError(f"invalid S3 URL {s3folder!r}: expected s3://bucket/path")
        self._s3folder = s3folder
        self._bucket = parsed.netloc
        self._base = parsed.path.strip("/")

    def __repr__(self) -> str:
        return f"S3URL({self._s3folder!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, S3URL) and (self._bucket, self._base) == (
            other._bucket,
            other._base,
        )

    def __hash__(self) -> int:
        return hash((self._bucket, self._base))

    def bucket(self) -> str:
        """Return the bucket of the S3 URL.

        :rtype: str
        :returns: The bucket of the S3 URL.
        """
        return self._bucket

    def path(self, suffix: str) -> str:
        """Return the base path of the S3 URL followed by a '/' and the given suffix.

        The result is an S3 key: it never starts with ``/`` (when the URL
        has no path, the suffix alone is returned).

        :param str suffix: The suffix to append.
        :rtype: str
        :returns: The path with the suffix appended.
        """
        suffix = suffix.lstrip("/")
        return f"{self._base}/{suffix}" if self._base else suffix

    def url(self, suffix: str = "") -> str:
        """Return S3 URL followed by a '/' and the given suffix.

        :param str suffix: The suffix to append. Default: "".
        :rtype: str
        :returns: The URL with the suffix appended.
        """
        return f"s3://{self._bucket}/{self.path(suffix)}"


def import_string(name: str) -> Any:
    """Import a class given its absolute name.

    The name is split at its last dot into a module, which is imported, and
    an attribute of it, which is returned. Errors are those of
    ``importlib.import_module`` and ``getattr``, as in ML2P 0.6, with
    messages that name ``name``; for entry-point names and clearer errors, use
    :func:`ml2p.plugins.resolve_model`.

    :param str name: The name of the model, e.g.
        mypackage.submodule.ModelTrainerClass.
    :raises ValueError: if ``name`` has no module part (no dot, or nothing
        before its last dot).
    :raises ImportError: if the module cannot be imported
        (:class:`ModuleNotFoundError` if it, or a module it imports, does not exist).
    :raises AttributeError: if the module has no such attribute.
    """
    module_name, _, attr = name.rpartition(".")
    if not module_name:
        raise ValueError(
            f"cannot import {name!r}: give a dotted name such as 'package.module.Class'"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if type(exc) not in (ImportError, ModuleNotFoundError):
            raise  # a subclass of the module's own: passed on untouched
        raise type(exc)(f"cannot import {name!r}: {exc}", name=exc.name, path=exc.path) from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise AttributeError(
            f"cannot import {name!r}: module {module_name!r} has no attribute {attr!r}"
        ) from None


class SageMakerEnvType(enum.Enum):
    """The type of SageMakerEnvironment.

    ``UNKNOWN`` is the type of an environment none of whose ML2P variables
    says what it is for.
    """

    TRAIN = "train"
    SERVE = "serve"
    DATASET = "dataset"
    LOCAL = "local"
    UNKNOWN = "unknown"


def _as_json(value: str) -> str:
    """``value`` if it is JSON, else ``value`` encoded as a JSON string.

    A hyperparameter typed into the SageMaker console (``hello``) is not JSON:
    the environment reads it as the string it is rather than fail the job.
    """
    try:
        json.loads(value)
    except ValueError:
        return json.dumps(value)
    return value


def _is_settings(environ: Mapping[str, Any]) -> bool:
    """Whether ``environ`` is ML2P 0.6's settings dictionary rather than environment variables."""
    if "env_type" not in environ or any(str(key).startswith(ML2P_PREFIX) for key in environ):
        return False
    env_type = environ["env_type"]
    return (
        env_type is None
        or isinstance(env_type, SageMakerEnvType)
        or (env_type in SageMakerEnvType._value2member_map_)
    )


def _settings_from_variables(env: Mapping[str, str]) -> dict[str, Any]:
    """Return the settings dictionary the ``ML2P_*`` variables of ``env`` describe."""
    settings: dict[str, Any] = {name: env.get(var) or None for name, var in ENV_SETTINGS.items()}
    settings["record_invokes"] = env.get(ML2P_RECORD_INVOKES, "false").lower() == "true"
    settings["project"] = env.get(ML2P_PROJECT)  # kept as given, even empty, as in ML2P 0.6
    # ML2P 0.6's order: a dataset job may also name the training job it feeds.
    if settings["dataset_name"]:
        settings["env_type"] = SageMakerEnvType.DATASET
    elif settings["training_job_name"]:
        settings["env_type"] = SageMakerEnvType.TRAIN
    elif settings["model_version"]:
        settings["env_type"] = SageMakerEnvType.SERVE
    else:
        settings["env_type"] = SageMakerEnvType.UNKNOWN
    return settings


class _EnvFolders:
    """The ``/opt/ml`` folder layout shared by :class:`SageMakerEnv` and :class:`LocalEnv`."""

    _ml_folder: pathlib.Path

    @property
    def ml_folder(self) -> pathlib.Path:
        """The root folder (``/opt/ml`` in a SageMaker container)."""
        return self._ml_folder

    def data_channel_folder(self, channel: str = "training") -> pathlib.Path:
        """Return the folder of the input data channel ``channel``.

        :param str channel: The channel name (default ``training``).
        """
        return self._ml_folder / "input" / "data" / _check_name("channel", channel)

    def dataset_folder(self, dataset: str | None = None) -> pathlib.Path:
        """Return the folder the training dataset is read from (the ``training`` channel).

        :param str dataset: Deprecated (as in ML2P 0.6): a channel name, for
            which :meth:`data_channel_folder` should be used instead. Passing
            it warns with a :class:`DeprecationWarning` and returns that
            channel's folder.
        """
        if dataset is None:
            return self.data_channel_folder("training")
        warnings.warn(
            "passing a dataset name to dataset_folder(...) is deprecated: call "
            "dataset_folder() for the training dataset, or data_channel_folder(channel) "
            "for the data of a SageMaker channel",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.data_channel_folder(dataset)

    def model_folder(self) -> pathlib.Path:
        """Return the folder the model is written to and loaded from."""
        return self._ml_folder / "model"

    def output_data_folder(self) -> pathlib.Path:
        """Return the folder for other training output (``output/data``)."""
        return self._ml_folder / "output" / "data"

    def _config_json(self, name: str) -> dict[str, Any]:
        path = self._ml_folder / "input" / "config" / name
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ML2PError(f"{path}: cannot read SageMaker configuration: {exc}") from exc
        if not isinstance(data, dict):
            raise ML2PError(f"{path}: expected a JSON object, got {type(data).__name__}")
        return data

    def resourceconfig(self) -> dict[str, Any]:
        """Return the decoded ``input/config/resourceconfig.json`` ({} if absent)."""
        return self._config_json("resourceconfig.json")

    def inputdataconfig(self) -> dict[str, Any]:
        """Return the decoded ``input/config/inputdataconfig.json`` ({} if absent)."""
        return self._config_json("inputdataconfig.json")

    def _read_hyperparameters(self) -> dict[str, Any]:
        from ml2p import hyperparameters

        raw = self._config_json("hyperparameters.json")
        return hyperparameters.decode({str(k): _as_json(str(v)) for k, v in raw.items()})

    def write_failure(self, text: str) -> pathlib.Path:
        """Write ``text`` to ``output/failure``; SageMaker shows its first 1024 characters.

        :returns: The path written.
        """
        path = self._ml_folder / "output" / "failure"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    # -- Distributed and spot training (see ml2p.distributed, ml2p.checkpoints) --------

    def checkpoint_folder(self) -> pathlib.Path:
        """Return the folder checkpoints are saved in and resumed from (``checkpoints``).

        SageMaker's ``/opt/ml/checkpoints``: with ``train.spot`` it is kept in sync
        with S3 and filled again when an interrupted job restarts.
        """
        return self._ml_folder / "checkpoints"

    def _host_layout(self) -> Any:
        from ml2p.distributed import host_layout

        where = self._ml_folder / "input" / "config" / "resourceconfig.json"
        return host_layout(self.resourceconfig(), str(where))

    @property
    def hosts(self) -> list[str]:
        """The training job's hosts, in order (``["algo-1", "algo-2"]``).

        Read from ``input/config/resourceconfig.json``; ``["algo-1"]`` without one.
        """
        return list(self._host_layout().hosts)

    @property
    def current_host(self) -> str:
        """The host this process runs on (``algo-1`` without a ``resourceconfig.json``)."""
        return self._host_layout().current_host

    @property
    def host_rank(self) -> int:
        """This host's position in :attr:`hosts`, from 0; 0 is the host that writes the model."""
        return self._host_layout().rank

    @property
    def num_hosts(self) -> int:
        """How many hosts the training job runs on."""
        return len(self._host_layout().hosts)


class SageMakerEnv(_EnvFolders):
    """An interface to the SageMaker docker environment.

    Attributes that are expected to be available in both training and serving
    environments:

    * ``env_type`` - Whether this is a training, serving or local environment
      (type: :class:`ml2p.core.SageMakerEnvType`).
    * ``project`` - The ML2P project name (type: str).
    * ``model_cls`` - The fulled dotted Python name of the
      :class:`ml2p.core.Model` class to be used for training and prediction
      (type: str), or the name of an ``ml2p.models`` entry point. This may be
      None if the docker image itself specifies the name with
      ``ml2p-docker --model ...``.
    * ``s3`` - The URL of the project S3 bucket (type: :class:`ml2p.core.S3URL`).

    Attributes that are only expected to be available while training (and
    that will be None when serving the model):

    * ``training_job_name`` - The full job name of the training job (type: str).

    Attributes that are only expected to be available while serving the
    model (and that will be None when training):

    * ``model_version`` - The full job name of the deployed model, or None
      during training (type: str).
    * ``record_invokes`` - Whether to store a record of each invocation of the
      endpoint in S3 (type: bool).

    Attributes only available while generating a dataset:

    * ``dataset_name`` - The name of the dataset being generated (type: str).

    And, in every environment:

    * ``project_plugins`` - The project's own plugin modules (``plugins:`` in
      ``ml2p.yml``, passed to containers as ``ML2P_PROJECT_PLUGINS``), registered
      with the plugin manager that runs every trainer, generator and predictor
      made with this environment (type: list of str).

    In the training environment settings are loaded from hyperparameters
    stored by ML2P when the training job is created, if it stored any (the
    ``ML2P_ENV`` hyperparameter, which ``ml2p local train`` writes and which
    overrides the process environment), and otherwise from the environment
    variables ``ml2p training-job create`` gives the job, as ML2P 0.6 did; the
    decoded hyperparameters are available as ``hyperparameters`` (type: dict;
    a value that is not JSON, such as ``hello`` typed into the SageMaker
    console, is kept as that string).

    In the serving environment settings are loaded from environment variables
    stored by ML2P when the model is created.

    Which variable is set decides ``env_type``, as in ML2P 0.6:
    ``ML2P_DATASET`` means dataset generation (even if ``ML2P_TRAINING_JOB``
    is set too), else ``ML2P_TRAINING_JOB`` training, else
    ``ML2P_MODEL_VERSION`` serving; with none of them it is ``UNKNOWN``. The
    server serves whatever the type.

    :param ml_folder: The SageMaker folder (``/opt/ml/`` in a container).
    :param environ: Either the environment variables (default
        ``os.environ``), or, as ML2P 0.6 took it, a dictionary of the settings
        themselves: a mapping with an ``env_type`` key (a
        :class:`SageMakerEnvType`, its value, or ``None`` for ``UNKNOWN``) and
        no ``ML2P_`` variable, whose other keys are among
        ``dataset_name``, ``training_job_name``, ``model_version``,
        ``record_invokes``, ``project``, ``model_cls`` and ``s3_url`` (a
        missing one is ``None``, or ``False`` for ``record_invokes``; others
        are ignored). With a settings dictionary the other settings (plugins,
        the recorder) come from ``os.environ``.

    ``environ`` (type: dict) holds the environment variables the other
    settings are read from.
    """

    TRAIN = SageMakerEnvType.TRAIN
    SERVE = SageMakerEnvType.SERVE
    DATASET = SageMakerEnvType.DATASET
    LOCAL = SageMakerEnvType.LOCAL
    UNKNOWN = SageMakerEnvType.UNKNOWN

    def __init__(self, ml_folder: PathLike, environ: Mapping[str, Any] | None = None):
        self._ml_folder = pathlib.Path(ml_folder)
        self.hyperparameters: dict[str, Any] = self._read_hyperparameters()
        if environ is not None and _is_settings(environ):
            env: dict[str, str] = dict(os.environ)
            self._apply_settings(environ)
        else:
            env = dict(os.environ if environ is None else environ)
            stored = self.hyperparameters.get(ML2P_ENV)
            if isinstance(stored, dict):
                env.update({str(k): str(v) for k, v in stored.items() if v is not None})
            self._apply_settings(_settings_from_variables(env))
        self.environ: dict[str, str] = env
        self.project_plugins: list[str] = names_in(env, ML2P_PROJECT_PLUGINS) or []

    def _apply_settings(self, settings: Mapping[str, Any]) -> None:
        env_type = settings.get("env_type")
        self.env_type: SageMakerEnvType = (
            SageMakerEnvType.UNKNOWN if env_type is None else SageMakerEnvType(env_type)
        )
        self.dataset_name: str | None = settings.get("dataset_name")
        self.training_job_name: str | None = settings.get("training_job_name")
        self.model_version: str | None = settings.get("model_version")
        record = settings.get("record_invokes", False)
        self.record_invokes: bool = (
            record.lower() == "true" if isinstance(record, str) else bool(record)
        )
        self.project: str | None = settings.get("project")
        self.model_cls: str | None = settings.get("model_cls")
        s3_url = settings.get("s3_url")
        self.s3: S3URL | None = S3URL(s3_url) if s3_url else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self._ml_folder)!r}, env_type={self.env_type.value!r})"


class LocalEnv(SageMakerEnv):
    """An interface to a local dummy of the SageMaker environment.

    :param str ml_folder: The directory the environments files are stored in.
        An error is raised if this directory does not exist. Files and
        folders are created within this directory as needed.
    :param str cfg: The path to an ml2p.yml configuration file (or a loaded
        :class:`ml2p.config.Config`).
    :param boto3.session.Session session: A boto3 session object. Maybe be
        None if downloading files from S3 is not required.

    :raises ml2p.errors.LocalEnvError: if ``ml_folder`` does not exist. The
        ``model`` folder within it is created.

    Attributes that are expected to be available in the local environment:

    * ``env_type`` - Whether this is a training, serving or local environment
      (type: :class:`ml2p.core.SageMakerEnvType`).
    * ``project`` - The ML2P project name (type: str).
    * ``s3`` - The URL of the project S3 bucket (type: :class:`ml2p.core.S3URL`).
    * ``model_version`` - The fixed value "local" (type: str).

    In the local environment settings are loaded directly from the ML2P
    configuration file.
    """

    #: Concurrent S3 downloads in :meth:`download_dataset`.
    DOWNLOAD_THREADS = 8

    def __init__(self, ml_folder: PathLike, cfg: PathLike | Config, session: Any = None):
        from ml2p.config import Config, load_config

        if not pathlib.Path(ml_folder).is_dir():
            raise LocalEnvError(f"local environment folder {str(ml_folder)!r} does not exist")
        self._session = session
        self.cfg: Config = cfg if isinstance(cfg, Config) else load_config(cfg)
        super().__init__(
            ml_folder,
            environ={
                "env_type": SageMakerEnvType.LOCAL,
                "model_version": "local",
                "record_invokes": False,
                "project": self.cfg.project,
                "s3_url": self.cfg.s3folder,
            },
        )
        self.project_plugins = list(self.cfg.plugins)
        self.model_folder().mkdir(exist_ok=True)

    def _download_client(self, what: str) -> Any:
        if self._session is None:
            raise LocalEnvError(
                f"downloading {what} needs a boto3 session: pass session= to LocalEnv"
            )
        from ml2p import aws

        return aws.client("s3", self._session)

    def clean_model_folder(self) -> None:
        """Remove and recreate the model folder.

        This is useful to run before training a model if one wants to ensure
        that the model folder is empty beforehand.
        """
        folder = self.model_folder()
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)

    def download_dataset(
        self, dataset: str, progress: Callable[[int], None] | None = None
    ) -> list[pathlib.Path]:
        """Download the given dataset from S3 into the local environment.

        Every object under ``datasets/<dataset>/`` (all pages of the
        listing, folder markers skipped) is downloaded into
        :meth:`dataset_folder`, keeping its relative path, several at a time.
        Every key is checked before anything is downloaded: one that would
        land outside the dataset folder (``..``, absolute, empty segments)
        raises :class:`ml2p.errors.UnsafePathError`.

        :param str dataset: The name of the dataset in S3 to download.
        :param progress: Called with the number of bytes as they arrive.
        :returns: The local paths written.
        :raises ml2p.errors.LocalEnvError: if the environment has no boto3 session.
        :raises ml2p.errors.ML2PError: if the dataset has no files.
        """
        from ml2p.safety import is_folder_marker, safe_join

        _check_name("dataset", dataset)
        client = self._download_client("datasets")
        bucket = self.s3.bucket()
        prefix = self.s3.path(f"datasets/{dataset}/")
        dest = self.dataset_folder()
        dest.mkdir(parents=True, exist_ok=True)
        jobs = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if is_folder_marker(key):
                    continue
                jobs.append((key, safe_join(dest, key[len(prefix) :])))
        if not jobs:
            url = self.s3.url(f"datasets/{dataset}/")
            raise ML2PError(f"dataset {dataset!r} has no files at {url}")

        def fetch(job: Any) -> pathlib.Path:
            key, target = job
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, key, str(target), Callback=progress)
            return target

        with ThreadPoolExecutor(max_workers=min(self.DOWNLOAD_THREADS, len(jobs))) as pool:
            return list(pool.map(fetch, jobs))

    def download_model(self, training_job: str) -> list[pathlib.Path]:
        """Download the given trained model from S3 and unpack it into the local environment.

        The archive ``models/<project>-<training_job>/output/model.tar.gz`` is
        unpacked into :meth:`model_folder`, and kept there as
        ``model.tar.gz`` beside the files it held (as in ML2P 0.6; unless the
        archive itself holds a ``model.tar.gz``, which is kept instead).
        Every member is checked first: an absolute path, ``..``, a link
        pointing outside the folder or a device raises
        :class:`ml2p.errors.UnsafePathError` and nothing is written.

        :param str training_job: The name of the training job whose model
            should be downloaded.
        :returns: The files unpacked.
        :raises ml2p.errors.LocalEnvError: if the environment has no boto3 session.
        """
        from ml2p.safety import safe_extract_tar

        _check_name("training job", training_job)
        client = self._download_client("models")
        key = self.s3.path(f"models/{self.project}-{training_job}/output/model.tar.gz")
        folder = self.model_folder()
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="model-", suffix=".tar.gz", dir=self._ml_folder)
        os.close(fd)
        try:
            client.download_file(self.s3.bucket(), key, tmp)
            files = safe_extract_tar(tmp, folder)
            archive = pathlib.Path(os.path.realpath(folder), "model.tar.gz")
            if archive not in files:
                os.replace(tmp, archive)
            return files
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


class _Hooked:
    """Gives trainers, predictors and generators their environment and plugin manager.

    The plugin manager is the one given as ``plugin_manager=``, else the one
    the host that made the object handed it (:func:`ml2p.plugin_host.hand_over`,
    before any hook runs), else the library default, fetched on first use.
    """

    # Class defaults, also for a sub-class whose __init__ does not call this one.
    _plugin_manager: PluginManager | None = None
    # Whether _plugin_manager is the library default, which a host may replace.
    _plugin_manager_is_default = False

    def __init__(self, env: SageMakerEnv, *, plugin_manager: PluginManager | None = None):
        self.env = env
        self._plugin_manager = plugin_manager
        self.setup_logging()

    def setup_logging(self) -> None:
        """Called when the object is made: make INFO logging reach stdout.

        Calls :func:`ml2p.core.setup_logging`, as in ML2P 0.6: the model's
        own ``logging.getLogger(__name__)`` lines at INFO reach stdout (and
        so CloudWatch), printed once however many objects are made. A
        sub-class may override it to configure logging its own way.
        """
        setup_logging()

    @property
    def plugin_manager(self) -> PluginManager:
        """The plugin manager whose hooks run this object.

        The one given as ``plugin_manager=``; else the one of the program that
        made this object through the model (the server, ``ml2p-docker``, an
        ``ml2p`` command: each builds its own); else, for an object made by
        plain library code, the library default for the environment's
        ``project_plugins`` (:func:`ml2p.plugins.get_plugin_manager`), fetched
        on first use.
        """
        pm = self._plugin_manager
        if pm is None:
            from ml2p.plugins import get_plugin_manager

            pm = get_plugin_manager(getattr(self.env, "project_plugins", ()))
            self._plugin_manager, self._plugin_manager_is_default = pm, True
        return pm

    @property
    def logger(self) -> logging.Logger:
        """A logger named after the class, under ``ml2p.model`` (it adds no handler)."""
        return logging.getLogger(f"ml2p.model.{type(self).__name__}")


class ModelTrainer(_Hooked):
    """An interface that allows ml2p-docker to train models within SageMaker.

    :param env: The :class:`SageMakerEnv` (or :class:`LocalEnv`) to train in.
    """

    def train(self) -> None:
        """Train the model.

        This method should:

        * Read training data (using self.env to determine where to read data from).
        * Train the model.
        * Write the model out (using self.env to determine where to write the model to).
        * Write out any validation or model analysis alongside the model.
        """
        raise NotImplementedError("Sub-classes should implement .train()")

    def checkpoint(self) -> None:
        """Save what is needed to resume training, because the job is being stopped.

        Called through the ``ml2p_checkpoint`` hook when the training process gets
        SIGTERM (spot interruption, maximum runtime, ``ml2p training-job stop``),
        on the main thread between two statements of :meth:`train`; training then
        ends. Write to ``self.env.checkpoint_folder()`` and have :meth:`train` look
        there first. By default nothing is saved.
        """


class _WithS3Client:
    """The ``s3_client`` attribute of predictors and generators."""

    env: SageMakerEnv
    _s3_client: Any = None

    @property
    def s3_client(self) -> Any:
        """The boto3 S3 client this object writes to S3 with.

        Made on first use (with the environment's boto3 session, if it has
        one); set it to use another client: a predictor's ``record_invoke``
        (without a background recorder) and a generator's ``upload_to_s3``
        then go through that one.
        """
        client = self._s3_client
        if client is None:
            from ml2p import aws

            client = self._s3_client = aws.client("s3", getattr(self.env, "_session", None))
        return client

    @s3_client.setter
    def s3_client(self, client: Any) -> None:
        self._s3_client = client


class ModelDatasetGenerator(_WithS3Client, _Hooked):
    """An interface that allows ml2p-docker to generate a dataset within SageMaker.

    :param env: The :class:`SageMakerEnv` (or :class:`LocalEnv`) to run in.
    """

    def generate(self) -> None:
        """Generates and stores a dataset to S3.

        This method should:

        * Read data from source (e.g. S3, Redshift, ...).
        * Process the dataset.
        * Write the dataset to S3 (using self.env to determine where to write the data to).
        """
        raise NotImplementedError("Sub-classes should implement .generate()")

    def upload_to_s3(self, file_path: PathLike) -> str:
        """Uploads the file to the S3 dataset folder

        The object is ``datasets/<dataset_name>/<file name>`` under the
        project's S3 folder, written with :attr:`s3_client`.

        :param str file_path: The path of the file to upload to S3.
        :returns: The S3 URL written.
        """
        if not self.env.dataset_name:
            raise ML2PError(f"upload_to_s3 needs a dataset name: {ML2P_DATASET} is not set")
        if self.env.s3 is None:
            raise ML2PError(f"upload_to_s3 needs the project S3 folder: {ML2P_S3_URL} is not set")
        name = os.path.basename(os.fspath(file_path))
        key = self.env.s3.path(f"datasets/{_check_name('dataset', self.env.dataset_name)}/{name}")
        with open(file_path, "rb") as f:
            self.s3_client.upload_fileobj(Fileobj=f, Bucket=self.env.s3.bucket(), Key=key)
        return f"s3://{self.env.s3.bucket()}/{key}"


class ModelPredictor(_WithS3Client, _Hooked):
    """An interface that allows ml2p-docker to make predictions from a model within SageMaker.

    :param env: The :class:`SageMakerEnv` (or :class:`LocalEnv`) to serve in.
    :param plugin_manager: The plugin manager whose hooks wrap the model
        (default: the one of the program that made the predictor, else the
        library default; see :attr:`plugin_manager`).
    :param recorder: Where invocation records go (default: written to S3
        synchronously with :attr:`s3_client`; see :mod:`ml2p.recording`).
    """

    _plan: RecordingPlan | None = None

    def __init__(
        self,
        env: SageMakerEnv,
        *,
        plugin_manager: PluginManager | None = None,
        recorder: Recorder | None = None,
    ):
        super().__init__(env, plugin_manager=plugin_manager)
        self.recorder = recorder

    def setup(self) -> None:
        """Called once before any calls to .predict(...) are made.

        This method should:

        * Load the model (using self.env to determine where to read the model from).
        * Allocate any other resources needed in order to make predictions.
        """

    def teardown(self) -> None:
        """Called once after all calls to .predict(...) have ended.

        This method should:

        * Cleanup any resources acquired in .setup().
        """

    def metadata(self) -> dict[str, Any]:
        """Return metadata for a prediction that is about to be made.

        :rtype: dict
        :returns: The metadata as a dictionary.

        By default this method returns a dictionary containing:

        * model_version: The ML2P_MODEL_VERSION (str).
        * ml2p_version: The version of ML2P (str).
        * timestamp: The UTC POSIX timestamp in seconds (float).
        """
        return {
            "model_version": self.env.model_version,
            "ml2p_version": ml2p_version,
            "timestamp": time.time(),
        }

    def result(self, data: Any) -> Any:
        """Make a prediction given the input data.

        :param dict data: The input data to make a prediction from.
        :rtype: dict
        :returns: The prediction result as a dictionary.
        """
        raise NotImplementedError("Sub-classes should implement .result(...)")

    def batch_result(self, data: list[Any]) -> list[Any]:
        """Make a batch prediction given a batch of input data.

        :param dict data: The batch of input data to make a prediction from.
        :rtype: list
        :returns: The list of predictions made for instance of the input data.

        This method can be overrided for sub-classes in order to improve
        performance of batch predictions.
        """
        return [self.result(datum) for datum in data]

    def invoke(self, data: Any) -> dict[str, Any]:
        """Invokes the model and returns the full result.

        The prediction is made through the ``ml2p_result`` hook, whose
        innermost implementation is ``.result(data)``. If
        ``env.record_invokes`` is set, the invocation is recorded (see
        :meth:`record_invoke`) before this method returns, given ``data`` and
        the whole dictionary returned here.

        :param dict data: The input data the model is being invoked with.
        :rtype: dict
        :returns: The result as a dictionary.

        By default this method results a dictionary containing:

        * metadata: The result of calling .metadata().
        * result: The result of calling .result(data).
        """
        prediction = self._prediction(data)
        if self.env.record_invokes:
            self._record_call([data], [prediction], batch=False)
        return prediction

    def _prediction(self, data: Any) -> dict[str, Any]:
        """What :meth:`invoke` returns, not recorded (the server records it from the bodies)."""
        return {"metadata": self.metadata(), "result": lifecycle.result(self, data)}

    def batch_invoke(self, data: list[Any]) -> list[dict[str, Any]]:
        """Invokes the model on a batch of input data and returns the full result for each instance.

        The predictions are made through the ``ml2p_batch_result`` hook, whose
        innermost implementation is ``.batch_result(data)``. If
        ``env.record_invokes`` is set, every datum is recorded with its own
        prediction (an item of the list returned here) before this method
        returns.

        ML2P 0.6 returned ``{"predictions": [...]}`` here, against its own
        documentation; this method returns the list the documentation
        promises. The server answers a batch with ``{"predictions": [...]}``
        either way.

        :param dict data: The batch of input data the model is being invoked with.
        :rtype: list
        :returns: The result as a list of dictionaries.

        By default this method results a list of dictionaries containing:

        * metadata: The result of calling .metadata().
        * result: The result of calling .batch_result(data).
        """
        predictions = self._batch_predictions(data)
        if self.env.record_invokes:
            self._record_call(data, predictions, batch=True)
        return predictions

    def _batch_predictions(self, data: list[Any]) -> list[dict[str, Any]]:
        """What :meth:`batch_invoke` returns, not recorded (see :meth:`_prediction`)."""
        metadata = self.metadata()
        results = lifecycle.batch_result(self, data)
        if results is None or len(results) != len(data):
            count = "no" if results is None else len(results)
            raise APIError(f"batch prediction returned {count} results for {len(data)} inputs")
        return [{"metadata": metadata, "result": result} for result in results]

    def record_invoke_id(self, datum: Any, prediction: Any) -> dict[str, str]:
        """Return an id for an invocation record.

        :param dict datum: The dictionary of input values passed when
            invoking the endpoint.
        :param dict result: The prediction returned for datum by this
            predictor: the whole ``{"metadata": ..., "result": ...}``
            dictionary :meth:`invoke` returns (argument name ``prediction``).
        :returns dict: Returns an *ordered* dictionary of key-value pairs that
            make up the unique identifier for the invocation request.

        By default this method returns a dictionary containing the following:

        * "ts": an ISO8601 formatted UTC timestamp.
        * "uuid": a UUID4 unique identifier.

        Sub-classes may override this method to return their own
        identifiers, but including these default identifiers is recommended.
        Plugins add pairs after these through the ``ml2p_record_invoke_id``
        hook.

        The name of the record in S3 is determined by combining the key value
        pairs with a dash ("-") and then separating each pair with a double
        dash ("--").
        """
        return default_id()

    def _recording_plan(self) -> RecordingPlan:
        """How this predictor records, decided on its first record (see :mod:`ml2p.recording`)."""
        plan = self._plan
        if plan is None:
            from ml2p.recording import RecordingPlan

            plan = self._plan = RecordingPlan(self)
        return plan

    def _recorder(self, plan: RecordingPlan) -> Recorder:
        if self.recorder is not None:
            return self.recorder
        # Made per call, so that a newly set s3_client is the one used.
        return plan.recorder(self.s3_client)

    def _record_call(self, data: list[Any], predictions: list[Any], batch: bool) -> None:
        """Record the data and predictions of one ``invoke`` or ``batch_invoke`` call."""
        if not data:  # an empty batch: nothing to record, as in ML2P 0.6
            return
        plan = self._plan or self._recording_plan()
        if plan.record_invoke:
            # A subclass's own record_invoke sees every datum, as in ML2P 0.6.
            for datum, prediction in zip(data, predictions):
                self.record_invoke(datum, prediction)
            return
        self._recorder(plan).record(plan.record(data, predictions, batch))

    def record_invoke(self, datum: Any, prediction: Any) -> str:
        """Store an invocation of the endpoint in the ML2P project S3 bucket.

        In the ``object`` layout (the default, ML2P 0.6's) the record
        ``{"input": datum, "result": prediction}`` is written to
        ``predictions/<model_version>/<record id>.json``; in the ``capture``
        layout (``ML2P_RECORD_LAYOUT=capture``) it is a line of a SageMaker
        data capture file (see :mod:`ml2p.recording`). By the time this
        method returns it is stored, unless the predictor was given a
        background recorder (as the server does). :meth:`invoke` and
        :meth:`batch_invoke` pass the whole prediction they return
        (``{"metadata": ..., "result": ...}``), so the record holds both.

        :param dict datum: The dictionary of input values passed when
            invoking the endpoint.
        :param dict result: The prediction returned for datum by this
            predictor (argument name ``prediction``).
        :returns: The S3 key of the record in the ``object`` layout; its
            record id in the ``capture`` layout, where the file a record
            goes in is named when it is written.
        """
        from ml2p.recording import CAPTURE, Record

        plan = self._plan or self._recording_plan()
        parts = plan.parts_of(datum, prediction)
        record = Record(plan.destination, [datum], [prediction], ids=[parts])
        recorder = self._recorder(plan)
        recorder.record(record)
        if getattr(recorder, "layout", None) == CAPTURE:
            return format_record_id(parts)
        return plan.destination.object_key(parts)


class Model:
    """A holder for dataset generator, trainer and predictor.

    Sub-classes should:

    * Set the attribute DATASET_GENERATOR to a ModelDatasetGenerator sub-class.
    * Set the attribute TRAINER to a ModelTrainer sub-class.
    * Set the attribute PREDICTOR to a ModelPredictor sub-class.

    ``ml2p-docker``, ``ml2p local`` and the server make these objects with
    :meth:`dataset_generator`, :meth:`trainer` and :meth:`predictor` (on an
    instance made with no arguments), so a sub-class may override those
    methods to build them differently.
    """

    DATASET_GENERATOR: type | None = None
    TRAINER: type | None = None
    PREDICTOR: type | None = None

    def _make(self, attribute: str, base: str, env: SageMakerEnv) -> Any:
        cls = getattr(self, attribute)
        if cls is None:
            raise ValueError(
                f"{type(self).__name__}.{attribute} is not set: set it to a {base} sub-class"
            )
        return cls(env)

    def dataset_generator(self, env: SageMakerEnv) -> ModelDatasetGenerator:
        """Return the dataset generator, ``self.DATASET_GENERATOR(env)``.

        :raises ValueError: naming the attribute, if ``DATASET_GENERATOR`` is not set.
        """
        return self._make("DATASET_GENERATOR", "ModelDatasetGenerator", env)

    def trainer(self, env: SageMakerEnv) -> ModelTrainer:
        """Return the trainer, ``self.TRAINER(env)``.

        :raises ValueError: naming the attribute, if ``TRAINER`` is not set.
        """
        return self._make("TRAINER", "ModelTrainer", env)

    def predictor(self, env: SageMakerEnv) -> ModelPredictor:
        """Return the predictor, ``self.PREDICTOR(env)``.

        :raises ValueError: naming the attribute, if ``PREDICTOR`` is not set.
        """
        return self._make("PREDICTOR", "ModelPredictor", env)


# --- ML2P 0.6's project objects, imported on first use ------------------------------
# They live in ml2p.project (whose loading of ml2p.yml needs YAML), so that importing
# ml2p.core stays cheap. They are in __all__ as in 0.6: a star import loads them here.

_PROJECT_NAMES = ("ModellingProject", "ModellingSubCfg")


def __getattr__(name: str) -> Any:
    if name in _PROJECT_NAMES:
        from ml2p import project

        return getattr(project, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
