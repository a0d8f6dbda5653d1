"""Shell globs for every name and workload filter, matched in linear time.

A glob is ``*`` (any run, also empty), ``?`` (one character), ``[...]`` (one character
of a class: ``[abc]``, ranges ``[a-z]``, negation ``[!abc]``, ``]`` first is literal, an
unclosed ``[`` is a literal ``[``) and literal characters otherwise: the semantics of
:func:`fnmatch.fnmatchcase`, which the property tests hold this module to.

Why not ``fnmatch`` or a translated Python regex: Python's ``re`` backtracks, so
``********!`` against a long name takes seconds to minutes; ``fnmatch`` scans classes
quadratically and caches 32,768 compiled patterns keyed by client input. Here a pattern
is parsed once, in one pass, into segments between stars; each segment has a fixed
length, so the leftmost place it fits is always the right one (no backtracking). The
work is at most ``len(name) * len(pattern)`` character comparisons, and patterns are
bounded by :data:`MAX_GLOB_CHARS`. Nothing is cached.

:meth:`Glob.re2` renders the same pattern as an anchored RE2 regex for SQL-side
filters (``match(subject, {pattern:String})``); RE2 runs in linear time.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadsense.errors import InvalidInput, shown

MAX_GLOB_CHARS = 512
"""Longest glob a client may send; longer ones are refused with 400."""


@dataclass(frozen=True)
class CharClass:
    """``[...]``: single characters and inclusive ranges, possibly negated."""

    chars: frozenset[str]
    ranges: tuple[tuple[str, str], ...]
    negated: bool

    def matches(self, ch: str) -> bool:
        inside = ch in self.chars or any(lo <= ch <= hi for lo, hi in self.ranges)
        return inside is not self.negated


ANY = None
"""The ``?`` token: any one character."""

Token = str | CharClass | None
"""One character position of a segment: a literal, a class or :data:`ANY`."""


@dataclass(frozen=True)
class Glob:
    """A parsed glob: segments between stars (``starred`` when there is any star)."""

    pattern: str
    segments: tuple[tuple[Token, ...], ...]
    starred: bool

    def match(self, name: str) -> bool:
        """Whether the whole of ``name`` matches."""
        return _match(self, name, None)

    def match_counting(self, name: str) -> tuple[bool, int]:
        """:meth:`match` and the number of character comparisons it made (for tests that
        check the work is bounded, without a timer)."""
        steps = [0]
        return _match(self, name, steps), steps[0]

    def re2(self) -> str:
        """An anchored RE2 regex (ClickHouse ``match``) matching exactly the same names."""
        parts = [_re2_segment(seg) for seg in self.segments]
        return "(?s)^" + ".*".join(parts) + "$"


def parse_glob(pattern: str, field: str) -> Glob:
    """Parse a client's glob, or :class:`InvalidInput` naming ``field`` if it is too long."""
    if len(pattern) > MAX_GLOB_CHARS:
        raise InvalidInput(
            f"{field}: a glob may have at most {MAX_GLOB_CHARS} characters, "
            f"got {len(pattern)} ({shown(pattern)})",
            field=field,
        )
    return compile_glob(pattern)


def compile_glob(pattern: str) -> Glob:
    """Parse ``pattern`` (any length: for operator-written configuration) in one pass."""
    closing = _next_closing(pattern)
    segments: list[tuple[Token, ...]] = []
    current: list[Token] = []
    starred = False
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            starred = True
            segments.append(tuple(current))
            current = []
        elif ch == "?":
            current.append(ANY)
        elif ch == "[":
            j = i
            if j < n and pattern[j] == "!":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            end = closing[j] if j < n else n
            if end >= n:
                current.append("[")  # unclosed: a literal, as fnmatch reads it
            else:
                current.append(_char_class(pattern, i, end))
                i = end + 1
        else:
            current.append(ch)
    segments.append(tuple(current))
    return Glob(pattern, tuple(segments), starred)


def _next_closing(pattern: str) -> list[int]:
    """For each index, the index of the next ``]`` at or after it (``len`` if none)."""
    n = len(pattern)
    out = [n] * (n + 1)
    for k in range(n - 1, -1, -1):
        out[k] = k if pattern[k] == "]" else out[k + 1]
    return out


def _char_class(pattern: str, start: int, end: int) -> CharClass:
    """The class whose body is ``pattern[start:end]`` (``!`` first negates).

    Read left to right: ``x-y`` is a range when a character follows the hyphen; an empty
    range (``z-a``) matches nothing; any other character stands for itself.
    """
    negated = pattern[start] == "!"
    k = start + 1 if negated else start
    chars: set[str] = set()
    ranges: list[tuple[str, str]] = []
    while k < end:
        if k + 2 < end and pattern[k + 1] == "-":
            lo, hi = pattern[k], pattern[k + 2]
            if lo <= hi:
                ranges.append((lo, hi))
            k += 3
        else:
            chars.add(pattern[k])
            k += 1
    return CharClass(frozenset(chars), tuple(ranges), negated)


def _fits(seg: tuple[Token, ...], name: str, at: int, steps: list[int] | None) -> bool:
    for offset, token in enumerate(seg):
        if steps is not None:
            steps[0] += 1
        ch = name[at + offset]
        if token is ANY:
            continue
        if isinstance(token, CharClass):
            if not token.matches(ch):
                return False
        elif token != ch:
            return False
    return True


def _literal(seg: tuple[Token, ...]) -> str | None:
    if all(isinstance(t, str) for t in seg):
        return "".join(t for t in seg if isinstance(t, str))
    return None


def _find(seg: tuple[Token, ...], name: str, start: int, stop: int, steps: list[int] | None) -> int:
    """Leftmost index in ``[start, stop]`` where ``seg`` fits, or -1."""
    text = _literal(seg)
    if text is not None and steps is None:
        return name.find(text, start, stop + len(seg))
    for at in range(start, stop + 1):
        if _fits(seg, name, at, steps):
            return at
    return -1


def _match(glob: Glob, name: str, steps: list[int] | None) -> bool:
    segs = glob.segments
    if not glob.starred:
        seg = segs[0]
        return len(seg) == len(name) and _fits(seg, name, 0, steps)
    head, middle, tail = segs[0], segs[1:-1], segs[-1]
    if len(head) + len(tail) > len(name):
        return False
    if not _fits(head, name, 0, steps):
        return False
    tail_at = len(name) - len(tail)
    pos = len(head)
    for seg in middle:
        if not seg:
            continue
        found = _find(seg, name, pos, tail_at - len(seg), steps)
        if found < 0:
            return False
        pos = found + len(seg)
    return _fits(tail, name, tail_at, steps)


def _re2_char(ch: str) -> str:
    # Letters and digits as themselves (the engine prefilters on literal runs), anything
    # else by code point, so no character can mean syntax.
    return ch if ch.isascii() and ch.isalnum() else f"\\x{{{ord(ch):x}}}"


def _re2_segment(seg: tuple[Token, ...]) -> str:
    out: list[str] = []
    for token in seg:
        if token is ANY:
            out.append(".")
        elif isinstance(token, CharClass):
            items = [_re2_char(c) for c in sorted(token.chars)]
            items += [f"{_re2_char(lo)}-{_re2_char(hi)}" for lo, hi in token.ranges]
            if not items:
                out.append("." if token.negated else "[^\\x{0}-\\x{10ffff}]")
            else:
                out.append(f"[{'^' if token.negated else ''}{''.join(items)}]")
        else:
            out.append(_re2_char(token))
    return "".join(out)
