"""The built-in evaluator's PromQL subset: parsed by a real PromQL parser, compiled once.

``promql-parser`` (the Rust parser of the Prometheus project's grammar, with Python
bindings) turns ``expr`` into a syntax tree; :func:`compile_expr` walks it once at load
and builds a tree of small evaluation functions, refusing every node outside the
subset with ``UnsupportedExpr`` (the rule file still works in Prometheus). Evaluation
is a pure function of the instant's samples (:data:`Samples`), never of storage, and
follows Prometheus' semantics for what it supports (``docs/alerts.md``):

- instant-vector selectors with ``=``, ``!=``, ``=~``, ``!~`` (RE2 regexes, fully
  anchored, as Prometheus; a missing label matches as the empty string);
- comparisons ``< <= > >= == !=`` between a vector and a scalar, or between two vectors
  matched one-to-one (``on``/``ignoring``), with and without ``bool``;
- ``and``, ``or``, ``unless`` (with ``on``/``ignoring``);
- ``sum``, ``min``, ``max``, ``avg``, ``count`` with ``by``/``without``;
- ``absent(v)``; parentheses and number literals.

A label value or regex is only ever compared with series labels: nothing in an
expression is executed or spliced into SQL.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import promql_parser as pp
import re2

from loadsense.errors import LoadsenseError

NAME = "__name__"

Labels = tuple[tuple[str, str], ...]
"""Sorted ``(name, value)`` pairs; ``__name__`` included while PromQL keeps it."""

Vector = list[tuple[Labels, float]]

Samples = Mapping[str, Sequence[tuple[Labels, float]]]
"""Series by metric name; each series' labels without ``__name__``."""


class UnsupportedExpr(LoadsenseError):
    """Valid PromQL the built-in evaluator does not implement."""

    code = "unsupported_promql"


class BadRegex(LoadsenseError):
    """A matcher's regex that RE2 (Prometheus' regex engine) refuses."""

    code = "bad_regex"


class EvalError(LoadsenseError):
    """An evaluation failed the way Prometheus' would (e.g. many-to-many matching)."""

    code = "alert_eval"


@dataclass(frozen=True)
class Scalar:
    value: float


Value = Vector | Scalar
Node = Callable[[Samples], Value]

_CMP: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_AGG = ("sum", "min", "max", "avg", "count")


def parse(expr: str) -> pp.Expr:
    """Parse ``expr`` (raises ``ValueError`` with the parser's message)."""
    return pp.parse(expr)


def metric_names(tree: pp.Expr) -> set[str]:
    """Metric names selected anywhere in ``tree``."""
    names: set[str] = set()

    def visit(node: pp.Expr) -> None:
        if isinstance(node, pp.VectorSelector):
            name = _selector_name(node)
            if name:
                names.add(name)
        for child in _children(node):
            visit(child)

    visit(tree)
    return names


def _children(node: pp.Expr) -> Iterable[pp.Expr]:
    if isinstance(node, pp.BinaryExpr):
        return (node.lhs, node.rhs)
    if isinstance(node, pp.ParenExpr | pp.AggregateExpr | pp.UnaryExpr):
        return (node.expr,)
    if isinstance(node, pp.Call):
        return tuple(node.args)
    if isinstance(node, pp.MatrixSelector):
        return (node.vector_selector,)
    if isinstance(node, pp.SubqueryExpr):
        return (node.expr,)
    return ()


def _selector_name(node: pp.VectorSelector) -> str | None:
    if node.name:
        return str(node.name)
    for m in node.matchers.matchers:
        if m.name == NAME and m.op == pp.MatchOp.Equal:
            return str(m.value)
    return None


def compile_expr(expr: str) -> Node:
    """Compile ``expr``; ``ValueError`` for bad PromQL, ``UnsupportedExpr`` outside the
    subset, ``BadRegex`` for a regex RE2 refuses."""
    return compile_tree(parse(expr))


def compile_tree(tree: pp.Expr) -> Node:
    """:func:`compile_expr` for an already parsed expression."""
    return _compile(tree)


def evaluate(node: Node, samples: Samples) -> Vector:
    """The instant vector ``node`` yields over ``samples`` (a scalar result is refused at
    compile time by the caller, as Prometheus refuses it for alerting rules)."""
    value = node(samples)
    if isinstance(value, Scalar):
        raise EvalError("an alerting expression must return an instant vector")
    return value


