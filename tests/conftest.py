"""Shared fixtures: one embedded ClickHouse per test process, services on real ports."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadsense.api.app import prepare_storage
from loadsense.settings import Settings
from loadsense.storage.client import Storage, open_storage
from tests.support.service import Service, running_service, settle_running


@pytest.fixture(autouse=True)
def _seeded_random() -> None:
    random.seed(1234)


@pytest.fixture(scope="session")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Storage]:
    """The test process's one embedded chDB (a process may open only one data dir)."""
    data_dir: Path = tmp_path_factory.mktemp("chdb")
    store = open_storage(f"chdb://{data_dir}/db", "loadsense")
    prepare_storage(store, Settings())
    yield store


@pytest.fixture(scope="session")
def service(storage: Storage) -> Iterator[Service]:
    """A default service (no auth, default limits) shared by the session."""
    with running_service(storage, Settings()) as svc:
        yield svc


def query(storage: Storage, sql: str, **params: object) -> list[tuple[object, ...]]:
    """Rows of ``sql`` with bound ``params`` (tests' shorthand), once every lineage event
    the running services acknowledged is readable."""
    settle_running()
    rows: list[tuple[object, ...]] = storage.client.query(sql, parameters=params).result_rows
    return rows
