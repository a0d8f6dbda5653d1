"""What the simulated cluster tells a real Loadsense, through real producer clients only.

* OpenLineage (``openlineage-python`` over HTTP): a static JobEvent per model service
  declaring its feature inputs; for each task run a START RunEvent when its first shard
  starts and a COMPLETE when its last finishes, with the ``nominalTime`` and ``jobType``
  facets, its inputs and outputs, each output's ``schema`` facet (the version a schema
  change moved it to) and, for validation tasks, ``dataQualityAssertions`` on inputs;
  a DatasetEvent with the new schema when a schema change happens.
* OTLP metrics (the OpenTelemetry SDK's ``OTLPMetricExporter``), one export per step:
  ``http.server.request.duration`` delta histograms per service (bucket counts from the
  queueing model), ``system.cpu.utilization`` and ``loadsense.host.pressure`` per host,
  ``process.cpu.utilization`` per running job (so Loadsense sees where jobs run), and
  ``loadsense.queue.depth`` / ``loadsense.queue.oldest_age`` per DAG queue.

Everything is stamped with simulated time: ``t0 + t`` epoch seconds.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import httpx
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import (
    DatasetEvent,
    InputDataset,
    Job,
    JobEvent,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
    StaticDataset,
)
from openlineage.client.facet_v2 import (
    InputDatasetFacet,
    job_type_job,
    nominal_time_run,
    schema_dataset,
)
from openlineage.client.facet_v2 import (
    data_quality_assertions_dataset as dq,
)
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from loadsense.bench.scenarios import queueing
from loadsense.bench.scenarios.sim import RUN_NAMESPACE, Simulation, StepRecord, TaskRun
from loadsense.bench.scenarios.spec import Scenario

PRODUCER = "https://github.com/loadsense/loadsense/tree/main/bench/scenarios"
SERVICE_NAMESPACE = "models"
JOB_TYPES = {
    "etl-transform": "TRANSFORM",
    "feature-refresh": "FEATURE_REFRESH",
    "validation": "VALIDATION",
    "batch-scoring": "BATCH_SCORING",
    "retraining": "TRAINING",
}
_SCOPE = InstrumentationScope("loadsense.bench.scenarios")
NS = 1_000_000_000


class ProducerError(RuntimeError):
    """Loadsense refused or failed to store what a producer sent."""


def split(dataset: str) -> tuple[str, str]:
    namespace, _, name = dataset.partition("/")
    return namespace, name


def iso(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def schema(version: int) -> schema_dataset.SchemaDatasetFacet:
    """Version 0 of every table, and what each schema change does to it."""
    fields = [("id", "BIGINT"), ("value", "DOUBLE" if version == 0 else "DECIMAL(18,4)")]
    fields += [("updated_at", "TIMESTAMP")] + [
        (f"extra_{v}", "STRING") for v in range(1, version + 1)
    ]
    return schema_dataset.SchemaDatasetFacet(
        fields=[schema_dataset.SchemaDatasetFacetFields(name=n, type=t) for n, t in fields]
    )


class Producers:
    def __init__(self, scenario: Scenario, url: str, token: str | None, t0: float) -> None:
        self.scenario, self.t0 = scenario, t0
        transport: dict[str, object] = {
            "type": "http",
            "url": url,
            "retry": {"total": 3},
            "timeout": 60,
        }
        headers = {}
        if token:
            transport["auth"] = {"type": "api_key", "apiKey": token}
            headers["Authorization"] = f"Bearer {token}"
        self.lineage = OpenLineageClient(config={"transport": transport})
        self.exporter = OTLPMetricExporter(
            endpoint=f"{url}/v1/metrics", headers=headers, timeout=60
        )
        self.http = httpx.Client(base_url=url, headers=headers, timeout=120.0)

    def close(self) -> None:
        self.exporter.shutdown()
        self.http.close()

    def _at(self, t: float) -> str:
        return iso(self.t0 + t)

    def begin(self, sim: Simulation) -> None:
        """Static lineage of the services and one clean update of every written dataset."""
        for svc in self.scenario.services:
            self.lineage.emit(
                JobEvent(
                    eventTime=self._at(0.0),
                    job=Job(namespace=SERVICE_NAMESPACE, name=svc.name),
                    producer=PRODUCER,
                    inputs=[InputDataset(*split(d)) for d in svc.inputs],
                    outputs=[],
                )
            )
        for dag in self.scenario.dags:
            for task in dag.tasks:
                if not task.outputs:
                    continue
                age = max(self.scenario.dataset(d).initial_age_s for d in task.outputs)
                run_id = _history_id(f"{self.t0}:{dag.name}:{task.name}")
                run = TaskRun(dag, task, -age, -age, 0, run_id, 0.0, 0)
                run.started_at, run.finished_at = -age - task.work_s, -age
                self._run_event(run, RunState.START, sim)
                self._run_event(run, RunState.COMPLETE, sim)

    def _run_event(self, run: TaskRun, state: RunState, sim: Simulation) -> None:
        task, dag = run.task, run.dag
        at = run.started_at if state == RunState.START else run.finished_at
        assert at is not None
        failing = state == RunState.COMPLETE and task.kind == "validation"
        inputs = []
        for name in task.inputs:
            facets: dict[str, InputDatasetFacet] = {}
            if failing:
                bad = name in sim.drifted or sim.corrupt[name]
                facets["dataQualityAssertions"] = dq.DataQualityAssertionsDatasetFacet(
                    assertions=[
                        dq.Assertion(assertion="schema_matches_contract", success=not bad),
                        dq.Assertion(assertion="not_null", success=True, column="id"),
                    ]
                )
            inputs.append(InputDataset(*split(name), inputFacets=facets))
        outputs = [
            OutputDataset(*split(name), facets={"schema": schema(sim.schema_version[name])})
            for name in task.outputs
        ]
        self.lineage.emit(
            RunEvent(
                eventType=state,
                eventTime=self._at(at),
                run=Run(
                    runId=run.run_id,
                    facets={
                        "nominalTime": nominal_time_run.NominalTimeRunFacet(
                            nominalStartTime=self._at(run.nominal)
                        )
                    },
                ),
                job=Job(
                    namespace=dag.namespace,
                    name=f"{dag.name}.{task.name}",
                    facets={
                        "jobType": job_type_job.JobTypeJobFacet(
                            processingType="BATCH",
                            integration="LOADSENSE_BENCH",
                            jobType=JOB_TYPES[task.kind],
                        )
                    },
                ),
                producer=PRODUCER,
                inputs=inputs,
                outputs=outputs,
            )
        )

    def publish(self, step: StepRecord, sim: Simulation) -> None:
        """Send one step's lineage and metrics (both acknowledged after commit)."""
        for name in step.schema_changes:
            self.lineage.emit(
                DatasetEvent(
                    eventTime=self._at(step.start),
                    dataset=StaticDataset(
                        *split(name), facets={"schema": schema(sim.schema_version[name])}
                    ),
                    producer=PRODUCER,
                )
            )
        for run in step.started:
            self._run_event(run, RunState.START, sim)
        for run in step.completed:
            self._run_event(run, RunState.COMPLETE, sim)
        result = self.exporter.export(MetricsData(resource_metrics=self._metrics(step)))
        if result != MetricExportResult.SUCCESS:
            raise ProducerError(f"OTLP metrics export failed at step {step.index}")

    def _metrics(self, step: StepRecord) -> list[ResourceMetrics]:
        start, end = int((self.t0 + step.start) * NS), int((self.t0 + step.end) * NS)
        out: list[ResourceMetrics] = []
        hosts = {s.name: s.host for s in self.scenario.services}
        for s in step.services:
            if s.requests == 0:
                continue
            counts = queueing.bucket_counts(s.requests, s.latency)
            mean = queueing.SATURATED_S if s.latency.rate is None else 1.0 / s.latency.rate
            point = HistogramDataPoint(
                attributes={"http.request.method": "POST", "http.response.status_code": 200},
                start_time_unix_nano=start,
                time_unix_nano=end,
                count=s.requests,
                sum=s.requests * mean,
                bucket_counts=counts,
                explicit_bounds=list(queueing.BOUNDS_S),
                min=0.0,
                max=s.latency.p99_s,
            )
            hist = Histogram([point], AggregationTemporality.DELTA)
            metric = Metric("http.server.request.duration", None, "s", hist)
            out.append(
                _resource({"service.name": s.service, "host.name": hosts[s.service]}, [metric])
            )
        for h in step.hosts:
            metrics = [
                _gauge(
                    "system.cpu.utilization",
                    "1",
                    end,
                    [({}, min(1.0, h.cpu_demand / _cap(self.scenario, h.host)))],
                ),
                _gauge(
                    "loadsense.host.pressure",
                    "1",
                    end,
                    [
                        ({"resource": "cpu", "stall": "some"}, 1.0 - h.phi_cpu),
                        ({"resource": "io", "stall": "some"}, 1.0 - h.phi_io),
                    ],
                ),
            ]
            out.append(_resource({"host.name": h.host}, metrics))
        jobs: dict[tuple[str, str], float] = {}
        for shard in step.running:
            key = (f"{shard.run.dag.name}.{shard.run.task.name}", shard.host)
            jobs[key] = jobs.get(key, 0.0) + shard.run.task.cpu
        for (job, host), cpu in sorted(jobs.items()):
            gauge = _gauge("process.cpu.utilization", "1", end, [({}, cpu)])
            out.append(_resource({"service.name": job, "host.name": host}, [gauge]))
        depth: list[tuple[dict[str, str], float]] = []
        age: list[tuple[dict[str, str], float]] = []
        for dag in self.scenario.dags:
            waiting = [r for r in step.queued if r.dag is dag]
            attrs = {"queue.name": f"{dag.namespace}.{dag.name}"}
            depth.append((attrs, float(sum(r.pending for r in waiting))))
            age.append((attrs, max((step.end - r.queued_at for r in waiting), default=0.0)))
        queues = [
            _gauge("loadsense.queue.depth", "{item}", end, depth),
            _gauge("loadsense.queue.oldest_age", "s", end, age),
        ]
        out.append(_resource({"service.name": "scheduler"}, queues))
        return out

    def tick(self, t: float) -> None:
        response = self.http.post("/api/v1/tick", params={"as_of": f"{self.t0 + t:.3f}"})
        if response.status_code != 200:
            raise ProducerError(
                f"tick at {t:g}s answered {response.status_code}: {response.text[:200]}"
            )


def _cap(scenario: Scenario, host: str) -> float:
    return next(h.cpu for h in scenario.hosts if h.name == host)


def _gauge(
    name: str, unit: str, time_ns: int, points: Sequence[tuple[dict[str, str], float]]
) -> Metric:
    data = Gauge([NumberDataPoint(attrs, 0, time_ns, value) for attrs, value in points])
    return Metric(name, None, unit, data)


def _resource(attributes: dict[str, str], metrics: list[Metric]) -> ResourceMetrics:
    return ResourceMetrics(Resource(attributes), [ScopeMetrics(_SCOPE, metrics, "")], "")


def _history_id(key: str) -> str:
    return str(uuid.uuid5(RUN_NAMESPACE, f"history:{key}"))