def is_scalar(node: pp.Expr) -> bool:
    """Whether ``node`` (of the subset) yields a scalar: a number, maybe parenthesised."""
    while isinstance(node, pp.ParenExpr):
        node = node.expr
    return isinstance(node, pp.NumberLiteral)


def _unsupported(what: str) -> UnsupportedExpr:
    return UnsupportedExpr(what)


def _compile(node: pp.Expr) -> Node:
    if isinstance(node, pp.ParenExpr):
        return _compile(node.expr)
    if isinstance(node, pp.NumberLiteral):
        scalar = Scalar(float(node.val))
        return lambda _s: scalar
    if isinstance(node, pp.VectorSelector):
        return _selector(node)
    if isinstance(node, pp.BinaryExpr):
        return _binary(node)
    if isinstance(node, pp.AggregateExpr):
        return _aggregate(node)
    if isinstance(node, pp.Call) and node.func.name == "absent":
        return _absent(node)
    if isinstance(node, pp.Call):
        raise _unsupported(f"function {node.func.name}()")
    raise _unsupported(type(node).__name__)


def _matcher(m: pp.Matcher) -> Callable[[str], bool]:
    value = str(m.value)
    if m.op == pp.MatchOp.Equal:
        return lambda v: v == value
    if m.op == pp.MatchOp.NotEqual:
        return lambda v: v != value
    try:  # RE2, as Prometheus: linear time whatever the label values; fully anchored
        pattern = re2.compile(f"(?:{value})")
    except re2.error as exc:
        raise BadRegex(f"bad regex {value!r}: {exc}") from None
    if m.op == pp.MatchOp.Re:
        return lambda v: pattern.fullmatch(v) is not None
    return lambda v: pattern.fullmatch(v) is None


def _selector(node: pp.VectorSelector) -> Node:
    if node.offset is not None or node.at is not None:
        raise _unsupported("offset and @ modifiers")
    if node.matchers.or_matchers:
        raise _unsupported("'or' inside a selector's braces")
    name = _selector_name(node)
    if name is None:
        raise _unsupported("a selector without a metric name")
    tests = [(str(m.name), _matcher(m)) for m in node.matchers.matchers if str(m.name) != NAME]
    extra = [m for m in node.matchers.matchers if str(m.name) == NAME]
    name_tests = [_matcher(m) for m in extra]
    if not all(t(name) for t in name_tests):
        return lambda _s: []
    named = (NAME, name)

    def select(samples: Samples) -> Value:
        out: Vector = []
        for labels, value in samples.get(name, ()):
            d = dict(labels)
            if all(test(d.get(key, "")) for key, test in tests):
                out.append((tuple(sorted((*labels, named))), value))
        return out

    return select


def _drop_name(labels: Labels) -> Labels:
    return tuple(p for p in labels if p[0] != NAME)


def _signature(modifier: pp.BinModifier | None) -> Callable[[Labels], Labels]:
    matching = None if modifier is None else modifier.matching
    if matching is None:
        return _drop_name
    names = frozenset(str(x) for x in matching.labels)
    if matching.type == pp.LabelModifierType.Include:  # on(...)
        return lambda ls: tuple(p for p in ls if p[0] in names)
    return lambda ls: tuple(p for p in ls if p[0] not in names and p[0] != NAME)


def _binary(node: pp.BinaryExpr) -> Node:
    op = str(node.op)
    modifier = node.modifier
    if modifier is not None and modifier.card not in (
        pp.VectorMatchCardinality.OneToOne,
        pp.VectorMatchCardinality.ManyToMany,
    ):
        raise _unsupported("group_left / group_right")
    lhs, rhs = _compile(node.lhs), _compile(node.rhs)
    sig = _signature(modifier)
    if op in ("and", "or", "unless"):
        return _set_op(op, lhs, rhs, sig)
    if op not in _CMP:
        raise _unsupported(f"operator {op}")
    cmp = _CMP[op]
    as_bool = bool(modifier is not None and modifier.return_bool)
    matching = None if modifier is None else modifier.matching
    on_include = matching is not None and matching.type == pp.LabelModifierType.Include
    if is_scalar(node.lhs) and is_scalar(node.rhs):
        raise _unsupported("a comparison between two scalars")

    def compare(samples: Samples) -> Value:
        a, b = lhs(samples), rhs(samples)
        if isinstance(a, Scalar) and isinstance(b, list):
            return _vs(b, a.value, lambda v, s: cmp(s, v), as_bool)
        if isinstance(b, Scalar) and isinstance(a, list):
            return _vs(a, b.value, cmp, as_bool)
        assert isinstance(a, list) and isinstance(b, list)
        return _vv(a, b, cmp, as_bool, sig, on_include)

    return compare


