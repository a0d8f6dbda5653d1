"""The Go-template subset Prometheus rule labels and annotations use, compiled at load.

Supported inside ``{{ ... }}`` (``{{-``/``-}}`` trim spaces as in Go):

- values: ``$labels.<name>`` / ``.Labels.<name>`` (empty when the label is missing, as
  Prometheus' ``missingkey=zero``), ``$value`` / ``.Value``, ``"string"`` literals and
  numbers;
- functions, called as ``fn arg`` or in a pipeline ``arg | fn``: ``humanize``,
  ``humanizeDuration``, ``humanizePercentage``, ``printf "<format>" args...``
  (``%s %d %f %g %e %v`` with flags, width and precision), ``toUpper``, ``toLower``.

Anything else is a :class:`TemplateError` when the rule file loads, never at
evaluation. Numbers print as Go prints a ``float64`` (``1e+06``, ``0.25``), and the
``humanize*`` functions follow Prometheus' ``template.go`` to the character, so an
annotation reads the same from Loadsense and from Prometheus.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from loadsense.errors import LoadsenseError


class TemplateError(LoadsenseError):
    code = "bad_template"


@dataclass(frozen=True)
class TemplateData:
    labels: Mapping[str, str]
    value: float


Piece = Callable[[TemplateData], str]
Arg = Callable[[TemplateData], object]

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_PRINTF_VERB = re.compile(r"%[-+# 0]*\d*(?:\.\d+)?[sdfgevqxX%]")


def go_float(v: float) -> str:
    """``fmt.Sprint(v)`` for a Go ``float64``: the shortest digits that round-trip, in
    ``%e`` form when the decimal exponent is < -4 or >= 6 (``strconv``'s shortest
    ``'g'``): ``1e+06``, ``123456``, ``1e-05``."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "-0" if math.copysign(1, v) < 0 else "0"
    d = Decimal(repr(v))
    sign, digits, _ = d.as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    exp = d.adjusted()
    prefix = "-" if sign else ""
    if exp < -4 or exp >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return f"{prefix}0.{'0' * (-exp - 1)}{text}"
    if len(text) <= exp + 1:
        return prefix + text + "0" * (exp + 1 - len(text))
    return f"{prefix}{text[: exp + 1]}.{text[exp + 1 :]}"


def _g4(v: float) -> str:
    """Go's ``%.4g`` (Python's matches it, including ``e+06``)."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return f"{v:.4g}"


def _number(x: object) -> float:
    if isinstance(x, bool):
        raise TemplateError(f"expected a number, got {x!r}")
    if isinstance(x, int | float):
        return float(x)
    try:
        return float(str(x))
    except ValueError:
        raise TemplateError(f"expected a number, got {x!r}") from None


def humanize(x: object) -> str:
    v = _number(x)
    if v == 0 or math.isnan(v) or math.isinf(v):
        return _g4(v)
    prefix = ""
    if abs(v) >= 1:
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(v) < 1000:
                break
            prefix, v = p, v / 1000
        return _g4(v) + prefix
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return _g4(v) + prefix


def humanize_duration(x: object) -> str:
    v = _number(x)
    if math.isnan(v) or math.isinf(v):
        return _g4(v)
    if v == 0:
        return _g4(v) + "s"
    if abs(v) >= 1:
        sign = "-" if v < 0 else ""
        v = abs(v)
        total = int(v)
        seconds, minutes = total % 60, (total // 60) % 60
        hours, days = (total // 3600) % 24, total // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{_g4(v)}s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return f"{_g4(v)}{prefix}s"


def humanize_percentage(x: object) -> str:
    return _g4(_number(x) * 100) + "%"


def _show(x: object) -> str:
    if isinstance(x, float):
        return go_float(x)
    return str(x)


def _printf(fmt: object, *args: object) -> str:
    text = str(fmt)
    verbs = [m.group(0) for m in _PRINTF_VERB.finditer(text) if m.group(0) != "%%"]
    if len(verbs) != len(args):
        raise TemplateError(f"printf {text!r} wants {len(verbs)} arguments, got {len(args)}")
    converted: list[object] = []
    for verb, arg in zip(verbs, args, strict=True):
        kind = verb[-1]
        if kind in "dxX":
            converted.append(int(_number(arg)))
        elif kind in "feg":
            converted.append(_number(arg))
        else:
            converted.append(_show(arg))
    python = _PRINTF_VERB.sub(lambda m: m.group(0).replace("v", "s").replace("q", "r"), text)
    return python % tuple(converted)


FUNCTIONS: dict[str, Callable[..., str]] = {
    "humanize": humanize,
    "humanizeDuration": humanize_duration,
    "humanizePercentage": humanize_percentage,
    "printf": _printf,
    "toUpper": lambda s: str(s).upper(),
    "toLower": lambda s: str(s).lower(),
}
_ARITY = {"printf": None}


def _operand(token: str) -> Arg:
    if token in ("$value", ".Value"):
        return lambda d: d.value
    for prefix in ("$labels.", ".Labels."):
        if token.startswith(prefix):
            name = token[len(prefix) :]
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise TemplateError(f"bad label name in {token!r}")
            return lambda d: d.labels.get(name, "")
    if len(token) >= 2 and token[0] == token[-1] == '"':
        literal = token[1:-1]
        return lambda _d: literal
    try:
        number = float(token)
    except ValueError:
        raise TemplateError(f"unknown value {token!r}") from None
    return lambda _d: number


def _command(words: list[str], piped: Arg | None) -> Arg:
    head = words[0]
    if head not in FUNCTIONS:
        if len(words) > 1 or piped is not None:
            raise TemplateError(f"unknown function {head!r}")
        return _operand(head)
    fn = FUNCTIONS[head]
    args = [_operand(w) for w in words[1:]]
    if piped is not None:
        args.append(piped)
    if head != "printf" and len(args) != 1:
        raise TemplateError(f"{head} takes one argument, got {len(args)}")
    if head == "printf" and not args:
        raise TemplateError("printf needs a format")
    return lambda d: fn(*(a(d) for a in args))


def _action(body: str) -> Piece:
    stages = [s.strip() for s in body.split("|")]
    if not all(stages):
        raise TemplateError(f"empty command in {{{{{body}}}}}")
    current: Arg | None = None
    for stage in stages:
        try:
            words = shlex.split(stage, posix=False)
        except ValueError as exc:
            raise TemplateError(f"{{{{{body}}}}}: {exc}") from None
        current = _command(words, current)
    final = current
    assert final is not None
    return lambda d: _show(final(d))


def _literal(text: str) -> Piece:
    return lambda _d: text


def compile_template(text: str) -> Callable[[TemplateData], str]:
    """Compile ``text``; raises :class:`TemplateError` naming the bad action."""
    pieces: list[Piece] = []
    pos = 0
    trim_next = False
    for m in _ACTION.finditer(text):
        literal = text[pos : m.start()]
        if trim_next:
            literal = literal.lstrip()
        if m.group(1):
            literal = literal.rstrip()
        if "{{" in literal or "}}" in literal:
            raise TemplateError(f"unbalanced braces near {literal!r}")
        if literal:
            pieces.append(_literal(literal))
        pieces.append(_action(m.group(2).strip()))
        trim_next = bool(m.group(3))
        pos = m.end()
    tail = text[pos:]
    if trim_next:
        tail = tail.lstrip()
    if "{{" in tail or "}}" in tail:
        raise TemplateError(f"unbalanced braces near {tail!r}")
    if tail:
        pieces.append(_literal(tail))

    def render(data: TemplateData) -> str:
        return "".join(p(data) for p in pieces)

    return render
