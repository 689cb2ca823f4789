"""ml2p.aws: one default boto3 session per process, clients made one at a time."""

from __future__ import annotations

import os
import threading
import time
import warnings

import pytest

from ml2p import aws


@pytest.fixture(autouse=True)
def _own_default_session(monkeypatch):
    """Each test starts without a default session and leaves none behind."""
    monkeypatch.setattr(aws, "_default", None)


@pytest.fixture
def aws_env(ml2p_s3, ml2p_aws):
    """The moto server's URL, with boto3's variables pointing at it and a bucket made."""
    return ml2p_aws


def service_description(client):
    return client.meta.service_model._service_description


def test_clients_share_the_default_session_and_its_loaded_service_models(aws_env):
    first = aws.client("s3")
    second = aws.client("s3")
    assert first is not second
    assert aws.session() is aws.session()
    # The service model was loaded once: a session of its own would load it again.
    assert service_description(first) is service_description(second)
    own = aws.client("s3", aws.session().__class__())
    assert service_description(own) is not service_description(first)
    assert {b["Name"] for b in first.list_buckets()["Buckets"]} == {"ml2p-test"}


def test_a_given_session_is_used_as_it_is(aws_env):
    import boto3

    given = boto3.session.Session()
    assert aws.session(given) is given
    assert aws.client("sagemaker", given).meta.region_name == "us-east-1"
    assert aws._default is None  # the default session was not needed


def test_the_endpoint_and_region_are_read_for_each_client(aws_env, monkeypatch):
    assert aws.client("s3").meta.endpoint_url == aws_env
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", "http://127.0.0.1:10")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    session = aws.session()
    s3 = aws.client("s3")
    sagemaker = aws.client("sagemaker")
    assert aws.session() is session  # the same session, reading the new values
    assert s3.meta.endpoint_url == "http://127.0.0.1:9"
    assert sagemaker.meta.endpoint_url == "http://127.0.0.1:10"
    assert sagemaker.meta.region_name == "eu-west-1"


@pytest.mark.parametrize("variable", ["AWS_ACCESS_KEY_ID", "AWS_PROFILE"])
def test_a_new_default_session_when_the_credentials_variables_change(
    aws_env, monkeypatch, tmp_path, variable
):
    credentials = tmp_path / "credentials"
    credentials.write_text("[other]\naws_access_key_id = other-key\naws_secret_access_key = s\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    before = aws.session()
    assert before.get_credentials().access_key == "testing"
    if variable == "AWS_PROFILE":
        for name in (
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_SECURITY_TOKEN",
        ):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_PROFILE", "other")
        expected = "other-key"
    else:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "rotated-key")
        expected = "rotated-key"
    after = aws.session()
    assert after is not before
    assert after.get_credentials().access_key == expected
    signer = aws.client("s3")._request_signer
    assert signer._credentials.access_key == expected


def test_clients_use_standard_retries():
    config = aws.client_config()
    assert config.retries == {"mode": "standard", "max_attempts": 5}
    assert config.max_pool_connections == 32
    assert aws.client_config(max_pool_connections=64).max_pool_connections == 64


def test_clients_made_on_many_threads_at_once_all_work(aws_env):
    services = ["s3", "sagemaker", "sagemaker-runtime", "logs"] * 4
    start = threading.Barrier(len(services))
    made = {}
    errors = []

    def make(index, service):
        try:
            start.wait(10)
            made[index] = aws.client(service)
        except Exception as exc:  # reported below with its thread
            errors.append((service, repr(exc)))

    threads = [threading.Thread(target=make, args=item) for item in enumerate(services)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(c.meta.service_model.service_name for c in made.values()) == sorted(services)
    assert made[0].list_buckets()["Buckets"][0]["Name"] == "ml2p-test"


def test_a_session_never_makes_two_clients_at_once(aws_env):
    import boto3

    class WatchedSession(boto3.session.Session):
        """A real session that notes how many of its clients are being made at once."""

        active = 0
        most = 0

        def client(self, *args, **kwargs):
            type(self).active += 1
            type(self).most = max(type(self).most, type(self).active)
            try:
                time.sleep(0.02)  # long enough for another thread to come in
                return super().client(*args, **kwargs)
            finally:
                type(self).active -= 1

    given = WatchedSession()
    threads = [threading.Thread(target=aws.client, args=("s3", given)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert WatchedSession.most == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_forked_while_the_lock_was_held_can_still_make_sessions():
    # gunicorn forks workers: a fork while a thread made a client must not
    # leave the child's lock held forever.
    with aws._lock:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads
            pid = os.fork()
        if pid == 0:  # the child: exit 0 if it gets a session
            try:
                aws.session()
                os._exit(0)
            except BaseException:
                os._exit(1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("the forked child never got the lock")
