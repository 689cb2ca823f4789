"""Tests for ml2p.hyperparameters."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ml2p import hyperparameters
from ml2p.errors import HyperparameterError
from ml2p.hyperparameters import (
    MAX_KEY_LENGTH,
    MAX_KEYS,
    MAX_VALUE_LENGTH,
    HyperParameterEncodingError,
    decode,
    encode,
)


def test_limits_match_sagemaker():
    assert MAX_KEYS == 100
    assert MAX_KEY_LENGTH == 256
    assert MAX_VALUE_LENGTH == 256
    assert issubclass(HyperparameterError, ValueError)


def test_the_ml2p_0_6_name_of_the_error():
    assert HyperParameterEncodingError is HyperparameterError
    with pytest.raises(HyperParameterEncodingError):
        encode({"a.b": 1})


# --- Bad input to encode ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"a.b": 1}, "'a.b'"),
        ({"outer": {"in.ner": 1}}, "'in.ner'"),
        ({".": 1}, "'.'"),
        ({"x": {"y": {"z.": 1}}}, "'x.y'"),
    ],
)
def test_encode_refuses_dotted_keys(params, named):
    with pytest.raises(HyperparameterError, match=r"contains '\.'") as info:
        encode(params)
    assert named in str(info.value)


@pytest.mark.parametrize(
    ("params", "encoded"),
    [
        ({"": 1}, {"": "1"}),
        ({"outer": {"": 1}}, {"outer.": "1"}),
        ({"a": {"": {"b": 2}}}, {"a..b": "2"}),
    ],
)
def test_empty_keys_round_trip_as_in_ml2p_0_6(params, encoded):
    assert encode(params) == encoded
    assert decode(encoded) == params


@pytest.mark.parametrize("key", [1, None, ("a",), b"a"])
def test_encode_refuses_keys_that_are_not_str(key):
    with pytest.raises(HyperparameterError, match="not a str") as info:
        encode({"outer": {key: 1}})
    assert repr(key) in str(info.value)
    assert "'outer'" in str(info.value)


@pytest.mark.parametrize(
    "value",
    [object(), {1, 2}, b"bytes", [1, object()]],
    ids=["object", "set", "bytes", "list-of-object"],
)
def test_encode_refuses_values_that_are_not_json(value):
    with pytest.raises(HyperparameterError, match="cannot be encoded as JSON") as info:
        encode({"outer": {"bad_value": value}})
    assert "'outer.bad_value'" in str(info.value)


def test_encode_refuses_a_mapping_that_contains_itself():
    params: dict = {"a": 1}
    params["loop"] = {"again": params}
    with pytest.raises(HyperparameterError, match="contains itself"):
        encode(params)


def test_encode_refuses_a_list_that_contains_itself():
    value: list = []
    value.append(value)
    with pytest.raises(HyperparameterError, match="'circular'"):
        encode({"circular": value})


def test_encode_refuses_params_that_are_not_a_mapping():
    with pytest.raises(HyperparameterError, match="mapping"):
        encode([("a", 1)])  # type: ignore[arg-type]


# --- Limits, hit exactly at the boundary ------------------------------------------------


def test_key_of_the_maximum_length_is_accepted():
    key = "k" * MAX_KEY_LENGTH
    assert encode({key: 1}) == {key: "1"}


def test_key_one_longer_than_the_maximum_is_refused():
    key = "k" * (MAX_KEY_LENGTH + 1)
    with pytest.raises(HyperparameterError) as info:
        encode({key: 1})
    message = str(info.value)
    assert repr(key) in message
    assert "257" in message
    assert "256" in message


def test_the_key_limit_applies_to_the_dotted_key():
    # "a" + "." + 254 characters = 256: accepted.
    assert encode({"a": {"b" * 254: 1}}) == {"a." + "b" * 254: "1"}
    with pytest.raises(HyperparameterError) as info:
        encode({"a": {"b" * 255: 1}})
    assert repr("a." + "b" * 255) in str(info.value)
    assert "257" in str(info.value)


def test_value_of_the_maximum_length_is_accepted():
    # json.dumps adds two quotes around a string.
    value = "v" * (MAX_VALUE_LENGTH - 2)
    encoded = encode({"name": value})
    assert encoded == {"name": json.dumps(value)}
    assert len(encoded["name"]) == MAX_VALUE_LENGTH


def test_value_one_longer_than_the_maximum_is_refused():
    value = "v" * (MAX_VALUE_LENGTH - 1)
    with pytest.raises(HyperparameterError) as info:
        encode({"outer": {"name": value}})
    message = str(info.value)
    assert "'outer.name'" in message
    assert "257" in message
    assert "256" in message


def test_value_limit_counts_the_encoded_characters():
    # Each non-ASCII character is escaped as \uXXXX by json.dumps: 6 characters.
    assert len(encode({"k": "é" * 42})["k"]) == 2 + 42 * 6
    with pytest.raises(HyperparameterError, match="'k'"):
        encode({"k": "é" * 43})


def test_the_maximum_number_of_keys_is_accepted():
    params = {f"key{i}": i for i in range(MAX_KEYS)}
    assert len(encode(params)) == MAX_KEYS


def test_one_key_more_than_the_maximum_is_refused():
    params = {f"key{i}": i for i in range(MAX_KEYS + 1)}
    with pytest.raises(HyperparameterError) as info:
        encode(params)
    assert "101" in str(info.value)
    assert "100" in str(info.value)


def test_the_key_count_is_of_flattened_keys():
    params = {"group": {f"key{i}": i for i in range(MAX_KEYS)}}
    assert len(encode(params)) == MAX_KEYS
    params["other"] = 1
    with pytest.raises(HyperparameterError, match="101"):
        encode(params)


# --- Bad input to decode ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("hyperparameters", "first", "second"),
    [
        ({"a": "1", "a.b": "2"}, "'a'", "'a.b'"),
        ({"a.b": "2", "a": "1"}, "'a'", "'a.b'"),
        ({"a.b.c": "1", "a.b": "2"}, "'a.b'", "'a.b.c'"),
        ({"a.b": "2", "a.b.c.d": "1"}, "'a.b'", "'a.b.c.d'"),
        # An empty dict stored as a value still conflicts with nested keys.
        ({"a": "{}", "a.b": "2"}, "'a'", "'a.b'"),
        ({"a": '{"b": 1}', "a.c": "2"}, "'a'", "'a.c'"),
    ],
)
def test_decode_refuses_conflicting_keys(hyperparameters, first, second):
    with pytest.raises(HyperparameterError, match="conflict") as info:
        decode(hyperparameters)
    assert first in str(info.value)
    assert second in str(info.value)
    # ML2P 0.6 failed here with a TypeError: code catching that still does.
    assert isinstance(info.value, TypeError)


@pytest.mark.parametrize(
    ("key", "decoded"),
    [
        ("", {"": 1}),
        (".", {"": {"": 1}}),
        ("a..b", {"a": {"": {"b": 1}}}),
        (".a", {"": {"a": 1}}),
        ("a.", {"a": {"": 1}}),
    ],
)
def test_decode_reads_empty_key_parts_as_empty_keys(key, decoded):
    assert decode({key: "1"}) == decoded


def test_nan_and_infinities_round_trip_as_in_ml2p_0_6():
    encoded = encode({"nan": math.nan, "inf": math.inf, "ninf": -math.inf, "l": [math.inf]})
    assert encoded == {"nan": "NaN", "inf": "Infinity", "ninf": "-Infinity", "l": "[Infinity]"}
    decoded = decode(encoded)
    assert math.isnan(decoded["nan"])
    assert decoded["inf"] == math.inf and decoded["ninf"] == -math.inf
    assert decoded["l"] == [math.inf]


def test_decode_refuses_values_that_are_not_str():
    with pytest.raises(HyperparameterError, match=r"'a\.b'") as info:
        decode({"a.b": 1})  # type: ignore[dict-item]
    assert isinstance(info.value, TypeError)  # as ML2P 0.6's json.loads(1) raised


def test_decode_refuses_keys_that_are_not_str():
    with pytest.raises(HyperparameterError, match="not a str"):
        decode({1: "1"})  # type: ignore[dict-item]


def test_decode_refuses_input_that_is_not_a_mapping():
    with pytest.raises(HyperparameterError, match="mapping"):
        decode([("a", "1")])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "raw",
    ["hello", "hello world", "", "'single'", "{not json", "1.2.3", "nan", "inf"],
)
def test_decode_refuses_values_that_are_not_json(raw):
    with pytest.raises(json.JSONDecodeError) as info:
        decode({"ok": "1", "ML2P_ENV.name": raw})
    # Also caught as ML2P's own error and as a ValueError, and it names the key.
    assert isinstance(info.value, HyperparameterError)
    assert isinstance(info.value, ValueError)
    assert "'ML2P_ENV.name'" in str(info.value)
    assert info.value.doc == raw


# --- Good input -----------------------------------------------------------------------


def test_encode_example():
    assert encode({"ML2P_ENV": {"ML2P_PROJECT": "p"}}) == {"ML2P_ENV.ML2P_PROJECT": '"p"'}


def test_encode_keeps_json_types():
    encoded = encode(
        {
            "s": "text",
            "i": 3,
            "f": 0.5,
            "t": True,
            "n": None,
            "l": [1, "two", {"three": 3}],
            "e": {},
            "nested": {"deeper": {"x": False}},
        }
    )
    assert encoded == {
        "s": '"text"',
        "i": "3",
        "f": "0.5",
        "t": "true",
        "n": "null",
        "l": '[1, "two", {"three": 3}]',
        "e": "{}",
        "nested.deeper.x": "false",
    }


def test_decode_example():
    decoded = decode(
        {
            "ML2P_ENV.ML2P_PROJECT": '"p"',
            "ML2P_ENV.count": "3",
            "epochs": "10",
            "flag": "true",
            "nothing": "null",
            "layers": "[64, 32]",
            "empty": "{}",
        }
    )
    assert decoded == {
        "ML2P_ENV": {"ML2P_PROJECT": "p", "count": 3},
        "epochs": 10,
        "flag": True,
        "nothing": None,
        "layers": [64, 32],
        "empty": {},
    }


def test_encode_and_decode_do_not_change_their_input():
    params = {"a": {"b": [1, 2]}}
    encoded = encode(params)
    assert params == {"a": {"b": [1, 2]}}
    snapshot = dict(encoded)
    decode(encoded)
    assert encoded == snapshot


def test_encode_and_decode_empty():
    assert encode({}) == {}
    assert decode({}) == {}


# --- Round trip -----------------------------------------------------------------------

_KEYS = st.text(max_size=12).filter(lambda key: "." not in key)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**12), max_value=10**12)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
)
_JSON = st.recursive(
    _SCALARS,
    lambda children: (
        # A non-empty dict is nested settings wherever it appears, so its keys follow the rules.
        st.lists(children, max_size=3) | st.dictionaries(_KEYS, children, max_size=3)
    ),
    max_leaves=6,
)
_PARAMS = st.recursive(
    st.dictionaries(_KEYS, _JSON, max_size=5),
    lambda children: st.dictionaries(_KEYS, children | _JSON, max_size=4),
    max_leaves=8,
)


def _leaves(params: dict, prefix: str = "") -> list[tuple[str, str]]:
    """Independently list the (dotted key, JSON) leaves, to keep examples within the limits."""
    found = []
    for key, value in params.items():
        path = prefix + key
        if isinstance(value, dict) and value:
            found.extend(_leaves(value, path + "."))
        else:
            found.append((path, json.dumps(value)))
    return found


@given(_PARAMS)
def test_decode_inverts_encode(params):
    leaves = _leaves(params)
    assume(len(leaves) <= MAX_KEYS)
    assume(all(len(key) <= MAX_KEY_LENGTH for key, _ in leaves))
    assume(all(len(value) <= MAX_VALUE_LENGTH for _, value in leaves))
    encoded = encode(params)
    assert all(isinstance(key, str) and isinstance(value, str) for key, value in encoded.items())
    assert len(encoded) == len(leaves)
    assert decode(encoded) == params


@given(st.dictionaries(_KEYS, st.text(max_size=20), max_size=10))
def test_every_string_value_survives_a_round_trip(params):
    # Encoded, 20 characters take at most 20 * 12 + 2 = 242 (astral ones become two \uXXXX).
    assert decode(encode(params)) == params


def test_module_exports():
    assert set(hyperparameters.__all__) >= {"encode", "decode", "MAX_KEYS"}


def test_dicts_inside_lists_are_plain_json():
    # Only dicts directly under dicts are flattened; keys inside lists are unrestricted.
    params = {"l": [{"": 1, "a.b": {"c": 2}}]}
    encoded = encode(params)
    assert encoded == {"l": '[{"": 1, "a.b": {"c": 2}}]'}
    assert decode(encoded) == params


def test_decode_takes_ml2p_0_6s_keyword():
    assert decode(params={"a.b": "1"}) == {"a": {"b": 1}}
