"""The light PUT's own SigV4 signer (ml2p.serving.sigv4) against botocore's S3SigV4Auth.

The oracle is botocore: the same PUT (key, body, content type, SSE-KMS
headers, session token or not) is signed by ``S3SigV4Auth`` and by
:class:`~ml2p.serving.sigv4.PutSigner` at the same instant (botocore's
``X-Amz-Date`` given to ours), and every signing header must be identical.
"""

from __future__ import annotations

import datetime
from types import SimpleNamespace

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, RefreshableCredentials
from hypothesis import given, settings
from hypothesis import strategies as st

from ml2p.serving import s3_put
from ml2p.serving.s3_put import light_put_for
from ml2p.serving.sigv4 import PutSigner, timestamp_now
from tests.test_s3_put import KEYS, KMS_KEY

SIGNING = ("Authorization", "X-Amz-Content-SHA256", "X-Amz-Date", "X-Amz-Security-Token")
SSE = {
    "x-amz-server-side-encryption": "aws:kms",
    "x-amz-server-side-encryption-aws-kms-key-id": KMS_KEY,
}
PREFIXES = [
    "http://127.0.0.1:5000/ml2p-test/",
    "https://ml2p-test.s3.eu-west-1.amazonaws.com/",
    "https://s3.eu-west-1.amazonaws.com:443/ml2p-test/",
    "https://MinIO.example:9443/ml2p-test/",
]


UNSIGNED_PAYLOAD_CONFIG = SimpleNamespace(s3={"payload_signing_enabled": False})


def botocore_headers(light, url, body, content_type, client_config=None):
    """The headers of the PUT ``light`` would send to ``url``, signed by ``S3SigV4Auth``."""
    request = AWSRequest(
        method="PUT",
        url=url,
        data=body,
        headers={"Content-Type": content_type, **light.headers},
    )
    if client_config is not None:
        request.context["client_config"] = client_config
    frozen = light.credentials.get_frozen_credentials()
    S3SigV4Auth(frozen, light.signing_name, light.region).add_auth(request)
    return request.headers


def botocores(light, key, body, content_type, client_config=None):
    """The signing headers botocore's ``S3SigV4Auth`` gives the PUT ``light`` would send."""
    headers = botocore_headers(light, light.url(key), body, content_type, client_config)
    return {name: headers.get(name) for name in SIGNING}


def signed_by_botocore(monkeypatch, light):
    """Make ``light`` sign its PUTs with botocore's ``S3SigV4Auth`` (on botocore's clock)."""
    config = None if light._signer.sign_payload else UNSIGNED_PAYLOAD_CONFIG

    def signed_headers(quoted, body, content_type, timestamp=None):
        headers = botocore_headers(light, light.prefix + quoted, body, content_type, config)
        return {
            name: s3_put._text(value) for name, value in headers.items() if name not in light._sent
        }

    monkeypatch.setattr(light, "_signed_headers", signed_headers)


def ours(light, key, body, content_type, timestamp):
    frozen = light.credentials.get_frozen_credentials()
    path = light._path + light._quote(key, safe="/~")
    signed = light._signer.sign(path, body, content_type, frozen, timestamp)
    return {name: signed.get(name) for name in SIGNING}


def _light(prefix, token=None, headers=None, sign_payload=True, secret="s3cr3t/key+X"):
    credentials = Credentials("AKIDEXAMPLE", secret, token)
    return s3_put.LightPut(
        prefix, "eu-west-1", "s3", credentials, headers=headers, sign_payload=sign_payload
    )


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzE//tok+en/odd="], ids=["key", "token"])
@pytest.mark.parametrize("headers", [{}, SSE], ids=["plain", "sse-kms"])
@pytest.mark.parametrize("key", [*KEYS, "a~b/c d/+/ü/🙂/%41", "/leading//double"])
def test_our_signature_is_botocores(prefix, token, headers, key):
    light = _light(prefix, token, headers)
    body = b'{"input": {"x": 1}}'
    want = botocores(light, key, body, "application/json")
    got = ours(light, key, body, "application/json", want["X-Amz-Date"])
    assert got == want
    assert (got["X-Amz-Security-Token"] is None) == (token is None)


@pytest.mark.parametrize("body", [b"", b"x" * 70000], ids=["empty", "large"])
@pytest.mark.parametrize(
    "content_type", ["application/json", "  text/csv;  charset=utf-8 ", "application/x-ndjson"]
)
def test_bodies_and_content_types_sign_as_botocore_signs_them(body, content_type):
    light = _light(PREFIXES[1], "tok", SSE)
    want = botocores(light, "k/1.json", body, content_type)
    assert ours(light, "k/1.json", body, content_type, want["X-Amz-Date"]) == want


