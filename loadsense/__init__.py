"""Loadsense: correlate ETL lineage, serving telemetry and host contention into dispatch signals.

This package is the shared kernel below every room: settings, the exception root,
self-metrics, the wiring context, the dispatch vocabulary and the version.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("loadsense")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"
