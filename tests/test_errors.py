"""ml2p.errors: the exceptions of ML2P 0.6 at their 0.6 paths, with their 0.6 signatures."""

from __future__ import annotations

import json

import pytest

from ml2p import errors, naming
from ml2p.errors import (
    APIError,
    ClientError,
    ConfigError,
    LocalEnvError,
    ML2PError,
    NamingError,
    ServerError,
)


@pytest.mark.parametrize(
    "details, expected",
    [
        (None, []),
        ("one reason", ["one reason"]),
        (["a", "b"], ["a", "b"]),
        ({"field": "x"}, {"field": "x"}),
    ],
)
def test_api_error_details_are_normalised(details, expected):
    exc = APIError("bad", details)
    assert exc.details == expected
    assert exc.to_dict() == {"message": "bad", "details": expected}


def test_api_error_positional_order_is_message_details_status():
    exc = APIError("gone", "it was removed", 410)
    assert (exc.message, exc.details, exc.code, exc.status_code) == (
        "gone",
        ["it was removed"],
        410,
        410,
    )
    assert str(exc) == "gone"


@pytest.mark.parametrize("cls, code", [(APIError, 500), (ServerError, 500), (ClientError, 400)])
def test_default_status_codes(cls, code):
    exc = cls("message")
    assert exc.code == exc.status_code == code
    assert exc.details == []
    assert isinstance(exc, APIError) and isinstance(exc, ML2PError)


def test_status_code_keyword_overrides_the_class_default():
    exc = ClientError("nope", status_code=422, details={"field": "x"})
    assert exc.code == 422 and exc.status_code == 422
    assert ClientError("again").code == 400  # the class default is untouched


@pytest.mark.parametrize("attribute", ["code", "status_code"])
def test_subclass_default_status_under_either_name(attribute):
    cls = type("Teapot", (ClientError,), {attribute: 418})
    exc = cls("short and stout")
    assert exc.code == exc.status_code == 418
    assert cls("x", status_code=409).status_code == 409


def test_error_body_is_json_with_details():
    body = json.loads(json.dumps(ServerError("down", ["retry later"]).to_dict()))
    assert body == {"message": "down", "details": ["retry later"]}


def test_naming_error_lives_in_errors_and_naming():
    assert naming.NamingError is NamingError is errors.NamingError
    with pytest.raises(NamingError, match="model names must be"):
        naming.validate_name("model", "not a model")


def test_config_error_takes_a_message_alone():
    exc = ConfigError("project is missing")
    assert str(exc) == "project is missing" and isinstance(exc, ML2PError)


def test_local_env_error_is_an_ml2p_error():
    assert issubclass(LocalEnvError, ML2PError)
