"""The real ``openlineage-python`` client (HTTP transport, gzip, api_key) against a real port.

The service acknowledges after commit, so once ``emit`` returns the rows are queryable;
each assertion reads the normalised tables back.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import requests
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
    data_quality_assertions_dataset as dq,
)
from openlineage.client.facet_v2 import (
    error_message_run,
    job_type_job,
    lifecycle_state_change_dataset,
    nominal_time_run,
    output_statistics_output_dataset,
    parent_run,
    schema_dataset,
    symlinks_dataset,
)

from loadsense.settings import Settings
from loadsense.storage.client import Storage
from tests.conftest import query
from tests.support.openlineage import BASE_NS, TOKEN, iso, ns
from tests.support.service import Service, running_service

PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.0.0/client/python"


@pytest.fixture(scope="module")
def svc(storage: Storage) -> Iterator[Service]:
    with running_service(storage, Settings(ingest_tokens=(TOKEN,))) as service:
        yield service


def make_client(url: str, api_key: str = TOKEN) -> OpenLineageClient:
    return OpenLineageClient(
        config={
            "transport": {
                "type": "http",
                "url": url,
                "compression": "gzip",
                "auth": {"type": "api_key", "apiKey": api_key},
                "retry": {"total": 0},
            }
        }
    )


def _schema(*fields: tuple[str, str]) -> schema_dataset.SchemaDatasetFacet:
    return schema_dataset.SchemaDatasetFacet(
        fields=[schema_dataset.SchemaDatasetFacetFields(name=n, type=t) for n, t in fields]
    )


def test_run_lifecycle_with_facets_is_normalised(svc: Service, storage: Storage) -> None:
    tag = uuid.uuid4().hex[:10]
    run_id, parent_id = str(uuid.uuid4()), str(uuid.uuid4())
    client = make_client(svc.url)
    job = Job(
        namespace="airflow",
        name=f"etl_{tag}.load",
        facets={
            "jobType": job_type_job.JobTypeJobFacet(
                processingType="BATCH", integration="AIRFLOW", jobType="TASK"
            )
        },
    )
    run_facets = {
        "nominalTime": nominal_time_run.NominalTimeRunFacet(
            nominalStartTime=iso(-3600), nominalEndTime=iso(0)
        ),
        "parent": parent_run.ParentRunFacet(
            run=parent_run.Run(runId=parent_id),
            job=parent_run.Job(namespace="airflow", name=f"etl_{tag}"),
        ),
    }
    source = InputDataset(
        namespace="postgres://db:5432",
        name=f"shop.orders_{tag}",
        facets={"schema": _schema(("id", "INTEGER"), ("amount", "NUMERIC"))},
        inputFacets={
            "dataQualityAssertions": dq.DataQualityAssertionsDatasetFacet(
                assertions=[
                    dq.Assertion(assertion="not_null", success=True, column="id"),
                    dq.Assertion(assertion="is_positive", success=False, column="amount"),
                ]
            )
        },
    )
    # Spark-style output: a path, with a symlink to the table it is.
    target = OutputDataset(
        namespace="hdfs://namenode:8020",
        name=f"/warehouse/mart.db/daily_{tag}",
        facets={
            "symlinks": symlinks_dataset.SymlinksDatasetFacet(
                identifiers=[
                    symlinks_dataset.Identifier(
                        namespace="hive://metastore:9083", name=f"mart.daily_{tag}", type="TABLE"
                    )
                ]
            ),
            "lifecycleStateChange": lifecycle_state_change_dataset.LifecycleStateChangeDatasetFacet(
                lifecycleStateChange=lifecycle_state_change_dataset.LifecycleStateChange.OVERWRITE
            ),
        },
        outputFacets={
            "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=1234, size=56789, fileCount=3
            )
        },
    )
    for state, seconds in ((RunState.START, 0.0), (RunState.COMPLETE, 90.5)):
        client.emit(
            RunEvent(
                eventType=state,
                eventTime=iso(seconds),
                run=Run(runId=run_id, facets=run_facets),
                job=job,
                producer=PRODUCER,
                inputs=[source],
                outputs=[target],
            )
        )

    run = query(
        storage,
        "SELECT job_namespace, job_name, state, toUnixTimestamp64Nano(start_time), "
        "toUnixTimestamp64Nano(end_time), toUnixTimestamp64Nano(nominal_start_time), "
        "toUnixTimestamp64Nano(nominal_end_time), parent_run_id, parent_job_name, "
        "processing_type, integration, job_type, events FROM runs WHERE run_id = {r:String}",
        r=run_id,
    )
    assert run == [
        (
            "airflow",
            f"etl_{tag}.load",
            "COMPLETE",
            ns(0),
            ns(90.5),
            ns(-3600),
            ns(0),
            parent_id,
            f"etl_{tag}",
            "BATCH",
            "AIRFLOW",
            "TASK",
            2,
        )
    ]
    # One dataset update, from the COMPLETE event only, under the symlinked table identity.
    updates = query(
        storage,
        "SELECT dataset_namespace, dataset_name, toUnixTimestamp64Nano(event_time), row_count, "
        "size_bytes, file_count, lifecycle_state FROM dataset_updates FINAL "
        "WHERE run_id = {r:String}",
        r=run_id,
    )
    assert updates == [
        (
            "hive://metastore:9083",
            f"mart.daily_{tag}",
            BASE_NS + 90_500_000_000,
            1234,
            56789,
            3,
            "OVERWRITE",
        )
    ]
    # START and COMPLETE both list the same datasets: one edge each way per run.
    edges = query(
        storage,
        "SELECT direction, dataset_namespace, dataset_name, source FROM lineage_edges FINAL "
        "WHERE run_id = {r:String} ORDER BY direction",
        r=run_id,
    )
    assert edges == [
        ("input", "postgres://db:5432", f"shop.orders_{tag}", "run"),
        ("output", "hive://metastore:9083", f"mart.daily_{tag}", "run"),
    ]
    # The schema was sent twice (START and COMPLETE): two observations of one version.
    schemas = query(
        storage,
        "SELECT field_names, field_types, count(), uniqExact(schema_hash) FROM dataset_schemas "
        "FINAL WHERE dataset_name = {d:String} GROUP BY field_names, field_types",
        d=f"shop.orders_{tag}",
    )
    assert schemas == [(["id", "amount"], ["INTEGER", "NUMERIC"], 2, 1)]
    checks = query(
        storage,
        "SELECT assertion, column, success, count() FROM quality_assertions FINAL "
        "WHERE dataset_name = {d:String} GROUP BY assertion, column, success ORDER BY assertion",
        d=f"shop.orders_{tag}",
    )
    # 2 assertions x 2 events (START and COMPLETE at different times)
    assert checks == [("is_positive", "amount", 0, 2), ("not_null", "id", 1, 2)]
    raw = query(
        storage,
        "SELECT event_type, producer, position(raw, 'dataQualityAssertions') > 0 "
        "FROM lineage_events FINAL WHERE run_id = {r:String} ORDER BY event_time",
        r=run_id,
    )
    assert raw == [("START", PRODUCER, 1), ("COMPLETE", PRODUCER, 1)]


def test_failed_run_keeps_its_error_message(svc: Service, storage: Storage) -> None:
    run_id = str(uuid.uuid4())
    client = make_client(svc.url)
    job = Job(namespace="spark", name=f"job_{uuid.uuid4().hex[:8]}")
    error = error_message_run.ErrorMessageRunFacet(
        message="division by zero", programmingLanguage="python", stackTrace="Traceback..."
    )
    for state, seconds, facets in (
        (RunState.START, 0, {}),
        (RunState.FAIL, 5, {"errorMessage": error}),
    ):
        client.emit(
            RunEvent(
                eventType=state,
                eventTime=iso(seconds),
                run=Run(runId=run_id, facets=facets),
                job=job,
                producer=PRODUCER,
            )
        )
    assert query(
        storage, "SELECT state, error_message FROM runs WHERE run_id = {r:String}", r=run_id
    ) == [("FAIL", "division by zero")]


def test_job_event_declares_static_lineage_of_a_serving_service(
    svc: Service, storage: Storage
) -> None:
    service_name = f"recommender-{uuid.uuid4().hex[:8]}"  # the service's service.name
    client = make_client(svc.url)
    client.emit(
        JobEvent(
            eventTime=iso(0),
            job=Job(namespace="serving", name=service_name),
            producer=PRODUCER,
            inputs=[
                InputDataset(namespace="feast://prod", name="user_features"),
                InputDataset(namespace="feast://prod", name="item_features"),
            ],
            outputs=[],
        )
    )
    edges = query(
        storage,
        "SELECT dataset_namespace, dataset_name, direction, run_id, source FROM lineage_edges "
        "FINAL WHERE job_name = {j:String} ORDER BY dataset_name",
        j=service_name,
    )
    assert edges == [
        ("feast://prod", "item_features", "input", "", "job"),
        ("feast://prod", "user_features", "input", "", "job"),
    ]
    assert query(
        storage,
        "SELECT kind, job_namespace, event_type FROM lineage_events WHERE job_name = {j:String}",
        j=service_name,
    ) == [("job", "serving", "")]


def test_dataset_event_records_schema(svc: Service, storage: Storage) -> None:
    name = f"features.users_{uuid.uuid4().hex[:8]}"
    client = make_client(svc.url)
    client.emit(
        DatasetEvent(
            eventTime=iso(0),
            producer=PRODUCER,
            dataset=StaticDataset(
                namespace="feast://prod",
                name=name,
                facets={"schema": _schema(("user_id", "BIGINT"), ("score", "DOUBLE"))},
            ),
        )
    )
    assert query(
        storage,
        "SELECT field_names, field_types, run_id FROM dataset_schemas "
        "WHERE dataset_name = {d:String}",
        d=name,
    ) == [(["user_id", "score"], ["BIGINT", "DOUBLE"], "")]
    assert query(
        storage,
        "SELECT kind, dataset_namespace FROM lineage_events WHERE dataset_name = {d:String}",
        d=name,
    ) == [("dataset", "feast://prod")]


def test_client_with_wrong_api_key_is_refused(svc: Service, storage: Storage) -> None:
    job_name = f"job_{uuid.uuid4().hex[:8]}"
    client = make_client(svc.url, api_key="wrong")
    event = RunEvent(
        eventType=RunState.START,
        eventTime=iso(0),
        run=Run(runId=str(uuid.uuid4())),
        job=Job(namespace="ns", name=job_name),
        producer=PRODUCER,
    )
    with pytest.raises(requests.HTTPError, match="401"):
        client.emit(event)
    assert query(
        storage, "SELECT count() FROM lineage_events WHERE job_name = {j:String}", j=job_name
    ) == [(0,)]


@pytest.fixture
def clean_environ() -> Iterator[None]:
    """The client writes aliases into ``os.environ`` itself; put everything back after."""
    saved = dict(os.environ)
    for key in [k for k in os.environ if k.startswith("OPENLINEAGE")]:
        del os.environ[key]
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.mark.parametrize(
    "variables",
    [
        {"OPENLINEAGE_URL": "{url}", "OPENLINEAGE_API_KEY": TOKEN},
        {
            "OPENLINEAGE__TRANSPORT__TYPE": "http",
            "OPENLINEAGE__TRANSPORT__URL": "{url}",
            "OPENLINEAGE__TRANSPORT__COMPRESSION": "gzip",
            "OPENLINEAGE__TRANSPORT__AUTH__TYPE": "api_key",
            "OPENLINEAGE__TRANSPORT__AUTH__APIKEY": TOKEN,
        },
    ],
    ids=["url-and-api-key", "dynamic-transport"],
)
def test_documented_environment_configuration_reaches_loadsense(
    svc: Service, storage: Storage, clean_environ: None, variables: dict[str, str]
) -> None:
    """The snippets in docs/lineage.md, verbatim: configuration only, no code."""
    for key, value in variables.items():
        os.environ[key] = value.format(url=svc.url)
    job_name = f"env_{uuid.uuid4().hex[:8]}"
    OpenLineageClient().emit(
        RunEvent(
            eventType=RunState.START,
            eventTime=iso(0),
            run=Run(runId=str(uuid.uuid4())),
            job=Job(namespace="env", name=job_name),
            producer=PRODUCER,
        )
    )
    assert query(
        storage, "SELECT count() FROM run_events WHERE job_name = {j:String}", j=job_name
    ) == [(1,)]
