"""Saving a checkpoint when a training job is stopped, so that it can resume.

SageMaker stops a training container with SIGTERM, and kills it 120 seconds
later: when it reclaims a spot instance, when the job reaches its maximum
runtime, and on ``ml2p training-job stop``. While a trainer runs under
:func:`train_with_checkpoints` (``ml2p-docker train`` and ``ml2p local train``
use it), SIGTERM calls the ``ml2p_checkpoint`` hook, whose built-in
implementation is the trainer's :meth:`~ml2p.core.ModelTrainer.checkpoint`, and
then ends training with :class:`TrainingInterrupted`: ``output/failure`` says
so and the process exits with status 1.

The checkpoint goes to :meth:`ml2p.core.SageMakerEnv.checkpoint_folder`
(``/opt/ml/checkpoints``). With ``train.spot`` SageMaker keeps that folder in
sync with ``checkpoints/<project>-<training job>/`` in S3 and copies it back
when it restarts the job, so ``train()`` resumes by reading it first.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from typing import Any

from ml2p import lifecycle
from ml2p.core import ModelTrainer

__all__ = ["TrainingInterrupted", "checkpoint_on_sigterm", "train_with_checkpoints"]

logger = logging.getLogger("ml2p.checkpoints")


class TrainingInterrupted(BaseException):
    """Training was stopped by SIGTERM (after the checkpoint hooks ran).

    A :class:`BaseException`, like :class:`KeyboardInterrupt`, so that the
    ``except Exception`` of training code does not keep a stopped job running.
    """


@contextlib.contextmanager
def checkpoint_on_sigterm(trainer: ModelTrainer) -> Iterator[None]:
    """While the block runs, SIGTERM checkpoints ``trainer``, then raises TrainingInterrupted.

    The previous SIGTERM handler is put back afterwards. Signal handlers can only
    be set from the main thread: elsewhere the block runs without one (and a
    debug message says so).
    """
    if threading.current_thread() is not threading.main_thread():
        logger.debug("not on the main thread: SIGTERM will not save a checkpoint")
        yield
        return
    stopping = {"started": False}

    def on_sigterm(signum: int, frame: Any) -> None:
        if stopping["started"]:
            return  # a second SIGTERM: the checkpoint is already being saved
        stopping["started"] = True
        from ml2p.runtime import failure_summary

        folder = trainer.env.checkpoint_folder()
        logger.warning("SIGTERM: saving a checkpoint in %s before stopping", folder)
        try:
            lifecycle.checkpoint(trainer)
        except Exception as exc:
            raise TrainingInterrupted(
                f"stopped by SIGTERM; saving the checkpoint failed: {failure_summary(exc)}"
            ) from exc
        raise TrainingInterrupted(f"stopped by SIGTERM after saving a checkpoint in {folder}")

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def train_with_checkpoints(trainer: ModelTrainer) -> Any:
    """Train through the ``ml2p_train`` hook, checkpointing on SIGTERM (see above)."""
    with checkpoint_on_sigterm(trainer):
        return lifecycle.train(trainer)
