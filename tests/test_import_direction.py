"""Data flows one way, and the imports say so (read with ``ast``, nothing is imported).

    producers -> collectors -> storage -> signals -> correlator -> api -> dashboard

A room imports only rooms upstream of it, plus the foundations in ``loadsense/``
(settings, errors, self-metrics, runtime, the wiring context, the vocabulary):

* ``storage`` imports no room.
* ``collectors`` know wire formats and build rows in the shapes storage declares, so
  they may import ``storage.schema`` (table definitions) and ``storage.writer``
  (``RowBatch``) and nothing else: they never query, and know nothing of signals.
* ``signals`` read ``storage``; ``correlator`` runs ``signals`` over ``storage``.
* ``api`` is the edge and may call into every server room (and starts the host agent
  from the CLI); nothing calls into it but ``bench`` (which drives a whole service) and
  the dashboard, through the client.
* ``dashboard`` talks to the API over HTTP: only the client, the HTTP records it reuses
  and the vocabulary those use (:data:`CLIENT`).
* ``agent`` (the host agent) is a producer: it speaks OTLP over HTTP to any Loadsense
  and needs nothing of the server rooms, so it imports none.
* ``bench`` may import any room; no room imports ``bench``.

Foundations import no room at run time. The wiring context (``loadsense/context.py``)
names the components it holds for the type checker only (under ``TYPE_CHECKING``).
Every other import counts wherever it appears: at module level, inside a function, or
under ``TYPE_CHECKING`` (a type dependency is a dependency).

:data:`CLIENT` is what the scheduler-side client installs: it imports only the standard
library, ``httpx`` and ``pydantic``, and itself.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ROOMS = ("agent", "api", "bench", "collectors", "correlator", "dashboard", "signals", "storage")

CLIENT = frozenset({"loadsense.api.client", "loadsense.api.models", "loadsense.vocabulary"})
"""The typed client and what it imports of ours."""

ALLOWED: dict[str, frozenset[str]] = {
    "storage": frozenset(),
    "collectors": frozenset({"loadsense.storage.schema", "loadsense.storage.writer"}),
    "signals": frozenset({"storage"}),
    "correlator": frozenset({"storage", "signals"}),
    "api": frozenset({"agent", "collectors", "storage", "signals", "correlator"}),
    "dashboard": CLIENT,
    "agent": frozenset(),
    "bench": frozenset(ROOMS) - {"bench"},
}
"""Per room, the rooms (or modules, with their submodules) it may import besides itself
and the foundations. The dashboard may import only :data:`CLIENT` (no foundations)."""


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. loadsense.signals.graph
    target: str  # the imported module, e.g. loadsense.storage.client
    line: int
    type_checking: bool

    def __str__(self) -> str:
        where = " (TYPE_CHECKING)" if self.type_checking else ""
        return f"{self.module}:{self.line} imports {self.target}{where}"


def module_name(path: Path) -> str:
    """``api/routes/otlp.py`` -> ``loadsense.api.routes.otlp`` (the package-dir mapping)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts) if parts[0] == "loadsense" else ".".join(["loadsense", *parts])


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(source: str, module: str, is_package: bool = False) -> list[Import]:
    """Every import in ``source`` (of module ``module``), relative ones resolved."""
    found: list[Import] = []
    package = module if is_package else module.rpartition(".")[0]

    def visit(node: ast.AST, type_checking: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, type_checking)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(module, alias.name, node.lineno, type_checking))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base]
            if not node.module or node.level:  # from . import x: x may be a module
                targets = [f"{base}.{a.name}" for a in node.names]
            found.extend(Import(module, t, node.lineno, type_checking) for t in targets)
        for child in ast.iter_child_nodes(node):
            visit(child, type_checking)

    visit(ast.parse(source), False)
    return found


