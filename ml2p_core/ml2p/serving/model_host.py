"""The worker's model: make, set up, tear down, flush.

Each server worker is a plugin host (:mod:`ml2p.plugin_host`): its
:class:`ModelHost` makes the environment, builds the worker's plugin manager
(:meth:`ml2p.plugin_host.PluginHost.for_env`), makes the predictor through
the model's own factory method, gives it a
:class:`~ml2p.serving.recorder.BackgroundRecorder` when invocations are
recorded, and runs its ``ml2p_setup`` hooks (:func:`ml2p.lifecycle.setup`)
on a thread of its own, so that the worker answers ``/ping`` meanwhile. At
shutdown it runs the ``ml2p_teardown`` hooks, for at most
:data:`TEARDOWN_TIMEOUT` seconds, and flushes the recorder.

The HTTP side (:class:`ml2p.serving.app.PredictionApp`) asks it whether the
predictor is ready, for the predictor, the ``/ping`` body, the setup error and
the recorder that holds a request's records until its answer is sent.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from ml2p import __version__, lifecycle
from ml2p.core import ModelPredictor, SageMakerEnv
from ml2p.record_format import CAPTURE
from ml2p.runtime import failure_summary
from ml2p.serving.bodies import json_body

logger = logging.getLogger("ml2p.serving")

__all__ = ["TEARDOWN_TIMEOUT", "ModelHost", "bodies_folder"]

#: Seconds the teardown hooks may take at shutdown.
TEARDOWN_TIMEOUT = 5.0


class ModelHost:
    """The worker's model: make, set up, tear down, flush.

    :param model_cls: The :class:`ml2p.core.Model` subclass whose predictor
        (``model_cls().predictor(env)``) answers.
    :param ml_folder: The SageMaker folder (``/opt/ml/``).
    :param environ: The environment the predictor sees (default ``os.environ``).
    :param env: An environment already made (a :class:`ml2p.core.SageMakerEnv`
        or :class:`ml2p.core.LocalEnv`) to make the predictor in, instead of a
        :class:`~ml2p.core.SageMakerEnv` of ``ml_folder`` and ``environ``.
    :param predictor: A predictor already made and set up, to serve as it is
        instead of one made from ``model_cls`` (which may then be ``None``):
        its setup and teardown hooks are not run (its owner runs them), and
        it is ready as soon as :meth:`start` is called.
    :raises TypeError: if neither ``model_cls`` nor ``predictor`` is given.
    """

    def __init__(
        self,
        model_cls: type | None,
        ml_folder: Any,
        environ: Mapping[str, str] | None = None,
        *,
        env: Any = None,
        predictor: Any = None,
    ):
        if model_cls is None and predictor is None:
            raise TypeError("nothing to serve: give a model class or a predictor")
        self.model_cls = model_cls
        self.ml_folder = ml_folder
        self.environ = None if environ is None else dict(environ)
        self._env = env
        self._given = predictor
        #: The predictor, once made (``None`` before, or if making it failed).
        self.predictor: Any = None
        #: Whether the predictor is set up and answers.
        self.ready = False
        #: Why setup failed (``ExceptionType: message``), if it did.
        self.setup_error: str | None = None
        #: The body of ``/ping`` once ready: ML2P 0.6's, with ``status``.
        self.ping_body = b""
        #: The predictor's recorder if it can hold a request's records until
        #: the answer is sent (:meth:`~ml2p.serving.recorder.BackgroundRecorder.hold`),
        #: else ``None``; known once ready.
        self.recorder: Any = None
        #: The capture folder of the predictor's records when the server makes
        #: each request's record from its bodies alone (:func:`bodies_folder`),
        #: else ``None``; known once ready.
        self.bodies_folder: str | None = None

    def start(self) -> None:
        """Make the predictor and set it up on a thread of its own; return at once.

        A predictor given to the constructor is ready at once instead.
        """
        if self._given is not None:
            self._serve(self._given, self._given.env)
            return
        threading.Thread(target=self._setup, name="ml2p-setup", daemon=True).start()

    def plugin_manager(self) -> Any:
        """The predictor's plugin manager, to name the plugin behind an error (or ``None``)."""
        return getattr(self.predictor, "_plugin_manager", None)

    def stop_reserve(self) -> float:
        """Seconds :meth:`stop` needs: the teardown allowance and the recorder's flush.

        The flush is estimated from the records queued and the recorder's
        recent write rate, so the reserve shrinks as the queue empties.
        """
        if not self.ready:
            return 0.0
        reserve = TEARDOWN_TIMEOUT
        if self.recorder is not None:
            reserve += self.recorder.seconds_to_flush()
        return reserve

    def stop(self, deadline: float) -> None:
        """Run the teardown hooks (if set up) and flush the recorder by ``deadline``.

        :param deadline: ``time.monotonic()`` by which the recorder must be
            closed. The teardown hooks get :data:`TEARDOWN_TIMEOUT` seconds
            of it at most; ones still running then are left to finish on
            their thread. A predictor given ready-made is torn down (and its
            recorder closed) by its owner.
        """
        was_ready = self.ready
        self.ready = False
        predictor = self.predictor if self._given is None else None
        if was_ready and predictor is not None:
            # At least half a second, and a second left for the recorder.
            wait = min(TEARDOWN_TIMEOUT, max(0.5, deadline - time.monotonic() - 1))
            self._teardown(predictor, wait)
        recorder = getattr(predictor, "recorder", None)
        if recorder is not None:
            try:
                recorder.close(max(0.5, deadline - time.monotonic()))
            except Exception as exc:
                logger.error("closing the invocation recorder failed: %s", failure_summary(exc))

    # -- on the setup and teardown threads ----------------------------------------

    def _make_env(self) -> Any:
        if self._env is not None:
            return self._env
        return SageMakerEnv(self.ml_folder, self.environ)

    def _make_predictor(self, env: Any) -> Any:
        """The model's predictor, run by this worker's own plugin manager, recorder attached."""
        from ml2p.plugin_host import PluginHost

        predictor = PluginHost.for_env(env).make_predictor(self.model_cls, env)
        if env.record_invokes:
            from ml2p.recording import Destination
            from ml2p.serving.recorder import recorder_from_environ

            recorder = recorder_from_environ(
                Destination.of(env).bucket, env.environ, getattr(env, "_session", None)
            )
            # Its S3 client now, while the model loads, rather than during requests.
            recorder.connect()
            predictor.recorder = recorder
        return predictor

    def _setup(self) -> None:
        started = time.monotonic()
        try:
            env = self._make_env()
            self.predictor = self._make_predictor(env)
            lifecycle.setup(self.predictor)
        except BaseException as exc:
            self.setup_error = failure_summary(exc, self.plugin_manager())
            logger.error(
                "model setup failed, /ping answers 503: %s", self.setup_error, exc_info=exc
            )
            return
        # The model and the libraries loaded so far live as long as the
        # worker: keep them out of every later garbage collection pass.
        gc.collect()
        gc.freeze()
        self._serve(self.predictor, env)
        logger.info("model set up in %.2f s: ready", time.monotonic() - started)

    def _serve(self, predictor: Any, env: Any) -> None:
        """Answer with ``predictor``, made in ``env``, from now on."""
        self.predictor = predictor
        self.ping_body = json_body(
            {
                "status": "ok",
                "model_version": getattr(env, "model_version", None),
                "ml2p_version": __version__,
            }
        )
        recorder = getattr(predictor, "recorder", None)
        self.recorder = recorder if callable(getattr(recorder, "hold", None)) else None
        self.bodies_folder = bodies_folder(predictor, self.recorder)
        if getattr(self.recorder, "layout", None) == CAPTURE:
            logger.info(
                "capture records are made %s",
                "from each request's bodies"
                if self.bodies_folder is not None
                else "through the predictor's invoke and batch_invoke (its class or a plugin "
                "takes part in recording)",
            )
        self.ready = True

    def _teardown(self, predictor: Any, wait: float) -> None:
        """Run the teardown hooks on a thread; wait for them ``wait`` seconds at most."""
        done = threading.Event()

        def teardown() -> None:
            try:
                lifecycle.teardown(predictor)
            except BaseException as exc:
                logger.error(
                    "model teardown failed: %s",
                    failure_summary(exc, self.plugin_manager()),
                    exc_info=exc,
                )
            finally:
                done.set()

        threading.Thread(target=teardown, name="ml2p-teardown", daemon=True).start()
        if done.wait(wait):
            logger.info("model torn down")
        else:
            logger.error("model teardown still running after %g s", wait)


def bodies_folder(predictor: Any, recorder: Any) -> str | None:
    """Where ``predictor``'s records go if the server may make them from the bodies alone.

    That is, the ``capture`` folder of its destination when ``recorder``
    (the one the server holds records with) writes the ``capture`` layout,
    invocations are recorded and the predictor's recording plan says its
    records hold nothing more than the bodies
    (``from_bodies`` of :class:`ml2p.recording.RecordingPlan`); else ``None``: every
    other predictor records through its own ``invoke`` and ``batch_invoke``.
    Decided once per predictor.
    """
    if (
        recorder is None
        or getattr(recorder, "layout", None) != CAPTURE
        or not callable(getattr(recorder, "admit_bodies", None))
        or getattr(predictor, "recorder", None) is not recorder
        or not isinstance(predictor, ModelPredictor)
        or not predictor.env.record_invokes
    ):
        return None
    try:
        plan = predictor._recording_plan()
    except Exception:
        # No destination (ML2P_S3_URL unset): the general path says so on each record.
        return None
    return plan.destination.capture_folder if plan.from_bodies else None
