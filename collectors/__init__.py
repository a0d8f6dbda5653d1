"""Receivers for what producers already emit, and normalisation of it into rows.

Collectors know wire formats (OpenLineage JSON, OTLP protobuf/JSON); they know nothing
of signals. Each receiver validates a whole request before handing rows to the writer,
so a rejected request stores nothing.
"""
