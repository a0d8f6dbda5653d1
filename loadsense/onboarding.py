"""The exact producer settings that point real producers at one Loadsense service.

One source for the text that ``loadsense up`` prints, the landing page at ``/`` and the
dashboard's onboarding panel show, and the README repeats (a test keeps them equal).
``OTEL_RESOURCE_ATTRIBUTES=host.name=...`` is part of it on purpose: without
``host.name`` a service's telemetry is never tied to its host, so host contention and
the co-location rules built on it can never involve that service
(``GET /api/v1/diagnostics`` lists the services that send none).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    """One producer's settings: a title, the snippet's language and the snippet."""

    title: str
    language: str
    text: str


def producer_settings(url: str) -> tuple[Section, ...]:
    """The settings for the service at ``url`` (its base URL, no trailing slash)."""
    return (
        Section(
            "OpenTelemetry SDK (environment of each service)",
            "sh",
            f"OTEL_EXPORTER_OTLP_ENDPOINT={url}\n"
            "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf\n"
            "OTEL_SERVICE_NAME=<service name>\n"
            "OTEL_RESOURCE_ATTRIBUTES=host.name=<the host it runs on>\n"
            "# with tokens: OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20<ingest token>",
        ),
        Section(
            "OpenTelemetry Collector (otlphttp exporter; resourcedetection adds host.name)",
            "yaml",
            "processors:\n"
            "  resourcedetection:\n"
            "    detectors: [system]\n"
            "exporters:\n"
            "  otlphttp:\n"
            f"    endpoint: {url}\n"
            "service:\n"
            "  pipelines:\n"
            "    traces: {receivers: [otlp], processors: [resourcedetection], "
            "exporters: [otlphttp]}\n"
            "    metrics: {receivers: [otlp, hostmetrics], processors: [resourcedetection], "
            "exporters: [otlphttp]}",
        ),
        Section(
            "OpenLineage (Airflow, Spark, dbt, openlineage-python: HTTP transport)",
            "sh",
            f"OPENLINEAGE_URL={url}\n"
            "OPENLINEAGE_ENDPOINT=api/v1/lineage\n"
            "# with tokens: OPENLINEAGE_API_KEY=<ingest token>",
        ),
        Section(
            "Host agent (on each host)",
            "sh",
            f"loadsense agent --endpoint {url}\n"
            "# with tokens: LOADSENSE_AGENT_TOKEN=<ingest token>",
        ),
    )


def producer_settings_text(url: str) -> str:
    """The settings as plain text, for a terminal."""
    blocks = [f"# {s.title}\n{s.text}" for s in producer_settings(url)]
    return "\n\n".join(blocks) + "\n"