def room_of(module: str) -> str | None:
    """The room of a ``loadsense.*`` module; None for a foundation."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ROOMS else None


def _within(target: str, allowed: frozenset[str]) -> bool:
    for entry in allowed:
        prefix = entry if entry.startswith("loadsense.") else f"loadsense.{entry}"
        if target == prefix or target.startswith(prefix + "."):
            return True
    return False


def violation(imp: Import) -> str | None:
    """Why ``imp`` breaks the direction of the house, or None when it is fine."""
    target = imp.target
    if target != "loadsense" and not target.startswith("loadsense."):
        return None
    source_room, target_room = room_of(imp.module), room_of(target)
    if source_room is None:  # a foundation
        if target_room is None:
            return None
        if imp.module == "loadsense.context" and imp.type_checking:
            return None
        return "a foundation imports a room"
    if source_room == "dashboard":
        return None if _within(target, CLIENT) or target_room == "dashboard" else "not the client"
    if target_room is None or target_room == source_room:
        return None
    if _within(target, ALLOWED[source_room]):
        return None
    return f"{source_room} may not import {target_room}"


def source_files() -> list[Path]:
    files = [p for room in ROOMS for p in (ROOT / room).rglob("*.py")]
    return sorted(files + list((ROOT / "loadsense").rglob("*.py")))


def all_imports() -> list[Import]:
    out: list[Import] = []
    for path in source_files():
        name = module_name(path)
        out.extend(imports_of(path.read_text(), name, path.name == "__init__.py"))
    return out


def test_every_import_follows_the_direction_of_the_house() -> None:
    imports = all_imports()
    bad = [f"{imp}: {why}" for imp in imports if (why := violation(imp))]
    assert bad == []
    # Not vacuous: the scan saw the rooms and the edges the layout promises.
    edges = {
        (room_of(i.module), room_of(i.target)) for i in imports if i.target.startswith("loadsense.")
    }
    assert {("api", "correlator"), ("correlator", "signals"), ("signals", "storage")} <= edges
    assert ("collectors", "storage") in edges and len(source_files()) > 100


def test_the_client_installs_with_httpx_and_pydantic_alone() -> None:
    # Importing loadsense.api.client also runs loadsense/__init__.py and api/__init__.py.
    modules = CLIENT | {"loadsense", "loadsense.api"}
    paths = {module_name(p): p for p in source_files()}
    third_party: set[str] = set()
    for name in sorted(modules):
        path = paths[name]
        for imp in imports_of(path.read_text(), name, path.name == "__init__.py"):
            top = imp.target.split(".")[0]
            if top == "loadsense":
                assert imp.target in modules, f"{imp}: outside the client"
            elif top not in sys.stdlib_module_names and top != "__future__":
                third_party.add(top)
    assert third_party == {"httpx", "pydantic"}


@pytest.mark.parametrize(
    ("module", "source", "why"),
    [
        ("loadsense.correlator.service", "from loadsense.api.context import context", "api"),
        ("loadsense.signals.x", "import loadsense.collectors.body", "collectors"),
        ("loadsense.collectors.x", "from loadsense.storage.client import Storage", "storage"),
        ("loadsense.agent.x", "from loadsense.storage import writer", "storage"),
        ("loadsense.dashboard.x", "from loadsense.settings import Settings", "client"),
        ("loadsense.settings", "from loadsense.storage.client import Storage", "foundation"),
        ("loadsense.api.x", "from loadsense.bench import client", "bench"),
        ("loadsense.correlator.x", "if TYPE_CHECKING:\n    from loadsense.api import app", "api"),
        ("loadsense.storage.schema.x", "from ...signals import graph", "signals"),
    ],
)
def test_the_checker_catches_a_wrong_way_import(module: str, source: str, why: str) -> None:
    reasons = [violation(i) for i in imports_of(source, module)]
    assert len(reasons) == 1 and reasons[0] is not None and why in reasons[0]


def test_what_the_rules_allow() -> None:
    fine = [
        ("loadsense.collectors.x", "from loadsense.storage.writer import RowBatch"),
        ("loadsense.collectors.x", "from loadsense.storage.schema.lineage import RUN_EVENTS"),
        ("loadsense.dashboard.x", "from loadsense.api.client import LoadsenseClient"),
        ("loadsense.context", "if TYPE_CHECKING:\n    from loadsense.correlator import loop"),
        ("loadsense.api.x", "from ..correlator import loop"),
        ("loadsense.agent.x", "from loadsense.errors import ConfigError"),
    ]
    for module, source in fine:
        assert [violation(i) for i in imports_of(source, module)] == [None], source
