"""The OpenLineage receiver: validation, normalisation into the lineage tables, and the
request-body decoding behind ``POST /api/v1/lineage`` and ``/api/v1/lineage/batch``.

Modules: ``validate`` (accept or name the bad field; instants via loadsense/instants.py),
``facets`` (tolerant facet readers), ``normalise`` (rows), ``receiver`` (bodies).
See docs/lineage.md.
"""

from loadsense.collectors.openlineage.receiver import BatchDecoded, FailedEvent, LineageReceiver

__all__ = ["BatchDecoded", "FailedEvent", "LineageReceiver"]
