"""The recorder's light S3 PUT (ml2p.serving.s3_put) against moto over real HTTP.

The oracle is botocore: the light PUT must store what ``put_object`` stores
and sign as botocore signs.
"""

from __future__ import annotations

import datetime
import http.server
import logging
import subprocess
import sys
import threading

import pytest

from ml2p.errors import ConfigError
from ml2p.serving import s3_put
from ml2p.serving.recorder import BackgroundRecorder, recorder_from_environ
from ml2p.serving.s3_put import PutFailed, PutRefused, light_put_for
from ml2p.serving.settings import RecorderSettings
from tests.fault_support import wait_for
from tests.test_recorder import keys_under, records, stored_xs

KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEYS = [
    "proj/plain.json",
    "proj/with space.json",
    "proj/a+b.json",
    "proj/ünïcødé/κλειδί.json",
    "proj/x=1/y=2.json",
    "proj/tilde~and%percent&amp;?.json",
]


@pytest.fixture
def recorder_client(s3, aws):
    """The S3 client the recorder itself makes (its configuration), on moto."""
    recorder = BackgroundRecorder("ml2p-test", writers=1)
    try:
        yield recorder.client
    finally:
        recorder.close(timeout=1)


@pytest.mark.parametrize("kms_key", [None, KMS_KEY], ids=["no-kms", "kms"])
def test_the_light_put_stores_what_put_object_stores(s3, recorder_client, kms_key):
    s3.create_bucket(Bucket="ml2p-oracle")
    extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key} if kms_key else {}
    light = light_put_for(recorder_client, "ml2p-test", extra)
    for i, key in enumerate(KEYS):
        body = f'{{"n": {i}}}'.encode()
        light.put(key, body, "application/json")
        s3.put_object(
            Bucket="ml2p-oracle", Key=key, Body=body, ContentType="application/json", **extra
        )
    assert sorted(keys_under(s3, "proj/")) == sorted(KEYS)
    for key in KEYS:
        got = s3.get_object(Bucket="ml2p-test", Key=key)
        want = s3.get_object(Bucket="ml2p-oracle", Key=key)
        assert got["Body"].read() == want["Body"].read()
        for field in ("ContentType", "ContentLength", "ServerSideEncryption", "SSEKMSKeyId"):
            assert got.get(field) == want.get(field), (key, field)
        if kms_key:
            assert got["ServerSideEncryption"] == "aws:kms" and got["SSEKMSKeyId"] == kms_key


def test_the_signature_is_botocores(recorder_client, monkeypatch):
    now = datetime.datetime(2026, 3, 4, 5, 6, 7, tzinfo=datetime.timezone.utc)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: now)
    extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": KMS_KEY}
    key, body = "proj/a b+c/ü=1.json", b'{"input": 1}'
    sent = []

    def keep(request, **_):
        sent.append(request)

    recorder_client.meta.events.register("before-send.s3.PutObject", keep)
    recorder_client.put_object(
        Bucket="ml2p-test", Key=key, Body=body, ContentType="application/json", **extra
    )
    [botocores] = sent
    light = light_put_for(recorder_client, "ml2p-test", extra).signed(key, body, "application/json")
    assert light.url == botocores.url
    for header in ("Authorization", "X-Amz-Date", "X-Amz-Content-SHA256"):
        assert s3_put._text(light.headers[header]) == s3_put._text(botocores.headers[header])
    assert "20260304T050607Z" == light.headers["X-Amz-Date"]


