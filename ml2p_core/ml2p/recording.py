"""What a prediction records, and where records go.

Every prediction is recorded along one path, whether it comes from
:meth:`~ml2p.core.ModelPredictor.invoke`, ``batch_invoke``, a subclass's
``record_invoke`` or the server:

1. the predictor decides once (:class:`RecordingPlan`, made on its first
   record) how its records are named: by the default id, made later where
   the record is written, or by ids it makes on the spot (a subclass's
   ``record_invoke_id``, a plugin's ``ml2p_record_invoke_id``), and whether a
   subclass's own ``record_invoke`` is to see every datum instead;
2. it makes one :class:`Record` per call (all the data of a batch, with
   their predictions) and gives it to its *recorder*;
3. the recorder names and encodes the record in its layout (the format is
   :mod:`ml2p.record_format`'s, the encoding :mod:`ml2p.serving.record_encoding`'s)
   and stores it: :class:`S3Recorder`
   at once (ML2P 0.6's semantics: when ``invoke`` returns, the record is
   stored), the server's :class:`ml2p.serving.recorder.BackgroundRecorder`
   from background threads.

Two layouts (``ML2P_RECORD_LAYOUT``):

``object`` (the default, ML2P 0.6's)
    one object per datum, ``predictions/<model_version>/<record id>.json``,
    holding ``{"input": datum, "result": prediction}``;
``capture``
    SageMaker's endpoint data capture: one JSON line per record (per
    request, in the server) in files under
    ``predictions/capture/<model_version>/<variant>/yyyy/mm/dd/hh/``
    (:mod:`ml2p.record_format`), with the request and response bodies as
    the server received and sent them.

Both write with SSE-KMS when a key is given (``ML2P_RECORD_KMS_KEY_ID``,
from ``deploy.record_kms_key_id``).
"""

from __future__ import annotations

import threading
import time as _time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ml2p.errors import ML2PError
from ml2p.record_format import (
    CAPTURE,
    LAYOUTS,
    OBJECT,
    capture_key,
    capture_prefix,
    check_layout,
    layout_from_environ,
    object_prefix,
)
from ml2p.record_ids import format_record_id, merge_parts, record_key
from ml2p.variables import ML2P_RECORD_KMS_KEY_ID, ML2P_S3_URL

if TYPE_CHECKING:  # pragma: no cover
    from ml2p.core import ModelPredictor

__all__ = [
    "CAPTURE",
    "LAYOUTS",
    "OBJECT",
    "Destination",
    "Record",
    "Recorder",
    "RecordingPlan",
    "S3Recorder",
    "kms_key_from_environ",
    "put_arguments",
]

#: A body and its Content-Type header value, as bytes (as the server received or sent them).
Body = tuple[bytes, bytes]


@dataclass(frozen=True)
class Destination:
    """Where the records of one model version go: the one place that builds their keys.

    :param bucket: The project bucket.
    :param base: The key prefix of the project's folder (``""`` or ending with ``/``).
    :param model_version: The model version (``ML2P_MODEL_VERSION``).
    """

    bucket: str
    base: str
    model_version: str
    #: ``<base>predictions/<model_version>/``: the ``object`` layout's folder.
    object_folder: str = field(init=False)
    #: ``<base>predictions/capture/<model_version>/<variant>/``: the ``capture`` layout's.
    capture_folder: str = field(init=False)

    def __post_init__(self) -> None:
        version = self.model_version
        object.__setattr__(self, "object_folder", f"{self.base}{object_prefix(version)}")
        object.__setattr__(self, "capture_folder", f"{self.base}{capture_prefix(version)}")

    @classmethod
    def of(cls, env: Any) -> Destination:
        """The destination of the records made in ``env`` (a :class:`ml2p.core.SageMakerEnv`).

        :raises ml2p.errors.ML2PError: if ``ML2P_S3_URL`` is not set.
        """
        if env.s3 is None:
            raise ML2PError(f"cannot record invocations: {ML2P_S3_URL} is not set")
        return cls(env.s3.bucket(), env.s3.path(""), str(env.model_version))

    def object_key(self, parts: dict[str, str]) -> str:
        """The ``object`` layout key of the record whose id is ``parts``.

        See :func:`ml2p.record_ids.record_key`.
        """
        return record_key(self.object_folder, parts)

    def capture_key(self, when: float, name: str | None = None) -> str:
        """The key of a capture file whose first record was made at POSIX time ``when``."""
        return capture_key(self.capture_folder, when, name)


