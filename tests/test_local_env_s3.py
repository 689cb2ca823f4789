"""Every S3 path of ml2p.core against moto in server mode (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest

from ml2p.core import LocalEnv, ModelPredictor, SageMakerEnv
from ml2p.errors import ML2PError, UnsafePathError
from tests.conftest import read_json_object
from tests.models import MinimalGenerator

PREFIX = "proj/datasets/"


def put(s3, key, body=b"x"):
    s3.put_object(Bucket="ml2p-test", Key=key, Body=body)


def files_under(folder):
    return sorted(
        os.path.relpath(os.path.join(root, f), folder)
        for root, _, names in os.walk(folder)
        for f in names
    )


@pytest.mark.slow
def test_download_dataset_paginates_nested_and_skips_markers(s3, tmp_path, ml2p_yml):
    keys = [f"part-{i:04d}.csv" for i in range(1005)] + ["nested/a/b.csv", "nested/c.csv"]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: put(s3, PREFIX + "big-20240101/" + k, k.encode()), keys))
    put(s3, PREFIX + "big-20240101/")  # folder markers are skipped
    put(s3, PREFIX + "big-20240101/nested/")
    put(s3, PREFIX + "big-20240101-other/not-mine.csv")  # a sibling prefix is not included
    ml = tmp_path / "ml"
    ml.mkdir()
    env = LocalEnv(str(ml), ml2p_yml, session=boto3.session.Session())
    seen = []
    paths = env.download_dataset("big-20240101", progress=seen.append)
    folder = env.dataset_folder()
    assert files_under(folder) == sorted(keys)
    assert len(paths) == len(keys)
    assert (folder / "nested" / "a" / "b.csv").read_text() == "nested/a/b.csv"
    assert sum(seen) == sum(len(k) for k in keys)


def test_download_empty_dataset_is_a_clear_error(s3, tmp_path, ml2p_yml):
    put(s3, PREFIX + "empty-20240101/")
    env = LocalEnv(str(tmp_path), ml2p_yml, session=boto3.session.Session())
    with pytest.raises(ML2PError, match="dataset 'empty-20240101' has no files"):
        env.download_dataset("empty-20240101")


@pytest.mark.parametrize(
    "evil", ["../escape.csv", "a/../../escape.csv", "a//b.csv", "./x.csv", "a/\x01b.csv"]
)
def test_download_dataset_refuses_keys_outside_folder(s3, tmp_path, ml2p_yml, evil):
    put(s3, PREFIX + "ds-20240101/good.csv")
    put(s3, PREFIX + "ds-20240101/" + evil)
    ml = tmp_path / "ml"
    ml.mkdir()
    env = LocalEnv(str(ml), ml2p_yml, session=boto3.session.Session())
    with pytest.raises(UnsafePathError):
        env.download_dataset("ds-20240101")
    # Nothing at all was written: keys are checked before any download.
    assert files_under(tmp_path) == ["ml2p.yml"]


@pytest.mark.parametrize("name", ["../x", "a/b", "", "x/../../y", ".hidden"])
def test_download_dataset_refuses_bad_names(s3, tmp_path, ml2p_yml, name):
    env = LocalEnv(str(tmp_path), ml2p_yml, session=boto3.session.Session())
    with pytest.raises(ML2PError, match="invalid dataset name"):
        env.download_dataset(name)


def tarball(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def file_member(name, data=b"data"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def link_member(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


MODEL_KEY = "proj/models/test-proj-m-0-1/output/model.tar.gz"


def test_download_model(s3, tmp_path, ml2p_yml):
    s3.put_object(
        Bucket="ml2p-test",
        Key=MODEL_KEY,
        Body=tarball(
            [file_member("model.json", b'{"slope": 2}'), file_member("sub/extra.txt", b"e")]
        ),
    )
    env = LocalEnv(str(tmp_path), ml2p_yml, session=boto3.session.Session())
    env.download_model("m-0-1")
    assert json.loads((env.model_folder() / "model.json").read_text()) == {"slope": 2}
    assert (env.model_folder() / "sub" / "extra.txt").read_text() == "e"
    # The temporary archive is gone.
    assert not list(tmp_path.glob("model-*.tar.gz"))


@pytest.mark.parametrize(
    "members",
    [
        [file_member("/abs/evil")],
        [file_member("../evil")],
        [file_member("ok"), file_member("a/../../evil")],
        [link_member("link", "/etc")],
        [link_member("link", "../../..")],
        [link_member("hard", "/etc/passwd", tarfile.LNKTYPE)],
        [link_member("dev", "", tarfile.CHRTYPE)],
    ],
    ids=["absolute", "dotdot", "nested-dotdot", "symlink-abs", "symlink-up", "hardlink", "dev"],
)
def test_download_model_refuses_malicious_tarballs(s3, tmp_path, ml2p_yml, members):
    s3.put_object(Bucket="ml2p-test", Key=MODEL_KEY, Body=tarball(members))
    ml = tmp_path / "ml"
    ml.mkdir()
    env = LocalEnv(str(ml), ml2p_yml, session=boto3.session.Session())
    with pytest.raises(UnsafePathError):
        env.download_model("m-0-1")
    assert files_under(tmp_path) == ["ml2p.yml"]


def test_download_model_missing_is_an_aws_error(s3, tmp_path, ml2p_yml):
    from botocore.exceptions import ClientError

    env = LocalEnv(str(tmp_path), ml2p_yml, session=boto3.session.Session())
    with pytest.raises(ClientError):
        env.download_model("m-9-9")


def test_upload_to_s3(s3, tmp_path):
    env = SageMakerEnv(
        str(tmp_path),
        environ={
            "ML2P_DATASET": "minimal-20240101",
            "ML2P_S3_URL": "s3://ml2p-test/proj/",
            "ML2P_PROJECT": "test-proj",
        },
    )
    url = MinimalGenerator(env).generate()
    assert url == "s3://ml2p-test/proj/datasets/minimal-20240101/data.json"
    data = read_json_object(s3, "proj/datasets/minimal-20240101/data.json")
    assert data[3] == {"x": 3, "y": 6}


def test_upload_to_s3_needs_a_dataset_name(tmp_path):
    env = SageMakerEnv(str(tmp_path), environ={"ML2P_S3_URL": "s3://ml2p-test/proj/"})
    with pytest.raises(ML2PError, match="ML2P_DATASET"):
        MinimalGenerator(env).upload_to_s3(tmp_path / "x")


class Echo(ModelPredictor):
    def result(self, data):
        return {"echo": data["x"]}


def serving_env(tmp_path, record="true"):
    return SageMakerEnv(
        str(tmp_path),
        environ={
            "ML2P_MODEL_VERSION": "m-0-1-0",
            "ML2P_S3_URL": "s3://ml2p-test/proj/",
            "ML2P_RECORD_INVOKES": record,
            "ML2P_PROJECT": "test-proj",
        },
    )


def list_keys(s3, prefix):
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket="ml2p-test", Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def test_record_invoke_stores_before_returning(s3, tmp_path):
    p = Echo(serving_env(tmp_path))
    before = time.time()
    out = p.invoke({"x": 5})
    assert out["result"] == {"echo": 5} and out["metadata"]["timestamp"] >= before
    (key,) = list_keys(s3, "proj/predictions/m-0-1-0/")
    assert key.endswith(".json")
    name = key.rsplit("/", 1)[1][: -len(".json")]
    ts, uid = name.split("--")
    assert ts.startswith("ts-") and uid.startswith("uuid-")
    assert read_json_object(s3, key) == {"input": {"x": 5}, "result": out}


def test_batch_invoke_records_every_datum(s3, tmp_path):
    p = Echo(serving_env(tmp_path))
    out = p.batch_invoke([{"x": i} for i in range(7)])
    assert [o["result"]["echo"] for o in out] == list(range(7))
    keys = list_keys(s3, "proj/predictions/m-0-1-0/")
    assert len(keys) == 7
    records = sorted((read_json_object(s3, k) for k in keys), key=lambda r: r["input"]["x"])
    # Each datum's record holds its own whole prediction.
    assert records == [{"input": {"x": i}, "result": out[i]} for i in range(7)]


def test_record_invoke_direct_call_returns_key(s3, tmp_path):
    p = Echo(serving_env(tmp_path, record="false"))
    key = p.record_invoke({"x": 1}, {"echo": 1})
    assert read_json_object(s3, key) == {"input": {"x": 1}, "result": {"echo": 1}}
    p.invoke({"x": 2})  # recording off: nothing more is written
    assert list_keys(s3, "proj/predictions/") == [key]