@pytest.mark.parametrize("prefix", PREFIXES[:2])
def test_unsigned_payloads_when_the_client_turns_payload_signing_off(prefix):
    light = _light(prefix, sign_payload=False)
    want = botocores(light, "k", b"{}", "application/json", UNSIGNED_PAYLOAD_CONFIG)
    assert want["X-Amz-Content-SHA256"] == "UNSIGNED-PAYLOAD"
    assert ours(light, "k", b"{}", "application/json", want["X-Amz-Date"]) == want


@settings(max_examples=150, deadline=None)
@given(
    key=st.text(min_size=1, max_size=60).filter(lambda k: "\x00" not in k),
    body=st.binary(max_size=300),
    token=st.one_of(st.none(), st.text(alphabet="abcXYZ019+/=", min_size=1, max_size=40)),
    https=st.booleans(),
)
def test_any_key_body_and_token_sign_as_botocore_signs_them(key, body, token, https):
    light = _light(PREFIXES[1] if https else PREFIXES[0], token, SSE)
    want = botocores(light, key, body, "application/octet-stream")
    assert ours(light, key, body, "application/octet-stream", want["X-Amz-Date"]) == want


def test_the_signing_key_follows_the_secret_and_the_date():
    signer = PutSigner("h", "eu-west-1", "s3")
    first = signer.signing_key("secret-1", "20260304")
    assert signer.signing_key("secret-1", "20260304") is first
    assert signer.signing_key("secret-1", "20260305") != first
    assert signer.signing_key("secret-2", "20260305") != first
    assert signer.signing_key("secret-1", "20260304") == first
    assert len(timestamp_now()) == 16 and timestamp_now().endswith("Z")


def test_refreshed_credentials_sign_each_put_with_the_keys_of_then(monkeypatch):
    rounds = iter(range(1, 100))

    def now():
        return datetime.datetime.now(datetime.timezone.utc)

    def refresh():
        n = next(rounds)
        return {
            "access_key": f"AKID{n}",
            "secret_key": f"secret-{n}",
            "token": f"token-{n}",
            # Due within botocore's mandatory refresh window: every PUT refreshes.
            "expiry_time": (now() + datetime.timedelta(minutes=5)).isoformat(),
        }

    credentials = RefreshableCredentials.create_from_metadata(refresh(), refresh, method="test")
    light = s3_put.LightPut(PREFIXES[0], "us-east-1", "s3", credentials, headers=SSE)
    with monkeypatch.context() as patch:
        signed_by_botocore(patch, light)
        botocore_request = light.signed("k", b"{}", "application/json")
    our_request = light.signed("k", b"{}", "application/json")
    # Each signed() froze the credentials anew: the keys differ, each signature is right.
    assert "Credential=AKID2/" in botocore_request.headers["Authorization"]
    assert botocore_request.headers["X-Amz-Security-Token"] == "token-2"
    assert "Credential=AKID3/" in our_request.headers["Authorization"]
    assert our_request.headers["X-Amz-Security-Token"] == "token-3"


def test_the_put_sends_the_headers_botocore_signs(s3, monkeypatch):
    """Both signers through put() against moto: the same object lands either way."""
    extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": KMS_KEY}
    light = light_put_for(s3, "ml2p-test", extra, environ={})
    assert light._signer.sign_payload is True
    for botocore_signs in (True, False):
        with monkeypatch.context() as patch:
            if botocore_signs:
                signed_by_botocore(patch, light)
            light.put(f"signed-by/{botocore_signs}/a b+c.json", b'{"n": 1}', "application/json")
    for botocore_signs in (True, False):
        got = s3.get_object(Bucket="ml2p-test", Key=f"signed-by/{botocore_signs}/a b+c.json")
        assert got["Body"].read() == b'{"n": 1}'
        assert (got["ContentType"], got["SSEKMSKeyId"]) == ("application/json", KMS_KEY)


def test_a_client_without_payload_signing_gives_an_unsigned_light_put(s3, aws):
    import boto3
    from botocore.config import Config

    client = boto3.client("s3", config=Config(s3={"payload_signing_enabled": False}))
    light = light_put_for(client, "ml2p-test", environ={})
    assert light._signer.sign_payload is False
    request = light.signed("k", b"{}", "application/json")
    assert request.headers["X-Amz-Content-SHA256"] == "UNSIGNED-PAYLOAD"
    want = botocores(light, "k", b"{}", "application/json", client.meta.config)
    assert ours(light, "k", b"{}", "application/json", want["X-Amz-Date"]) == want
    light.put("k", b"{}", "application/json")
    assert s3.get_object(Bucket="ml2p-test", Key="k")["Body"].read() == b"{}"