def _vs(vec: Vector, scalar: float, cmp: Callable[[float, float], bool], as_bool: bool) -> Vector:
    if as_bool:
        return [(_drop_name(ls), 1.0 if cmp(v, scalar) else 0.0) for ls, v in vec]
    return [(ls, v) for ls, v in vec if cmp(v, scalar)]


def _vv(
    a: Vector,
    b: Vector,
    cmp: Callable[[float, float], bool],
    as_bool: bool,
    sig: Callable[[Labels], Labels],
    on_include: bool,
) -> Vector:
    right: dict[Labels, float] = {}
    for ls, v in b:
        key = sig(ls)
        if key in right:
            raise EvalError("found duplicate series for the match group on the right hand-side")
        right[key] = v
    seen: set[Labels] = set()
    out: Vector = []
    for ls, v in a:
        key = sig(ls)
        if key not in right:
            continue
        if key in seen:
            raise EvalError("many-to-many matching not allowed: use group_left/group_right")
        seen.add(key)
        keep = cmp(v, right[key])
        labels = key if on_include else (_drop_name(ls) if as_bool else ls)
        if as_bool:
            out.append((labels, 1.0 if keep else 0.0))
        elif keep:
            out.append((labels, v))
    return out


def _set_op(op: str, lhs: Node, rhs: Node, sig: Callable[[Labels], Labels]) -> Node:
    def run(samples: Samples) -> Value:
        a, b = lhs(samples), rhs(samples)
        if isinstance(a, Scalar) or isinstance(b, Scalar):
            raise EvalError(f"set operator {op} needs instant vectors on both sides")
        keys = {sig(ls) for ls, _ in b}
        if op == "and":
            return [(ls, v) for ls, v in a if sig(ls) in keys]
        if op == "unless":
            return [(ls, v) for ls, v in a if sig(ls) not in keys]
        left = {sig(ls) for ls, _ in a}
        return [*a, *((ls, v) for ls, v in b if sig(ls) not in left)]

    return run


def _aggregate(node: pp.AggregateExpr) -> Node:
    op = str(node.op)
    if op not in _AGG:
        raise _unsupported(f"aggregation {op}")
    inner = _compile(node.expr)
    modifier = node.modifier
    names = frozenset(str(x) for x in (modifier.labels if modifier else ()))
    without = modifier is not None and modifier.type == pp.AggModifierType.Without

    def group(ls: Labels) -> Labels:
        if without:
            return tuple(p for p in ls if p[0] not in names and p[0] != NAME)
        return tuple(p for p in ls if p[0] in names)

    def run(samples: Samples) -> Value:
        vec = inner(samples)
        if isinstance(vec, Scalar):
            raise EvalError(f"{op}() needs an instant vector")
        groups: dict[Labels, list[float]] = {}
        for ls, v in vec:
            groups.setdefault(group(ls), []).append(v)
        return [(key, _reduce(op, values)) for key, values in groups.items()]

    return run


def _reduce(op: str, values: list[float]) -> float:
    if op == "count":
        return float(len(values))
    if op == "sum":
        return math.fsum(values)
    if op == "avg":
        return math.fsum(values) / len(values)
    finite = [v for v in values if not math.isnan(v)] or values
    return min(finite) if op == "min" else max(finite)


def _absent(node: pp.Call) -> Node:
    (arg,) = node.args
    inner = _compile(arg)
    labels: Labels = ()
    if isinstance(arg, pp.VectorSelector):
        eq = {
            str(m.name): str(m.value)
            for m in arg.matchers.matchers
            if m.op == pp.MatchOp.Equal and str(m.name) != NAME
        }
        labels = tuple(sorted(eq.items()))

    def run(samples: Samples) -> Value:
        vec = inner(samples)
        return [] if vec else [(labels, 1.0)]

    return run
