"""The OpenLineage receiver: validation, normalisation into the lineage tables, and the
request-body decoding behind ``POST /api/v1/lineage`` and ``/api/v1/lineage/batch``.

Modules: ``timeparse`` (RFC 3339 to nanoseconds), ``validate`` (accept or name the bad
field), ``facets`` (tolerant facet readers), ``normalise`` (rows), ``receiver`` (bodies).
See docs/lineage.md.
"""

from loadsense.collectors.openlineage.receiver import BatchDecoded, FailedEvent, LineageReceiver

__all__ = ["BatchDecoded", "FailedEvent", "LineageReceiver"]
