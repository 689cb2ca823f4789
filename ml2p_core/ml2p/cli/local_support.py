"""What the ``ml2p local`` commands share: the local folder, the model and the environment.

The local folder stands in for ``/opt/ml`` (its layout is described in
:mod:`ml2p.cli.local`). ``local train`` replaces its model and training channel
only on success (:func:`replaced_on_success`), and every command that uses the
folder first undoes a replacement a killed run left behind.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
from collections.abc import Iterator, Mapping

from ml2p import variables
from ml2p.cli.context import Project
from ml2p.errors import ML2PError
from ml2p.variables import (
    ML2P_MODEL_CLS,
    ML2P_MODEL_VERSION,
    ML2P_RECORD_INVOKES,
    ML2P_RECORD_KMS_KEY_ID,
    ML2P_RECORD_SPILL_DIR,
)

__all__ = [
    "CHANNEL",
    "MODEL",
    "failure_reason",
    "forget_training_config",
    "load_plugins_first",
    "local_environ",
    "model_reference",
    "prepare_folder",
    "replaced_on_success",
    "serving_environ",
    "trained_model",
]


# What ``local train`` replaces, relative to the local folder: the model, and
# the training channel when --dataset or --data-dir gives new data.
MODEL = "model"
CHANNEL = "input/data/training"


def _kept(root: pathlib.Path, part: str) -> pathlib.Path:
    """Where the last good copy of ``part`` waits while it is being replaced."""
    return root / f".{pathlib.PurePath(part).name}-last-good"


def _discarded(root: pathlib.Path, part: str) -> pathlib.Path:
    return root / f".{pathlib.PurePath(part).name}-discarded"


def _restore_interrupted_runs(root: pathlib.Path) -> None:
    """Undo replacements that were killed: the partial new copy goes, the last good returns."""
    for part in (MODEL, CHANNEL):
        shutil.rmtree(_discarded(root, part), ignore_errors=True)
        kept = _kept(root, part)
        if kept.is_dir():
            shutil.rmtree(root / part, ignore_errors=True)
            kept.rename(root / part)


@contextlib.contextmanager
def replaced_on_success(root: pathlib.Path, part: str) -> Iterator[pathlib.Path]:
    """Empty ``root/part`` to fill; its last good contents come back if the block raises."""
    folder, kept = root / part, _kept(root, part)
    _restore_interrupted_runs(root)
    if folder.is_dir():
        folder.rename(kept)
    else:
        kept.mkdir()  # nothing yet: a failure leaves an empty folder
    folder.mkdir(parents=True)
    try:
        yield folder
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        kept.rename(folder)
        raise
    # Renamed first, so a run killed while deleting cannot bring the old copy back.
    kept.rename(_discarded(root, part))
    shutil.rmtree(_discarded(root, part), ignore_errors=True)


def prepare_folder(folder: str) -> pathlib.Path:
    """Make ``folder``'s ``/opt/ml`` layout (after undoing a killed run); return its path."""
    root = pathlib.Path(folder)
    _restore_interrupted_runs(root)
    for sub in ("input/config", "input/data", "model", "output"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


def model_reference(prj: Project, model: str) -> str:
    """The class reference of ``model``: a key of the config's ``models``.

    :raises ml2p.errors.ConfigError: naming the defined models, if ``model``
        is not one of them.
    """
    return prj.config.model_reference(model)


# What SageMakerEnv reads its type and identity from.
_CORE_VARIABLES = frozenset(variables.ENV_SETTINGS.values())


def local_environ(ml2p_vars: Mapping[str, str]) -> dict[str, str]:
    """The process environment without the core's stale variables, plus ``ml2p_vars``.

    Only the variables that decide the environment's type and identity are
    dropped (a shell's leftover ``ML2P_TRAINING_JOB`` would turn a serving
    run into a training one); plugin settings such as ``ML2P_METRICS_FILE``
    pass through.
    """
    env = {k: v for k, v in os.environ.items() if k not in _CORE_VARIABLES}
    env.update(ml2p_vars)
    return env


def serving_environ(
    prj: Project, model_ref: str, root: pathlib.Path | None = None
) -> dict[str, str]:
    """The environment of a server for the local model, as its SageMaker model gets.

    With the local folder ``root``, records S3 cannot take spill into its
    ``record-spill`` folder (unless ``ML2P_RECORD_SPILL_DIR`` says otherwise),
    where the next ``ml2p local serve`` of that folder sends them.
    """
    from ml2p import sagemaker

    deploy = prj.config.section("deploy")
    env = {
        **sagemaker.base_environment(prj.config),
        ML2P_MODEL_VERSION: prj.full_name("local"),
        ML2P_RECORD_INVOKES: "true" if deploy.get("record_invokes") else "false",
        ML2P_MODEL_CLS: model_ref,
    }
    kms_key_id = deploy.get("record_kms_key_id")
    if kms_key_id:
        env[ML2P_RECORD_KMS_KEY_ID] = str(kms_key_id)
    environ = local_environ(env)
    if root is not None and not environ.get(ML2P_RECORD_SPILL_DIR):
        environ[ML2P_RECORD_SPILL_DIR] = str(root.resolve() / "record-spill")
    return environ


def trained_model(root: pathlib.Path, model: str) -> pathlib.Path:
    """The local folder's ``model/``; an error says to train first if it is empty."""
    if root.is_dir():
        _restore_interrupted_runs(root)
    model_folder = root / "model"
    if not model_folder.is_dir() or not any(model_folder.iterdir()):
        raise ML2PError(
            f"no trained model in {str(model_folder)!r}: run `ml2p local train {model}` first"
        )
    return model_folder


def failure_reason(root: pathlib.Path) -> str:
    """Why the job in ``root`` failed: the first line of its ``output/failure``, if written."""
    try:
        text = (root / "output" / "failure").read_text(encoding="utf-8").strip()
    except OSError:
        return "no failure reason written"
    return text.splitlines()[0] if text else "no failure reason written"


def forget_training_config(root: pathlib.Path) -> None:
    """Remove the training settings ``local train`` left in ``root``.

    A ``hyperparameters.json`` left there would make the environment a training one.
    """
    path = root / "input" / "config" / "hyperparameters.json"
    if path.exists():
        path.unlink()


def load_plugins_first(prj: Project) -> None:
    """Build the command's plugin manager now, to report a plugin that fails to load first.

    Before anything is downloaded, trained, generated or served. (Training on
    several hosts and the server's workers run in processes of their own, each
    building its manager from the same ``ML2P_PROJECT_PLUGINS``.)
    """
    _ = prj.plugin_manager
