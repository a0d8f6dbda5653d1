"""The OpenAPI document against the running service, with schemathesis.

Every read (GET) operation of the app is exercised with generated parameters and
headers; each response must have a documented status code, conform to the documented
schema and never be a 5xx. Writes (ingestion, ticks) are left out: generated bodies
would only land in the session's shared database. The dispatch step has published a
few recommendations first, so the per-workload routes have something to find, and the
long-poll cap is tiny so a generated ``wait`` cannot stall the run.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from loadsense.correlator.dispatch.inputs import DispatchInputs, ServiceView, WorkloadInputs
from loadsense.correlator.dispatch.service import DispatchStep
from loadsense.settings import Settings
from loadsense.storage.client import Storage
from tests.support.service import Service, running_service


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