class Record:
    """What one call records: its data, each datum's whole prediction, when, and their ids.

    ``invoke`` makes a record of one datum, ``batch_invoke`` one of the whole
    batch, the default ``record_invoke`` one of its datum. The server gives
    the record of a request the request and response bodies as they were
    received and sent (:attr:`request`, :attr:`response`), which the
    ``capture`` layout stores as they are.

    :param destination: Where it goes.
    :param inputs: The data, in order.
    :param predictions: Each datum's whole prediction (``{"metadata", "result"}``).
    :param batch: Whether the data came as a batch (``batch_invoke``).
    :param time: When the predictions were made (POSIX seconds; default now).
    :param ids: Each datum's record id (merged parts), or ``None``: the
        default id (:func:`ml2p.record_ids.default_id`), made when the
        record is written.
    :param whole: Whether it records every datum of an ``invoke`` or
        ``batch_invoke`` call (the server then attaches that call's bodies).
    """

    __slots__ = (
        "batch",
        "count",
        "destination",
        "ids",
        "inputs",
        "predictions",
        "request",
        "response",
        "time",
        "whole",
    )

    def __init__(
        self,
        destination: Destination,
        inputs: Sequence[Any],
        predictions: Sequence[Any],
        *,
        batch: bool = False,
        time: float | None = None,
        ids: Sequence[dict[str, str]] | None = None,
        whole: bool = False,
    ):
        self.destination = destination
        self.inputs = inputs
        self.predictions = predictions
        #: How many data it records.
        self.count = len(inputs)
        self.batch = batch
        self.time = _time.time() if time is None else time
        self.ids = ids
        self.whole = whole
        #: The request body as received and its Content-Type (the server sets it).
        self.request: Body | None = None
        #: The response body as sent and its Content-Type (the server sets it).
        self.response: Body | None = None

    def record_ids(self) -> list[str] | None:
        """The ids of its data as text, or ``None`` when they are the default ones."""
        if self.ids is None:
            return None
        return [format_record_id(parts) for parts in self.ids]

    def split(self, count: int) -> tuple[Record, Record]:
        """Its first ``count`` data and the rest, as two records of the same time.

        Only the ``object`` layout splits records (one object per datum); the
        parts carry no bodies.
        """
        ids = self.ids
        head = Record(
            self.destination,
            self.inputs[:count],
            self.predictions[:count],
            batch=self.batch,
            time=self.time,
            ids=None if ids is None else ids[:count],
        )
        tail = Record(
            self.destination,
            self.inputs[count:],
            self.predictions[count:],
            batch=self.batch,
            time=self.time,
            ids=None if ids is None else ids[count:],
        )
        return head, tail

    def __repr__(self) -> str:
        return (
            f"Record({self.destination.model_version!r}, {self.count} datum(s), "
            f"time={self.time!r}, ids={'default' if self.ids is None else 'given'})"
        )


class Recorder(Protocol):
    """Stores records (see the module documentation)."""

    #: ``object`` or ``capture``.
    layout: str

    def record(self, record: Record) -> None:
        """Store ``record``, or take charge of storing it."""

    def close(self, timeout: float | None = None) -> None:
        """Flush what is pending and release resources."""


def kms_key_from_environ(environ: Mapping[str, str]) -> str | None:
    """The KMS key ``ML2P_RECORD_KMS_KEY_ID`` gives in ``environ``, or ``None`` (unset or blank)."""
    return (environ.get(ML2P_RECORD_KMS_KEY_ID) or "").strip() or None


def put_arguments(kms_key_id: str | None) -> dict[str, str]:
    """The ``put_object`` arguments that encrypt a record with the KMS key ``kms_key_id``.

    ``{}`` without a key (the bucket's default encryption applies), as ML2P 0.6 wrote.
    """
    if not kms_key_id:
        return {}
    return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id}


