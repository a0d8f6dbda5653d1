"""The one place that opens ClickHouse: embedded chDB or a server, same client API.

``chdb:///path`` runs the real ClickHouse engine in-process; only one process may own
a data directory, so the lock is checked up front and reported as
:class:`StorageLockedError` naming the directory, instead of the engine's traceback.
One chDB connection runs one statement at a time, so the shared client is gated
(storage/engine_gate.py). The engine itself runs statements from several connections of
the owning process at once: :func:`open_connection` opens another on the same data
directory, which the writer inserts through so requests do not wait behind queries.
"""

from __future__ import annotations

import fcntl
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import clickhouse_connect

from loadsense.errors import StorageError, StorageLockedError
from loadsense.storage.engine_gate import GatedClient
from loadsense.storage.schema.model import identifier

logger = logging.getLogger(__name__)

CHDB_SCHEME = "chdb://"

_opened_here: set[Path] = set()
"""Embedded data directories this process already owns (re-opening them is fine)."""


@dataclass(frozen=True)
class Storage:
    """An open client plus what was learned opening it."""

    client: Any  # clickhouse_connect.driver.client.Client (untyped library)
    database: str
    embedded: bool
    location: str  # data directory (embedded) or host:port (server); never credentials

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # closing is best effort on shutdown
            logger.debug("closing storage client failed", exc_info=True)


def chdb_path(dsn: str) -> Path:
    return Path(dsn[len(CHDB_SCHEME) :]).expanduser()


def _check_not_locked(data_dir: Path) -> None:
    """Fail fast, with the directory's name, if another process holds the chDB lock."""
    status = data_dir / "status"
    if not status.exists():
        return
    with status.open("a") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StorageLockedError(_locked_message(data_dir)) from None
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _locked_message(data_dir: Path) -> str:
    return (
        f"embedded storage at {data_dir} is in use by another process "
        "(chDB allows one process per data directory): stop it, or use the HTTP API "
        "of the running service, or choose another --data-dir"
    )


def _open_embedded(dsn: str, database: str) -> Storage:
    data_dir = chdb_path(dsn)
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    if data_dir not in _opened_here:
        _check_not_locked(data_dir)
    try:
        bootstrap = clickhouse_connect.get_client(dsn=dsn)
        bootstrap.command(f"CREATE DATABASE IF NOT EXISTS {identifier(database)}")
        client = GatedClient(clickhouse_connect.get_client(dsn=dsn, database=database))
    except Exception as exc:
        text = str(exc)
        if "lock" in text.lower() or "Error initializing EmbeddedServer" in text:
            raise StorageLockedError(_locked_message(data_dir)) from exc
        if "already initialized with path" in text:
            raise StorageError(
                f"this process already opened another chDB data directory; cannot open {data_dir}"
            ) from exc
        raise StorageError(f"cannot open embedded storage at {data_dir}: {exc}") from exc
    _opened_here.add(data_dir)
    return Storage(client=client, database=database, embedded=True, location=str(data_dir))


def open_connection(storage: Storage) -> Any:
    """Another client on ``storage``'s embedded data directory, ungated: statements on it
    run beside the shared client's. Only the process that opened ``storage`` may call it."""
    if not storage.embedded:
        raise StorageError("extra connections are for embedded storage; a server shares one")
    try:
        return clickhouse_connect.get_client(
            dsn=f"{CHDB_SCHEME}{storage.location}", database=storage.database
        )
    except Exception as exc:
        raise StorageError(f"cannot open another connection to {storage.location}: {exc}") from exc


def release_memory(storage: Storage) -> None:
    """Hand the engine's freed memory back to the OS now. Embedded only: the engine
    shares this process, and a large start-up read (the first dataset summary of a long
    history) leaves hundreds of MiB freed but held by its allocator for a while."""
    if not storage.embedded:
        return
    try:
        storage.client.command("SYSTEM JEMALLOC PURGE")
    except Exception as exc:  # an engine built without jemalloc: nothing to hand back
        logger.debug("engine memory not purged: %s", exc)


def _open_server(dsn: str, default_database: str) -> Storage:
    parsed = urlparse(dsn)
    database = parsed.path.strip("/") or default_database
    location = f"{parsed.hostname}:{parsed.port or ''}"
    try:
        bootstrap = clickhouse_connect.get_client(
            dsn=dsn, database="default", autogenerate_session_id=False
        )
        bootstrap.command(f"CREATE DATABASE IF NOT EXISTS {identifier(database)}")
        client = clickhouse_connect.get_client(
            dsn=dsn, database=database, autogenerate_session_id=False
        )
    except Exception as exc:
        raise StorageError(f"cannot reach ClickHouse at {location}: {type(exc).__name__}") from exc
    return Storage(client=client, database=database, embedded=False, location=location)


def open_storage(dsn: str, database: str) -> Storage:
    """Open ``dsn`` and make sure ``database`` exists."""
    if dsn.startswith(CHDB_SCHEME):
        return _open_embedded(dsn, database)
    if dsn.startswith(("http://", "https://", "clickhouse://", "clickhouses://")):
        return _open_server(dsn, database)
    raise StorageError(f"unsupported storage DSN scheme in {dsn.split('://')[0]!r}://...")
