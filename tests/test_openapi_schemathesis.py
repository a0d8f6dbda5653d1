"""The OpenAPI document against the running service, with schemathesis.

Every read (GET) operation of the app is exercised with generated parameters and
headers; each response must have a documented status code, conform to the documented
schema and never be a 5xx. The dispatch step has published a few recommendations
first, so the per-workload routes have something to find, and the long-poll cap is tiny
so a generated ``wait`` cannot stall the run.

Then every operation, GET and POST (ingestion and ticks included), on a service process
of its own: in the positive phase what the document allows must be accepted, in the
negative phase what it forbids must be refused (the document states what the server
enforces: required fields, formats, bounds).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from loadsense.correlator.dispatch.inputs import DispatchInputs, ServiceView, WorkloadInputs
from loadsense.correlator.dispatch.service import DispatchStep
from loadsense.settings import Settings
from loadsense.storage.client import Storage
from tests.support.service import Service, ServiceProcess, running_service, service_process

pytestmark = pytest.mark.slow  # thousands of generated requests


@pytest.fixture(scope="module")
def api(storage: Storage) -> Iterator[Service]:
    settings = Settings(clock="external", dispatch={"max_wait_s": 0.05})
    with running_service(storage, settings) as svc:
        step = svc.ctx.dispatch
        assert isinstance(step, DispatchStep)
        ranker = ServiceView("ranker", latency_slack=-0.1, rps=10.0)
        step.run(
            DispatchInputs(
                as_of=1_790_000_000.0,
                workloads=(
                    WorkloadInputs(name="etl/orders", colocated=(ranker,), telemetry_age_s=1.0),
                    WorkloadInputs(name="ranker", kind="service", telemetry_age_s=1.0),
                ),
            )
        )
        yield svc


def _operations(url: str) -> list[schemathesis.APIOperation]:
    loaded = schemathesis.openapi.from_url(f"{url}/openapi.json").include(method="GET")
    return [result.ok() for result in loaded.get_all_operations()]


def test_every_read_operation_conforms_to_the_openapi_document(api: Service) -> None:
    # Driven through hypothesis directly: schemathesis's pytest plugin predates pytest 9.
    operations = _operations(api.url)
    labels = {op.label for op in operations}
    for expected in (
        "GET /api/v1/recommendations",
        "GET /api/v1/recommendations/history",
        "GET /api/v1/recommendations/{workload}",
        "GET /api/v1/keda/{workload}",
        "GET /api/v1/regime",
        "GET /api/v1/rules",
        "GET /api/v1/alerts",
        "GET /api/v1/alerts/history",
    ):
        assert expected in labels
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=api.url)

        check()


@pytest.fixture(scope="module")
def writable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """A service of its own (generated writes must not land in the session's database),
    on the external clock so generated ticks are accepted."""
    root = tmp_path_factory.mktemp("schemathesis")
    config = root / "loadsense.yaml"
    config.write_text("dispatch:\n  max_wait_s: 0.05\n")  # a generated wait cannot stall
    env = {"LOADSENSE_LOG_LEVEL": "WARNING"}
    with service_process(
        root / "data", "--clock", "external", "--config", str(config), env=env
    ) as svc:
        yield svc


def _now_event_time(case: schemathesis.Case) -> None:
    # eventTime must fall inside the retention window around the receiver's clock, which
    # no JSON Schema can say; a positive case gets a valid one.
    if isinstance(case.body, dict) and "eventTime" in case.body:
        case.body["eventTime"] = datetime.now(UTC).isoformat()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_accepts_what_it_documents_and_rejects_the_rest(
    writable: ServiceProcess, mode: GenerationMode
) -> None:
    operations = [
        r.ok()
        for r in schemathesis.openapi.from_url(f"{writable.url}/openapi.json").get_all_operations()
    ]
    methods = {op.method.upper() for op in operations}
    assert methods == {"GET", "POST"}
    acceptance = (
        positive_data_acceptance if mode is GenerationMode.POSITIVE else negative_data_rejection
    )
    nothing_to_negate = set()
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=10,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            if mode is GenerationMode.POSITIVE:
                _now_event_time(case)
            binary = case.media_type == "application/x-protobuf"
            # A JSON Schema cannot describe protobuf's wire format: random bytes are
            # neither promised to be accepted nor to be rejected.
            extra = [] if binary else [acceptance]
            response = case.call(base_url=writable.url)
            if mode is GenerationMode.NEGATIVE and response.status_code == 414:
                # Rejected too: the generated query (lists for each of a paged route's
                # parameters) outgrew the URL bound, http_max_url_bytes.
                return
            case.validate_response(response, additional_checks=extra)

        try:
            check()
        except Unsatisfiable:
            # No parameter or body to get wrong: nothing for the negative phase to send.
            assert mode is GenerationMode.NEGATIVE
            nothing_to_negate.add(operation.label)
    assert nothing_to_negate <= {
        "GET /healthz",
        "GET /readyz",
        "GET /version",
        "GET /metrics",
        "GET /api/v1/regime",
        "GET /api/v1/rules",
        "GET /api/v1/alerts",
        "GET /api/v1/producer-settings",
    }