class S3Recorder:
    """Write each record to S3 before returning (ML2P 0.6's semantics).

    ``object`` layout: one object per datum. ``capture`` layout: one capture
    file per record.

    :param bucket: The project bucket.
    :param session: A boto3 session, or ``None`` for a default one (made on
        first use, so constructing a recorder does not import boto3).
    :param client: A boto3 S3 client to use instead.
    :param layout: ``object`` or ``capture``.
    :param kms_key_id: A KMS key to encrypt the objects with (SSE-KMS).
    """

    def __init__(
        self,
        bucket: str,
        session: Any = None,
        client: Any = None,
        *,
        layout: str = OBJECT,
        kms_key_id: str | None = None,
    ):
        self.bucket = bucket
        self.layout = check_layout(layout)
        self._session = session
        self._client = client
        self._lock = threading.Lock()
        self._extra = put_arguments(kms_key_id)

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    from ml2p import aws

                    self._client = aws.client("s3", self._session)
        return self._client

    def record(self, record: Record) -> None:
        """Name, encode and store ``record``; every object is stored when this returns."""
        from ml2p.serving.record_encoding import layout_puts, queued

        puts, _ = layout_puts(self.layout, queued(self.layout, [record])[0])
        for put in puts:
            self.client.put_object(
                Bucket=self.bucket,
                Key=put.key,
                Body=put.body,
                ContentType=put.content_type,
                **self._extra,
            )

    def close(self, timeout: float | None = None) -> None:
        return None


class RecordingPlan:
    """How a predictor records, decided once (on its first record).

    * ``record_invoke``: whether a subclass overrides
      :meth:`~ml2p.core.ModelPredictor.record_invoke`; then every datum goes
      through it, as in ML2P 0.6;
    * :meth:`ids`: the data's ids, or ``None`` for the default id (no plugin
      implements ``ml2p_record_invoke_id`` and the predictor keeps the default
      ``record_invoke_id``), made when the record is written;
    * ``destination``, and the layout and KMS key of the recorder made for a
      predictor without one (``ML2P_RECORD_LAYOUT``, ``ML2P_RECORD_KMS_KEY_ID``);
    * ``from_bodies``: whether the record of an ``invoke`` or ``batch_invoke``
      call holds nothing its request and response bodies, their time and
      their count do not: ``invoke``, ``batch_invoke``, ``record_invoke`` and
      ``record_invoke_id`` are :class:`~ml2p.core.ModelPredictor`'s own and
      no plugin implements ``ml2p_record_invoke_id`` (the ids are the default
      ones). The server then makes a request's ``capture`` line from its
      bodies without a :class:`Record`
      (:meth:`ml2p.serving.recorder.BackgroundRecorder.admit_bodies`).
    """

    def __init__(self, predictor: ModelPredictor):
        from ml2p.core import ModelPredictor

        cls = type(predictor)
        self.destination = Destination.of(predictor.env)
        self.record_invoke = cls.record_invoke is not ModelPredictor.record_invoke
        environ = getattr(predictor.env, "environ", {})
        self.layout = layout_from_environ(environ)
        self.kms_key_id = kms_key_from_environ(environ)
        pm = predictor.plugin_manager
        self._default_ids = (
            cls.record_invoke_id is ModelPredictor.record_invoke_id
            and pm.record_ids_from_model_only()
        )
        self.from_bodies = (
            self._default_ids
            and not self.record_invoke
            and cls.invoke is ModelPredictor.invoke
            and cls.batch_invoke is ModelPredictor.batch_invoke
        )
        if pm.record_ids_from_model_only():
            # Only the model names records: skip pluggy's call machinery.
            own = predictor.record_invoke_id

            def parts_of(datum: Any, prediction: Any) -> dict[str, str]:
                return merge_parts([own(datum, prediction)])

        else:
            from ml2p.lifecycle import record_id_parts

            def parts_of(datum: Any, prediction: Any) -> dict[str, str]:
                return merge_parts(record_id_parts(predictor, datum, prediction))

        #: The merged id parts of one datum (the hook, or the model's own method).
        self.parts_of = parts_of

    def ids(self, inputs: Sequence[Any], predictions: Sequence[Any]) -> list[dict[str, str]] | None:
        """The ids of these data, or ``None`` when they take the default id."""
        if self._default_ids:
            return None
        parts_of = self.parts_of
        return [parts_of(datum, prediction) for datum, prediction in zip(inputs, predictions)]

    def record(self, inputs: Sequence[Any], predictions: Sequence[Any], batch: bool) -> Record:
        """The record of one ``invoke`` (``batch`` false) or ``batch_invoke`` call."""
        return Record(
            self.destination,
            inputs,
            predictions,
            batch=batch,
            ids=self.ids(inputs, predictions),
            whole=True,
        )

    def recorder(self, client: Any) -> S3Recorder:
        """The recorder of a predictor given none: writes with ``client`` before returning."""
        return S3Recorder(
            self.destination.bucket, client=client, layout=self.layout, kms_key_id=self.kms_key_id
        )
