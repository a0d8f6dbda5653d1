"""What a person opening the service in a browser meets: ``/`` and the API docs.

``/`` is a small page linking the dashboard, the API docs, health and the producer
settings (loadsense/onboarding.py), which ``GET /api/v1/producer-settings`` also answers
as JSON (the dashboard's onboarding panel shows them). ``/docs`` (Swagger UI) and ``/redoc``
(ReDoc) load their scripts, styles and icon from this process (the files the
``fastapi-offline`` package ships), never from a CDN, so they work on a machine without
internet access. ``/`` and the producer settings carry no data and need no token; the
docs are gated like ``/openapi.json`` (api/auth.py).
"""

from __future__ import annotations

from html import escape
from importlib.resources import files

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from loadsense.api.context import context
from loadsense.onboarding import producer_settings

DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
"""Swagger UI and ReDoc (read routes when tokens are configured, like ``/openapi.json``)."""

ASSETS_DIR = str(files("fastapi_offline") / "static")
"""swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js, favicon.png."""

DOCS_ASSETS = "/docs/assets"
"""Where Swagger UI's own files are served."""


def base_url(request: Request) -> str:
    """This service's address as the browser reached it (no trailing slash)."""
    return str(request.base_url).rstrip("/")


def landing_html(api_url: str, dashboard_url: str) -> str:
    sections = "".join(
        f"<h3>{escape(s.title)}</h3><pre>{escape(s.text)}</pre>" for s in producer_settings(api_url)
    )
    links = (
        f'<li><a href="{escape(dashboard_url)}">Dashboard</a> ({escape(dashboard_url)})</li>'
        '<li><a href="docs">API docs</a> (Swagger UI; <a href="openapi.json">openapi.json</a>)'
        "</li>"
        '<li><a href="readyz">Readiness</a>, <a href="healthz">liveness</a>, '
        '<a href="version">version</a></li>'
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Loadsense</title>"
        "<style>body{font-family:sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem}"
        "pre{background:#f4f4f4;padding:.6rem;overflow-x:auto}</style></head><body>"
        "<h1>Loadsense</h1><p>Correlates ETL lineage, serving telemetry and host contention "
        "into signals and dispatch recommendations.</p>"
        f"<ul>{links}</ul><h2>Point your producers here</h2>{sections}</body></html>"
    )


class SectionModel(BaseModel):
    title: str
    language: str = Field(description="Language of the snippet: sh or yaml")
    text: str


class ProducerSettingsModel(BaseModel):
    url: str = Field(description="This service's address as the request reached it")
    sections: list[SectionModel]


router = APIRouter(prefix="/api/v1", tags=["health"])


@router.get(
    "/producer-settings",
    summary="The settings that point producers at this service (no token: no data)",
    response_model=ProducerSettingsModel,
)
def get_producer_settings(request: Request) -> ProducerSettingsModel:
    url = base_url(request)
    return ProducerSettingsModel(
        url=url, sections=[SectionModel(**vars(s)) for s in producer_settings(url)]
    )


def install_home(app: FastAPI) -> None:
    """Add ``/``, ``/docs``, ``/redoc`` and their assets to ``app`` (created with
    ``docs_url=None, redoc_url=None``)."""
    app.include_router(router)
    app.mount(DOCS_ASSETS, StaticFiles(directory=ASSETS_DIR), name="docs-assets")

    @app.get("/", include_in_schema=False)
    def landing(request: Request) -> HTMLResponse:
        settings = context(request).settings
        return HTMLResponse(landing_html(base_url(request), settings.dashboard_url))

    @app.get(DOCS_PATH, include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Loadsense API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
        )

    @app.get(REDOC_PATH, include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title="Loadsense API",
            redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )
