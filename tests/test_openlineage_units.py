"""Pure parts of the OpenLineage receiver with adversarial inputs: time parsing, the batch
splitter, identities and the symlink rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from loadsense.collectors.openlineage import facets
from loadsense.collectors.openlineage.normalise import event_key
from loadsense.collectors.openlineage.receiver import LineageReceiver, split_array
from loadsense.collectors.openlineage.validate import Checked
from loadsense.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from loadsense.instants import TimeFormatError, rfc3339_ns


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-01T00:00:00.000000001Z", 1),
        ("1970-01-01T00:00:00.1234567891234Z", 123_456_789),  # beyond ns: truncated
        ("1970-01-01T01:00:00+01:00", 0),
        ("1969-12-31T23:00:00-01:00", 0),
        ("1970-01-01t00:00:01z", 1_000_000_000),  # RFC 3339 allows lower-case t and z
        ("1970-01-01 00:00:01Z", 1_000_000_000),  # ...and a space, for readability
        # 07:00:15.5 UTC; datetime(2024, 2, 29, 7, 0, 15, tzinfo=UTC).timestamp() == 1709190015
        ("2024-02-29T12:30:15.5+05:30", 1709190015_500_000_000),
    ],
)
def test_rfc3339_exact_nanoseconds(text: str, expected: int) -> None:
    assert rfc3339_ns(text) == expected


def test_rfc3339_agrees_with_datetime_to_the_microsecond() -> None:
    start = datetime(2001, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
    for days in range(0, 9000, 97):
        for offset_min in (-720, -90, 0, 330, 840):
            tz = timezone(timedelta(minutes=offset_min))
            moment = (start + timedelta(days=days, seconds=days * 37)).astimezone(tz)
            seconds, micros = divmod(int(moment.timestamp() * 1e6 + 0.5), 1_000_000)
            assert rfc3339_ns(moment.isoformat()) == seconds * 10**9 + micros * 1000


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01T12:00:00",  # no offset: ambiguous
        "2024-05-01",
        "2024-05-01T24:00:00Z",
        "2024-05-01T12:60:00Z",
        "2024-05-01T12:00:60Z",  # leap seconds are not representable
        "2024-13-01T12:00:00Z",
        "2023-02-29T12:00:00Z",
        "2024-05-01T12:00:00+24:00",
        "2024-05-01T12:00:00.Z",
        "2024-05-01T12:00:00Z ",
        "\uff12\uff10\uff12\uff14-05-01T12:00:00Z",  # full-width digits: int() reads them
        "",
    ],
)
def test_rfc3339_rejects(text: str) -> None:
    with pytest.raises(TimeFormatError):
        rfc3339_ns(text)


@pytest.mark.parametrize(
    ("text", "raws"),
    [
        ("[]", []),
        (" \n[ ] \t", []),
        ('[{"a": "],["}]', ['{"a": "],["}']),
        ('[1,"x",[2,[3]] , {"k":[]}]', ["1", '"x"', "[2,[3]]", '{"k":[]}']),
        ('\n [\n{"a":1}\n,\n{"b":2}\n]\n', ['{"a":1}', '{"b":2}']),
    ],
)
def test_split_array_keeps_each_elements_source(text: str, raws: list[str]) -> None:
    items = split_array(text, 100)
    assert [raw for _, raw in items] == raws
    assert [obj for obj, _ in items] == [json.loads(r) for r in raws]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "JSON array"),
        ("{}", "JSON array"),
        ("[1,]", "invalid JSON"),
        ("[1 2]", "expected ',' or ']'"),
        ("[1] [2]", "expected end of body"),
        ("[1", "expected ',' or ']'"),
        ("[", "invalid JSON"),
        ('[{"a": NaNa}]', "invalid JSON"),
        ("[" * 50_000 + "]" * 50_000, "nested too deeply"),
    ],
)
def test_split_array_refuses(text: str, words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        split_array(text, 100)


def test_split_array_stops_at_the_limit() -> None:
    with pytest.raises(PayloadTooLarge, match="at most 3 events"):
        split_array("[1,2,3,4," + "x" * 10, 3)  # refused before the malformed tail is read
    assert len(split_array("[1,2,3]", 3)) == 3


def test_receiver_accepts_bom_and_json_suffix_media_types() -> None:
    receiver = LineageReceiver()
    with pytest.raises(UnsupportedMediaType):
        receiver.decode_batch(b"[]", "application/x-www-form-urlencoded", 0)
    assert (
        receiver.decode_batch(b"\xef\xbb\xbf[]", "application/vnd.openlineage+json", 0).received
        == 0
    )
    assert receiver.decode_batch(b"[]", "", 0).received == 0


def _checked(kind: str, ns: str, name: str) -> Checked:
    job = (ns, name) if kind == "job" else ("", "")
    ds = (ns, name) if kind == "dataset" else ("", "")
    return Checked(kind, {}, "", 5, "", "", *job, *ds, "p", "s", [], [])


def test_event_keys_cannot_collide_across_namespace_and_name() -> None:
    pairs = [("a/b", "c"), ("a", "b/c"), ("a|b", "c"), ("a", "b|c"), ("1:a", "b"), ("", "1:ab")]
    for kind in ("job", "dataset"):  # the sorting key is (kind, event_key)
        assert len({event_key(_checked(kind, ns, name)) for ns, name in pairs}) == len(pairs)


def _ds(symlinks: Any) -> dict[str, Any]:
    return {"namespace": "hdfs://nn", "name": "/w/t", "facets": {"symlinks": symlinks}}


@pytest.mark.parametrize(
    ("symlinks", "expected"),
    [
        (None, ("hdfs://nn", "/w/t")),
        ({"identifiers": []}, ("hdfs://nn", "/w/t")),
        (
            {"identifiers": [{"namespace": "s3://b", "name": "t", "type": "LOCATION"}]},
            ("hdfs://nn", "/w/t"),
        ),
        (
            {"identifiers": [{"namespace": "hive://m", "name": "db.t", "type": "TABLE"}]},
            ("hive://m", "db.t"),
        ),
        (
            {
                "identifiers": [
                    {"namespace": "hive://m", "name": "db.z", "type": "TABLE"},
                    {"namespace": "hive://m", "name": "db.a", "type": "Table"},
                ]
            },
            ("hive://m", "db.a"),
        ),
        ({"identifiers": [{"namespace": "hive://m", "type": "TABLE"}]}, ("hdfs://nn", "/w/t")),
        ({"identifiers": "hive://m/db.t"}, ("hdfs://nn", "/w/t")),
        ({"identifiers": [None, 3, {"type": None}]}, ("hdfs://nn", "/w/t")),
    ],
    ids=[
        "none",
        "empty",
        "location only",
        "table",
        "smallest table",
        "incomplete",
        "junk",
        "junk items",
    ],
)
def test_symlink_rule(symlinks: Any, expected: tuple[str, str]) -> None:
    ds = _ds(symlinks)
    if symlinks is None:
        del ds["facets"]["symlinks"]
    assert facets.identity(ds, ds["facets"]) == expected


def test_nested_schema_fields_are_flattened_in_order() -> None:
    schema = {
        "fields": [
            {"name": "a", "type": "INT"},
            {
                "name": "s",
                "type": "STRUCT",
                "fields": [{"name": "x"}, {"name": "y", "fields": [{"name": "z", "type": "T"}]}],
            },
            None,
            {"type": "nameless"},
            {"name": "b", "type": "STRING"},
        ]
    }
    assert facets.schema_fields({"schema": schema}) == (
        ["a", "s", "s.x", "s.y", "s.y.z", "b"],
        ["INT", "STRUCT", "", "", "T", "STRING"],
    )


def test_malformed_known_facets_are_ignored_not_fatal() -> None:
    run_facets = {
        "nominalTime": {"nominalStartTime": "soon"},
        "parent": {"run": "x"},
        "errorMessage": 3,
    }
    assert facets.nominal_time(run_facets) == (None, None)
    assert facets.parent(run_facets) == ("", "", "")
    assert facets.error_message(run_facets) == ""
    ds = {
        "namespace": "n",
        "name": "x",
        "outputFacets": {"outputStatistics": {"rowCount": True, "size": -1, "fileCount": 2**70}},
    }
    assert facets.output_statistics(ds) == (None, None, None)
    ds["inputFacets"] = {
        "dataQualityAssertions": {
            "assertions": [{"assertion": "a"}, {"assertion": "b", "success": False}]
        }
    }
    assert facets.assertions(ds) == [("b", "", False, "")]
