"""The name of every environment variable ML2P reads or sets, in one place.

Each constant is named after its variable and holds that name (``ML2P_DATASET
== "ML2P_DATASET"``), so that a search for a variable finds every use. Every
other module imports the name from here rather than spelling it out; a test
(``tests/test_variables.py``) keeps it so. What each variable means is in
``docs/environment.md``.

Importing this module is free: it holds strings and one small function.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

#: What every ML2P variable's name starts with.
ML2P_PREFIX = "ML2P_"
#: What every SageMaker variable's name starts with.
SAGEMAKER_PREFIX = "SAGEMAKER_"

# -- What a container runs (set by ``ml2p`` on SageMaker resources, as by ML2P 0.6) ----

#: The project name.
ML2P_PROJECT = "ML2P_PROJECT"
#: The project's S3 folder.
ML2P_S3_URL = "ML2P_S3_URL"
#: The model to run: an ``ml2p.models`` entry-point name or a dotted class path.
ML2P_MODEL_CLS = "ML2P_MODEL_CLS"
#: The full training job name (training).
ML2P_TRAINING_JOB = "ML2P_TRAINING_JOB"
#: The full model name (serving).
ML2P_MODEL_VERSION = "ML2P_MODEL_VERSION"
#: ``"true"`` to record every invocation (serving).
ML2P_RECORD_INVOKES = "ML2P_RECORD_INVOKES"
#: The dataset name (dataset generation).
ML2P_DATASET = "ML2P_DATASET"

#: The settings of :class:`ml2p.core.SageMakerEnv` (attribute name -> the variable it
#: is read from). These decide an environment's type and identity.
ENV_SETTINGS: Mapping[str, str] = MappingProxyType(
    {
        "dataset_name": ML2P_DATASET,
        "training_job_name": ML2P_TRAINING_JOB,
        "model_version": ML2P_MODEL_VERSION,
        "record_invokes": ML2P_RECORD_INVOKES,
        "project": ML2P_PROJECT,
        "model_cls": ML2P_MODEL_CLS,
        "s3_url": ML2P_S3_URL,
    }
)

#: The hyperparameter (not a variable) holding the variables above in a training
#: job's ``hyperparameters.json``; it overrides the process environment.
ML2P_ENV = "ML2P_ENV"

# -- Plugins -----------------------------------------------------------------------

#: The project's own plugin modules (``plugins:`` in ``ml2p.yml``), comma separated.
ML2P_PROJECT_PLUGINS = "ML2P_PROJECT_PLUGINS"
#: If set, only these installed plugins and models load (comma separated).
ML2P_LOAD_PLUGINS = "ML2P_LOAD_PLUGINS"
#: Installed plugins and models never to load (comma separated).
ML2P_DISABLE_PLUGINS = "ML2P_DISABLE_PLUGINS"

# -- The prediction server (SageMaker's conventions, then ML2P's own) -----------------

#: TCP port to listen on.
SAGEMAKER_BIND_TO_PORT = "SAGEMAKER_BIND_TO_PORT"
#: Worker processes.
SAGEMAKER_MODEL_SERVER_WORKERS = "SAGEMAKER_MODEL_SERVER_WORKERS"
#: Seconds a prediction may take before a 504.
SAGEMAKER_MODEL_SERVER_TIMEOUT = "SAGEMAKER_MODEL_SERVER_TIMEOUT"
#: Largest request body accepted, in MB.
SAGEMAKER_MAX_PAYLOAD_IN_MB = "SAGEMAKER_MAX_PAYLOAD_IN_MB"
#: Batch transform: ``MULTI_RECORD`` or ``SINGLE_RECORD``.
SAGEMAKER_BATCH_STRATEGY = "SAGEMAKER_BATCH_STRATEGY"
#: Prediction threads per worker.
ML2P_SERVER_THREADS = "ML2P_SERVER_THREADS"
#: Seconds a request body may go without a byte before a 408.
ML2P_SERVER_BODY_TIMEOUT = "ML2P_SERVER_BODY_TIMEOUT"

# -- Recording invocations (serving) -------------------------------------------------

#: How records are laid out in S3.
ML2P_RECORD_LAYOUT = "ML2P_RECORD_LAYOUT"
#: The KMS key records are encrypted with (from ``deploy.record_kms_key_id``).
ML2P_RECORD_KMS_KEY_ID = "ML2P_RECORD_KMS_KEY_ID"
#: Most data per capture file.
ML2P_RECORD_BATCH_SIZE = "ML2P_RECORD_BATCH_SIZE"
#: Bytes of lines that make a capture file full.
ML2P_RECORD_BATCH_BYTES = "ML2P_RECORD_BATCH_BYTES"
#: Seconds after which a partial capture file is written.
ML2P_RECORD_BATCH_SECONDS = "ML2P_RECORD_BATCH_SECONDS"
#: Data waiting to be written, per worker.
ML2P_RECORD_QUEUE_SIZE = "ML2P_RECORD_QUEUE_SIZE"
#: Bytes of records waiting to be written, per worker.
ML2P_RECORD_QUEUE_BYTES = "ML2P_RECORD_QUEUE_BYTES"
#: Seconds a request waits for room in a full record queue.
ML2P_RECORD_QUEUE_WAIT = "ML2P_RECORD_QUEUE_WAIT"
#: Record writer threads per worker.
ML2P_RECORD_WRITERS = "ML2P_RECORD_WRITERS"
#: Where records go that S3 cannot take: ``disk`` or ``log``.
ML2P_RECORD_SPILL = "ML2P_RECORD_SPILL"
#: The folder of the ``disk`` spill.
ML2P_RECORD_SPILL_DIR = "ML2P_RECORD_SPILL_DIR"
#: How records are PUT to S3: ``light`` (botocore signs, ML2P sends) or ``boto3``.
ML2P_RECORD_S3_CLIENT = "ML2P_RECORD_S3_CLIENT"


def names_in(environ: Mapping[str, str], name: str) -> list[str] | None:
    """Return the comma-separated names in variable ``name`` of ``environ``, in order.

    Blanks around and between the names are dropped (``" a, ,b "`` is
    ``["a", "b"]``).

    :returns: ``None`` if the variable is not set (set but empty is ``[]``).
    """
    value = environ.get(name)
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]
