"""Record times: ids, capture lines and user bounds all compare in one fixed-width form."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml2p.record_ids import utc_timestamp
from ml2p.records.times import id_time, normal_time, parse_when, posix_time

NOW = 1796121909.25  # 2026-12-01T10:45:09.250000Z


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "2026-13-01",
        "2026-13-01T00:00:00",
        "7 days",
        "12x",
        "",
        "2026-12-01T25:00",
        None,
        True,
        [1],
    ],
)
def test_bad_bounds_are_refused_with_the_accepted_forms(value):
    with pytest.raises(ValueError, match="is not a time: give an ISO 8601 date or time"):
        parse_when(value, now=NOW)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2026-12-01", "2026-12-01T00:00:00.000000Z"),
        ("2026-12-01T08:30", "2026-12-01T08:30:00.000000Z"),
        ("2026-12-01T08:30:26.5", "2026-12-01T08:30:26.500000Z"),
        ("2026-12-01T08:30:26Z", "2026-12-01T08:30:26.000000Z"),
        ("2026-12-01T10:30:26+02:00", "2026-12-01T08:30:26.000000Z"),
        ("90m", "2026-12-01T09:15:09.250000Z"),
        ("1d", "2026-11-30T10:45:09.250000Z"),
        ("2w", "2026-11-17T10:45:09.250000Z"),
        (datetime.date(2026, 12, 1), "2026-12-01T00:00:00.000000Z"),
        (datetime.datetime(2026, 12, 1, 8, 30), "2026-12-01T08:30:00.000000Z"),
        (
            datetime.datetime(
                2026, 12, 1, 9, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=1))
            ),
            "2026-12-01T08:30:00.000000Z",
        ),
        (NOW, "2026-12-01T10:45:09.250000Z"),
    ],
)
def test_bounds(value, expected):
    assert parse_when(value, now=NOW) == expected


@pytest.mark.parametrize(
    "record_id, expected",
    [
        ("ts-2026-12-01T08:30:26.280685--uuid-x", "2026-12-01T08:30:26.280685Z"),
        ("ts-2026-12-01T08:30:26--uuid-x", "2026-12-01T08:30:26.000000Z"),
        ("ts-2026-12-01T08:30:26.280685", "2026-12-01T08:30:26.280685Z"),
        ("customer-42--ts-2026-12-01T08:30:26.5--uuid-x", "2026-12-01T08:30:26.500000Z"),
        ("customer-42--uuid-x", None),
        ("ts-soon--uuid-x", None),
        ("its-2026-12-01T08:30:26--uuid-x", None),
        ("ts-2026-12-01T08:30:26.280685x--uuid", None),
    ],
)
def test_time_of_a_record_id(record_id, expected):
    assert id_time(record_id) == expected


@given(st.floats(min_value=0, max_value=4e9), st.floats(min_value=0, max_value=4e9))
def test_fixed_width_text_compares_as_the_times_do(a, b):
    # utc_timestamp drops a zero fraction, so its texts do not compare as times; these do.
    ta, tb = posix_time(a), posix_time(b)
    da = datetime.datetime.fromisoformat(utc_timestamp(a))
    db = datetime.datetime.fromisoformat(utc_timestamp(b))
    assert len(ta) == len(tb) == 27
    assert (ta < tb) == (da < db) and (ta == tb) == (da == db)
    assert id_time(f"ts-{utc_timestamp(a)}--uuid-u") == ta
    assert normal_time(utc_timestamp(a) + "Z") == ta