def test_the_light_put_takes_the_clients_endpoint_and_region():
    import boto3

    client = boto3.client(
        "s3", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    light = light_put_for(client, "ml2p-test", environ={})
    assert light.prefix == "https://ml2p-test.s3.eu-west-1.amazonaws.com/"
    assert (light.region, light.signing_name) == ("eu-west-1", "s3")
    assert light.url("a b/c") == "https://ml2p-test.s3.eu-west-1.amazonaws.com/a%20b/c"


def test_a_proxy_means_boto3(recorder_client):
    with pytest.raises(s3_put.LightPutUnavailable, match="HTTPS_PROXY is set"):
        light_put_for(recorder_client, "ml2p-test", environ={"HTTPS_PROXY": "http://p:3128"})


# -- S3's answers -------------------------------------------------------------------


class Answers(http.server.ThreadingHTTPServer):
    """An HTTP server on 127.0.0.1 answering PUTs from a list, then 200."""

    daemon_threads = True

    def __init__(self, answers, close_after_each=False):
        self.answers = list(answers)
        self.close_after_each = close_after_each
        self.paths = []
        super().__init__(("127.0.0.1", 0), _AnswerHandler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/bucket-1/"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()


class _AnswerHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_PUT(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        server = self.server
        server.paths.append(self.path)
        status, code = server.answers.pop(0) if server.answers else (200, "")
        body = f"<Error><Code>{code}</Code></Error>".encode() if code else b""
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if server.close_after_each:
            # Closes without saying so: the client finds out on its next request.
            self.close_connection = True

    def log_message(self, *args):
        pass


def _light(url):
    from botocore.credentials import Credentials

    return s3_put.LightPut(url, "us-east-1", "s3", Credentials("a", "b"), read_timeout=5)


@pytest.mark.parametrize(
    "status,code", [(500, "InternalError"), (503, "SlowDown"), (400, "RequestTimeout")]
)
def test_server_errors_and_throttles_are_to_be_retried(status, code):
    with Answers([(status, code)]) as server:
        light = _light(server.url)
        with pytest.raises(PutFailed, match=f"{status} {code}"):
            light.put("k", b"{}", "application/json")
        light.put("k", b"{}", "application/json")
    assert server.paths == ["/bucket-1/k", "/bucket-1/k"]


@pytest.mark.parametrize(
    "status,code",
    [(301, "PermanentRedirect"), (400, "AuthorizationHeaderMalformed"), (403, "AccessDenied")],
)
def test_other_errors_are_refused_naming_status_and_code(status, code):
    with Answers([(status, code)]) as server:
        with pytest.raises(PutRefused, match=f"HTTP {status} {code}") as refused:
            _light(server.url).put("k", b"{}", "application/json")
    assert (refused.value.status, refused.value.code) == (status, code)


def test_a_kept_connection_the_server_closed_is_opened_again():
    with Answers([], close_after_each=True) as server:
        light = _light(server.url)
        for i in range(3):
            light.put(f"k{i}", b"{}", "application/json")
    assert server.paths == ["/bucket-1/k0", "/bucket-1/k1", "/bucket-1/k2"]


def test_a_refused_connection_raises_for_the_retry_loop():
    from tests.serving_support import free_port

    light = _light(f"http://127.0.0.1:{free_port()}/bucket-1/")
    with pytest.raises(ConnectionRefusedError):
        light.put("k", b"{}", "application/json")


# -- in the recorder ----------------------------------------------------------------


def test_a_refused_light_put_falls_back_to_boto3_for_good_losing_nothing(s3, aws, caplog):
    caplog.set_level(logging.INFO, logger="ml2p.serving.recorder")
    s3.delete_bucket(Bucket="ml2p-test")
    recorder = BackgroundRecorder("ml2p-test", writers=2, backoff_base=0.02, backoff_max=0.1)
    items = records(3)
    try:
        for record in items:
            recorder.record(record)
        # The light PUT answered 404 NoSuchBucket: boto3 takes over (and fails too, retried).
        assert wait_for(lambda: recorder.failures > 0, 10)
        assert recorder.s3_client == "boto3"
        s3.create_bucket(Bucket="ml2p-test")
    finally:
        recorder.close(timeout=20)
    assert recorder.written == 3 and recorder.unwritten == 0
    assert stored_xs(s3) == sorted(datum["x"] for r in items for datum in r.inputs)
    stopped = [r.getMessage() for r in caplog.records if "light S3 PUT stopped" in r.getMessage()]
    assert len(stopped) == 1
    assert "HTTP 404 NoSuchBucket" in stopped[0]


def test_the_recorder_puts_through_the_light_put_by_default(s3, aws):
    recorder = BackgroundRecorder("ml2p-test", writers=1)
    sent = []
    recorder.client.meta.events.register(
        "before-send.s3.PutObject", lambda request, **_: sent.append(request.url)
    )
    items = records(2)
    for record in items:
        recorder.record(record)
    recorder.close(timeout=20)
    assert recorder.written == 2 and recorder.s3_client == "light"
    assert sent == []  # put_object was never called (only the probe, stopped before sending)
    assert len(stored_xs(s3)) == 2


def test_ml2p_record_s3_client_boto3_uses_put_object(s3, aws):
    recorder = recorder_from_environ(
        "ml2p-test", {"ML2P_RECORD_S3_CLIENT": "boto3", "ML2P_RECORD_SPILL": "log"}
    )
    sent = []
    recorder.client.meta.events.register(
        "before-send.s3.PutObject", lambda request, **_: sent.append(request.url)
    )
    recorder.record(records(1)[0])
    recorder.close(timeout=20)
    assert recorder.written == 1 and len(sent) == 1 and recorder._light is None


def test_a_proxy_in_the_environment_means_boto3_from_the_start(s3, aws, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="ml2p.serving.recorder")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    recorder = BackgroundRecorder("ml2p-test", writers=1)
    recorder.record(records(1)[0])
    recorder.close(timeout=20)
    assert recorder.written == 1 and recorder.s3_client == "boto3"
    assert any("HTTPS_PROXY is set" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("value", ["aws-cli", "LIGHT-ish", "requests"])
def test_a_bad_s3_client_setting_names_the_variable(value):
    with pytest.raises(ConfigError, match=r"ML2P_RECORD_S3_CLIENT='.*' is not one of light, boto3"):
        RecorderSettings.from_environ({"ML2P_RECORD_S3_CLIENT": value})
    with pytest.raises(ConfigError, match="s3_client 'curl' is not one of light, boto3"):
        BackgroundRecorder("bucket", s3_client="curl")


def test_s3_client_setting_default_and_values():
    assert RecorderSettings.from_environ({}).s3_client == "light"
    assert RecorderSettings.from_environ({"ML2P_RECORD_S3_CLIENT": " Boto3 "}).s3_client == "boto3"


def test_importing_the_recorder_imports_no_botocore():
    # The server imports the recorder when it starts; botocore comes with the first write.
    code = (
        "import sys, ml2p.serving.recorder, ml2p.serving.s3_put; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
