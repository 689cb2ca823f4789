"""Predictions in library use and the S3 records ``record_invokes`` writes.

``invoke``/``batch_invoke`` results, what ``record_invoke`` and
``record_invoke_id`` overrides receive, the S3 keys (ts and uuid normalised)
and bodies of the records, ``upload_to_s3``, and the metadata timestamp.
"""

from __future__ import annotations

import datetime
import os
import pathlib
import re
import sys
import time

from observe import PROJECT, S3FOLDER, environ, make_bucket, run, s3_state

HERE = pathlib.Path(__file__).resolve().parent
VERSION = "compat-proj-m-1-0-0"


def serving_env(ml, record="true"):
    from ml2p.core import SageMakerEnv

    with environ(
        ML2P_MODEL_VERSION=VERSION,
        ML2P_RECORD_INVOKES=record,
        ML2P_S3_URL=S3FOLDER,
        ML2P_PROJECT=PROJECT,
        ML2P_MODEL_CLS="compat_models.SingleModel",
    ):
        return SageMakerEnv(ml)


def records(since=()):
    """The prediction records in S3, without those whose keys are in ``since``."""
    return [
        item
        for item in s3_state()
        if item[0].startswith("prj/predictions/") and item[0] not in since
    ]


def keys():
    return {key for key, _ in s3_state()}


def default_records(obs):
    ml = ml_folder(obs)
    import compat_models

    predictor = compat_models.SingleModel().predictor(serving_env(ml))
    obs.check("default/s3_client", lambda: type(predictor.s3_client).__name__)
    obs.check("default/invoke", lambda: predictor.invoke({"x": 2}))
    obs.check("default/records-after-invoke", lambda: records())
    obs.check("default/batch_invoke", lambda: predictor.batch_invoke([{"x": 1}, {"x": 3}]))
    obs.check("default/records-after-batch", lambda: records())
    obs.check("default/batch_invoke-empty", lambda: predictor.batch_invoke([]))

    def direct():
        prediction = {"metadata": {"model_version": VERSION}, "result": {"y": 18}}
        returned = predictor.record_invoke({"x": 9}, prediction)
        return {"_returned": returned, "records": len(records())}

    obs.check("default/record_invoke-direct", direct)
    obs.check("default/records-at-end", lambda: records())

    def key_shapes():
        shapes = []
        for key, _ in records():
            name = key.rsplit("/", 1)[-1]
            match = re.match(r"^ts-(.*)--uuid-(.*)\.json$", name)
            if not match:
                shapes.append(["unexpected name", name])
                continue
            ts = datetime.datetime.fromisoformat(match.group(1))
            age = abs((datetime.datetime.utcnow() - ts).total_seconds())
            shapes.append(
                {
                    "ts-is-naive": ts.tzinfo is None,
                    "ts-is-utc-now": age < 300,
                    "uuid-version": int(match.group(2)[14]),
                }
            )
        return shapes

    obs.check("default/record-id-shape", key_shapes)

    off = compat_models.SingleModel().predictor(serving_env(ml, record="false"))
    before = len(records())
    obs.check(
        "default/no-recording", lambda: [off.invoke({"x": 5})["result"], len(records()) - before]
    )


class Seen:
    calls = []


def overrides(obs):
    ml = ml_folder(obs)
    import compat_models

    class Recording(compat_models.SinglePredictor):
        def record_invoke(self, datum, prediction):
            Seen.calls.append({"datum": datum, "prediction": prediction})

    class Named(compat_models.SinglePredictor):
        def record_invoke_id(self, datum, prediction):
            Seen.calls.append({"id-datum": datum, "id-prediction": prediction})
            return {"user": datum.get("user", "none"), "y": prediction["result"]["y"]}

    env = serving_env(ml)
    before = keys()
    rec = Recording(env)
    obs.check("override/record_invoke/invoke", lambda: rec.invoke({"x": 4}))
    obs.check("override/record_invoke/batch_invoke", lambda: rec.batch_invoke([{"x": 5}, {"x": 6}]))
    obs.check("override/record_invoke/received", lambda: list(Seen.calls))
    obs.check("override/record_invoke/no-s3-record", lambda: records(before))
    Seen.calls[:] = []
    named = Named(env)
    obs.check("override/record_invoke_id/invoke", lambda: named.invoke({"x": 1, "user": "alice"}))
    obs.check(
        "override/record_invoke_id/batch",
        lambda: named.batch_invoke([{"x": 2, "user": "bob smith"}, {"x": 3, "user": "carol--x+y"}]),
    )
    obs.check("override/record_invoke_id/unicode", lambda: named.invoke({"x": 4, "user": "zoë"}))
    obs.check("override/record_invoke_id/received", lambda: list(Seen.calls))
    obs.check("override/record_invoke_id/records", lambda: records(before))

    class Unsafe(compat_models.SinglePredictor):
        def record_invoke_id(self, datum, prediction):
            return {"path": datum["path"]}

    unsafe = Unsafe(env)
    before = keys()
    obs.check("override/unsafe-id/invoke", lambda: unsafe.invoke({"x": 1, "path": "a/../../b"}))
    obs.check("override/unsafe-id/new-keys", lambda: sorted(keys() - before))

    class LongId(compat_models.SinglePredictor):
        def record_invoke_id(self, datum, prediction):
            return {"user": "u" * 1100, "n": datum["x"]}

    long_id = LongId(env)
    before = keys()
    obs.check("override/long-id/invoke", lambda: long_id.invoke({"x": 2}))

    def fits():
        # S3 keys are at most 1024 bytes (moto does not enforce it; S3 does).
        return [len(key.encode("utf-8")) <= 1024 for key in sorted(keys() - before)]

    obs.check("override/long-id/fits-s3", fits)


def upload(obs):
    work = obs.work
    import compat_models

    from ml2p.core import SageMakerEnv

    with environ(ML2P_DATASET="single-20260101", ML2P_PROJECT=PROJECT, ML2P_S3_URL=S3FOLDER):
        env = SageMakerEnv(os.path.join(work, "gen-ml"))
    gen = compat_models.SingleModel().dataset_generator(env)
    obs.check("upload/s3_client", lambda: type(gen.s3_client).__name__)
    path = os.path.join(work, "upload.csv")
    with open(path, "w") as f:
        f.write("a,b\n1,2\n")
    before = keys()
    obs.check("upload/upload_to_s3", lambda: [gen.upload_to_s3(path), sorted(keys() - before)][1])
    obs.check("upload/object", lambda: [item for item in s3_state() if item[0] not in before])


def timestamps(obs):
    ml = ml_folder(obs)
    import compat_models

    predictor = compat_models.SingleModel().predictor(serving_env(ml, record="false"))

    def fresh():
        stamp = predictor.metadata()["timestamp"]
        return {"type": type(stamp).__name__, "is-now": abs(stamp - time.time()) < 60}

    obs.check("timestamp/utc-host", fresh)
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "XST-5:30"  # a host clock five and a half hours east of UTC
    time.tzset()
    try:
        obs.check("timestamp/host-east-of-utc", fresh)
    finally:
        os.environ["TZ"] = saved or "UTC"
        time.tzset()


def prepare(obs):
    sys.path.insert(0, str(HERE))
    make_bucket()
    os.makedirs(os.path.join(obs.work, "opt-ml"))


def ml_folder(obs):
    return os.path.join(obs.work, "opt-ml")


if __name__ == "__main__":
    run(prepare, default_records, overrides, upload, timestamps)
