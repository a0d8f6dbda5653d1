"""The glob matcher (loadsense/globs.py): fnmatch's semantics in linear time.

Agreement is checked against :func:`fnmatch.fnmatchcase` (the reference) on small
alphabets that make classes, ranges and stars collide; linearity by counting character
comparisons on adversarial inputs, never by a timer. The RE2 rendering is checked
against the engine that runs it (chDB's ``match``).
"""

from __future__ import annotations

import fnmatch

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from loadsense.errors import InvalidInput
from loadsense.globs import MAX_GLOB_CHARS, compile_glob, parse_glob
from loadsense.storage.client import Storage


def _reversed_range(pattern: str) -> bool:
    """Whether ``pattern`` may hold an empty range such as ``z-a``. fnmatch drops such
    a range by splicing its neighbours, which can turn a literal ``!`` into a negation
    (``[[-?!]`` matches any character); we read an empty range as matching nothing and
    test that on its own."""
    return any(
        pattern[i + 1] == "-" and pattern[i] > pattern[i + 2] for i in range(len(pattern) - 2)
    )


PATTERN_CHARS = st.sampled_from([*"ab*?[]!-^\\", "z"])
NAME_CHARS = st.sampled_from(list("ab-]![\\^z\n"))


@settings(max_examples=3000, deadline=None)
@given(st.text(PATTERN_CHARS, max_size=10), st.text(NAME_CHARS, max_size=8))
@example("[]a]", "]")
@example("[!]a]", "b")
@example("[a-]", "-")
@example("a--b", "a--b")
@example("[[]", "[")
@example("[", "[")
@example("*[", "x[")
@example("?", "\n")
def test_agrees_with_fnmatch(pattern: str, name: str) -> None:
    assume(not _reversed_range(pattern))
    assert compile_glob(pattern).match(name) is fnmatch.fnmatchcase(name, pattern)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=12), st.text(max_size=12))
def test_agrees_with_fnmatch_on_any_characters(pattern: str, name: str) -> None:
    assume(not _reversed_range(pattern))
    assert compile_glob(pattern).match(name) is fnmatch.fnmatchcase(name, pattern)


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("[z-a]", "m", False),  # an empty range matches nothing...
        ("[!z-a]", "m", True),  # ...so its negation matches anything
        ("[z-ab]", "b", True),
        ("[z-ab]", "a", False),
        ("[[-?!]", "[", False),  # fnmatch: True (its splice makes '!' a negation)
        ("[[-?!]", "!", True),
        ("[b-a-c]", "-", True),  # b-a is empty; '-' and 'c' stand for themselves
        ("[b-a-c]", "c", True),
    ],
)
def test_an_empty_range_matches_nothing(pattern: str, name: str, matches: bool) -> None:
    assert compile_glob(pattern).match(name) is matches


def _steps(pattern: str, name: str) -> int:
    matched, steps = compile_glob(pattern).match_counting(name)
    assert matched is fnmatch.fnmatchcase(name, pattern) if len(name) < 2000 else True
    return steps


@pytest.mark.parametrize(
    "pattern",
    [
        "********!",  # attack row 1: each star a backtracking point for a regex
        "*a*a*a*a*a*a*a*a*b",
        "*?a?a?a?a?b*",
        "*[ab]*[ab]*[ab]*c",
        "a*" * 20 + "c",
    ],
)
def test_work_is_linear_in_the_name(pattern: str) -> None:
    # Doubling the name at most doubles the comparisons (plus a constant of the pattern),
    # and every comparison is bounded by len(name) * len(pattern).
    short, long = "a" * 2_000, "a" * 4_000
    s1, s2 = _steps(pattern, short), _steps(pattern, long)
    assert s2 <= 2 * s1 + len(pattern) ** 2
    assert s2 <= len(long) * len(pattern)


def test_a_run_of_brackets_is_parsed_in_one_pass() -> None:
    # Attack row 3: fnmatch rescans for ']' after every '[' (quadratic). Here each '['
    # is one token, and matching a name of 8000 '[' compares each character once.
    pattern = "[" * 8000
    glob = compile_glob(pattern)
    assert len(glob.segments[0]) == 8000
    matched, steps = glob.match_counting("[" * 8000)
    assert matched
    assert steps == 8000


def test_a_glob_longer_than_the_bound_is_refused() -> None:
    assert parse_glob("a" * MAX_GLOB_CHARS, "name").match("a" * MAX_GLOB_CHARS)
    with pytest.raises(
        InvalidInput, match=r"name: a glob may have at most 512 characters, got 513"
    ):
        parse_glob("a" * (MAX_GLOB_CHARS + 1), "name")


def test_the_refusal_echoes_only_a_prefix() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_glob("x" * 60_000, "workload")
    assert len(info.value.message) < 200
    assert info.value.field == "workload"


@settings(max_examples=200, deadline=None)
@given(st.text(PATTERN_CHARS, max_size=8), st.lists(st.text(NAME_CHARS, max_size=6), max_size=8))
@example("*", ["", "\n"])
@example("[z-a]", ["m"])
@example("[!z-a]", ["m", "\n"])
def test_the_re2_rendering_agrees_in_the_engine(
    storage: Storage, pattern: str, names: list[str]
) -> None:
    regex = compile_glob(pattern).re2()
    rows = storage.client.query(
        "SELECT arrayMap(n -> match(n, {re:String}), {names:Array(String)})",
        parameters={"re": regex, "names": names},
    ).result_rows
    got = [bool(v) for v in rows[0][0]]
    assert got == [fnmatch.fnmatchcase(n, pattern) for n in names]
