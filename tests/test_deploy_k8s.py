"""deploy/k8s/: every manifest of the base and of the production overlay validates
against the Kubernetes schemas (kubernetes-validate, offline, strict: unknown fields are
errors) and agrees with the code.

``kustomize`` and ``kubectl`` cannot be installed here, so the overlay is rendered by
``build_kustomization`` (tests/support/deploy_files.py) from the kustomization files'
resources, generators, patches, images and namespace. The Altinity operator's kinds
(``ClickHouseInstallation``, ``ClickHouseKeeperInstallation``) have no schema in
kubernetes-validate: they are checked structurally below, against what the operator
documents (its Service names, templates, Keeper port).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import kubernetes_validate
import pytest
import yaml

from loadsense.settings import Settings
from tests.support.deploy_files import (
    DEPLOY,
    Doc,
    all_containers,
    app_paths,
    build_kustomization,
    by_kind,
    check_collector_config,
    collector_listen_ports,
    env_of,
    image_command,
    image_env,
    parse_cli,
    pinned,
    pod_spec,
    settings_from_env,
    streamlit_health_path,
    url_parts,
    workloads,
)

K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.33.0"
OPERATOR_KINDS = {"ClickHouseInstallation", "ClickHouseKeeperInstallation"}
RENDERINGS = {
    "base": K8S / "base",
    "production": K8S / "overlays" / "production",
}


@pytest.fixture(scope="module", params=sorted(RENDERINGS))
def docs(request: pytest.FixtureRequest) -> list[Doc]:
    return build_kustomization(RENDERINGS[request.param], env_fallback=".example")


@pytest.fixture(scope="module")
def production() -> list[Doc]:
    return build_kustomization(RENDERINGS["production"], env_fallback=".example")


def loadsense_containers(docs: list[Doc]) -> Iterator[tuple[Doc, dict[str, Any]]]:
    for doc in workloads(docs):
        for container in pod_spec(doc)["containers"]:
            if container["image"].rsplit(":", 1)[0].endswith("loadsense"):
                yield doc, container


def cli_of(container: dict[str, Any]) -> Any:
    assert "command" not in container, "the image's entrypoint is `loadsense`"
    return parse_cli(container.get("args", image_command()[1:]))


def settings_of(doc: Doc, container: dict[str, Any]) -> Settings:
    """The image's environment overlaid by the container's, as the process sees it."""
    env = {**image_env(), **env_of(container)}
    return settings_from_env(env, f"{doc['kind']}/{doc['metadata']['name']}")


def component(doc: Doc) -> str:
    return str(doc["metadata"]["labels"]["app.kubernetes.io/component"])


def test_every_manifest_validates_against_the_kubernetes_schemas(docs: list[Doc]) -> None:
    checked = set()
    for doc in docs:
        if doc["kind"] in OPERATOR_KINDS:
            continue  # no schema: structural checks below
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        checked.add(doc["kind"])
    assert {
        "Deployment",
        "DaemonSet",
        "Service",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "Secret",
        "ConfigMap",
    } <= checked
    assert {d["kind"] for d in docs} >= OPERATOR_KINDS


def test_the_validator_rejects_a_misspelt_field() -> None:
    """strict mode is what makes the check above catch typos."""
    deployment = next(
        d for d in build_kustomization(RENDERINGS["base"]) if d["kind"] == "Deployment"
    )
    pod_spec(deployment)["containers"][0]["readinesProbe"] = {"httpGet": {"port": 1}}
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_every_container_is_pinned_non_root_probed_and_bounded(docs: list[Doc]) -> None:
    for doc in workloads(docs):
        spec = pod_spec(doc)
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        pod_security = spec["securityContext"]
        assert pod_security["runAsNonRoot"] is True and pod_security["runAsUser"] > 0, where
        assert spec.get("automountServiceAccountToken") is False, where
        for container in spec["containers"]:
            assert pinned(container["image"]), f"{where}: {container['image']}"
            assert "livenessProbe" in container, where
            if container.get("ports"):
                assert "readinessProbe" in container, where
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), where
            assert "memory" in resources["limits"], where
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["capabilities"]["drop"] == ["ALL"], where


def test_loadsense_containers_run_real_commands_with_declared_settings(docs: list[Doc]) -> None:
    commands = {}
    for doc, container in loadsense_containers(docs):
        args = cli_of(container)
        commands[component(doc)] = args.command
        settings = settings_of(doc, container)
        if args.command == "serve":
            assert settings.telemetry_source == "otel-clickhouse", component(doc)
            assert settings.ingest_tokens and settings.read_tokens
    assert commands == {
        "api": "serve",
        "correlator": "serve",
        "dashboard": "dashboard",
        "agent": "agent",
    }


def test_ports_and_probes_are_what_the_processes_serve(docs: list[Doc]) -> None:
    for doc, container in loadsense_containers(docs):
        args = cli_of(container)
        ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
        if args.command == "serve":
            paths = app_paths(settings_of(doc, container))
            assert ports == {"http": settings_of(doc, container).port}
            assert settings_of(doc, container).host == "0.0.0.0"  # reachable by the kubelet
        elif args.command == "dashboard":
            paths = {streamlit_health_path()}
            assert ports == {"http": int(args.port)}
            assert args.host == "0.0.0.0"
        else:
            assert not ports  # the agent serves nothing
            continue
        for probe in ("readinessProbe", "livenessProbe"):
            get = container[probe]["httpGet"]
            assert get["path"] in paths and get["port"] in ports, f"{component(doc)} {probe}"
    api = next(c for d, c in loadsense_containers(docs) if component(d) == "api")
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"  # waits for the schema


def test_one_correlator_and_autoscaled_api_replicas(docs: list[Doc]) -> None:
    deployments = by_kind(docs, "Deployment")
    correlator = deployments["loadsense-correlator"]
    assert correlator["spec"]["replicas"] == 1
    assert correlator["spec"]["strategy"] == {"type": "Recreate"}  # never two at once
    roles = {
        component(d): settings_of(d, c).roles
        for d, c in loadsense_containers(docs)
        if cli_of(c).command == "serve"
    }
    assert roles == {"api": ("ingest", "api"), "correlator": ("correlator",)}
    hpas = list(by_kind(docs, "HorizontalPodAutoscaler").values())
    assert [h["spec"]["scaleTargetRef"]["name"] for h in hpas] == ["loadsense-api"]
    metric = hpas[0]["spec"]["metrics"][0]["resource"]
    assert metric["name"] == "cpu" and metric["target"]["type"] == "Utilization"
    assert hpas[0]["spec"]["minReplicas"] >= 2


def test_agent_daemonset_sees_the_node(docs: list[Doc]) -> None:
    agent = by_kind(docs, "DaemonSet")["loadsense-agent"]
    spec = pod_spec(agent)
    assert spec["hostPID"] is True
    assert not spec.get("hostNetwork") and not spec.get("volumes", [{}])[0].get("hostPath")
    container = spec["containers"][0]
    args = cli_of(container)
    assert args.host_name == "$(NODE_NAME)"
    node = next(e for e in container["env"] if e["name"] == "NODE_NAME")
    assert node["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"


def test_tokens_come_from_the_secret_it_declares(docs: list[Doc]) -> None:
    secrets = by_kind(docs, "Secret")
    refs = 0
    for container in all_containers(docs):
        for item in container.get("env", []):
            if re.search("TOKEN|PASSWORD", item["name"]):
                ref = item["valueFrom"]["secretKeyRef"]  # never a literal value
                assert ref["key"] in secrets[ref["name"]]["data"], ref
                refs += 1
    assert refs >= 8
    chi = by_kind(docs, "ClickHouseInstallation")["loadsense"]
    secret, key = chi["spec"]["configuration"]["users"]["loadsense/k8s_secret_password"].split("/")
    assert key in secrets[secret]["data"]


def test_base_secret_is_empty_so_an_unconfigured_install_fails_closed() -> None:
    base = by_kind(build_kustomization(RENDERINGS["base"]), "Secret")["loadsense-tokens"]
    assert {k: base64.b64decode(v) for k, v in base["data"].items()} == {
        "ingest": b"",
        "read": b"",
        "clickhouse-password": b"",
    }
    assert (RENDERINGS["production"] / ".gitignore").read_text().split() == ["tokens.env"]


def services_listening(docs: list[Doc]) -> dict[str, set[int]]:
    """Service name -> ports, each checked to reach a named port of a pod it selects."""
    pods = [(pod_spec(d), d["spec"]["template"]["metadata"]["labels"]) for d in workloads(docs)]
    out: dict[str, set[int]] = {}
    for name, service in by_kind(docs, "Service").items():
        selector = service["spec"]["selector"]
        selected = [s for s, labels in pods if selector.items() <= labels.items()]
        assert selected, f"Service/{name} selects no pod"
        named = {p["name"] for s in selected for c in s["containers"] for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in named, f"Service/{name}: {port['targetPort']}"
        out[name] = {p["port"] for p in service["spec"]["ports"]}
    chi = by_kind(docs, "ClickHouseInstallation")["loadsense"]
    out[f"clickhouse-{chi['metadata']['name']}"] = {8123, 9000}  # the operator's Service
    return out


def test_urls_name_services_on_ports_they_serve(docs: list[Doc]) -> None:
    listening = services_listening(docs)
    urls = []
    for doc, container in loadsense_containers(docs):
        args = cli_of(container)
        if args.command == "serve":
            urls.append(settings_of(doc, container).clickhouse_dsn)
        elif args.command == "dashboard":
            urls.append(args.api)
        else:
            urls.append(args.endpoint)
    assert len(urls) == 4
    for url in urls:
        host, port, _ = url_parts(url)
        assert port in listening.get(host, set()), url


def test_network_policies_cover_every_pod_and_let_producers_in(docs: list[Doc]) -> None:
    policies = by_kind(docs, "NetworkPolicy")
    assert policies["default-deny-ingress"]["spec"] == {
        "podSelector": {},
        "policyTypes": ["Ingress"],
    }
    open_ports = {
        name: {p["port"] for rule in pol["spec"].get("ingress", []) for p in rule.get("ports", [])}
        for name, pol in policies.items()
    }
    assert open_ports["loadsense-api"] == {4318}
    assert open_ports["otel-collector"] == {4317, 4318}
    assert open_ports["loadsense-dashboard"] == {8501}
    for doc in workloads(docs):
        labels = doc["spec"]["template"]["metadata"]["labels"]
        specific = [
            n
            for n, p in policies.items()
            if p["spec"]["podSelector"]
            and p["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
        ]
        if component(doc) != "correlator":  # open egress for alert receivers
            assert specific, f"{doc['metadata']['name']} has only the default policy"


def test_clickhouse_cluster_is_the_one_loadsense_migrates(docs: list[Doc]) -> None:
    """The Altinity kinds, checked by structure: the cluster Loadsense names is the one
    the installation defines and the shipped cluster schema renders; Keeper is the
    operator's Service on the port Keeper listens on; templates exist; images pinned."""
    chi = by_kind(docs, "ClickHouseInstallation")["loadsense"]
    chk = by_kind(docs, "ClickHouseKeeperInstallation")["loadsense-keeper"]
    assert chi["apiVersion"] == "clickhouse.altinity.com/v1"
    assert chk["apiVersion"] == "clickhouse-keeper.altinity.com/v1"
    clusters = chi["spec"]["configuration"]["clusters"]
    assert len(clusters) == 1 and clusters[0]["layout"]["replicasCount"] >= 2
    cluster = clusters[0]["name"]
    for doc, container in loadsense_containers(docs):
        if cli_of(container).command == "serve":
            assert settings_of(doc, container).clickhouse_cluster == cluster
    schema = (DEPLOY / "clickhouse" / "cluster-schema.sql").read_text(encoding="utf-8")
    assert set(re.findall(r"ON CLUSTER `(\w+)`", schema)) == {cluster}
    keeper = chi["spec"]["configuration"]["zookeeper"]["nodes"]
    keeper_port = int(chk["spec"]["configuration"]["settings"]["keeper_server/tcp_port"])
    assert keeper == [{"host": f"keeper-{chk['metadata']['name']}", "port": keeper_port}]
    assert chk["spec"]["configuration"]["clusters"][0]["layout"]["replicasCount"] % 2 == 1
    for install in (chi, chk):
        templates = install["spec"]["templates"]
        pods = {t["name"]: t for t in templates["podTemplates"]}
        claims = {t["name"] for t in templates["volumeClaimTemplates"]}
        defaults = install["spec"]["defaults"]["templates"]
        assert defaults["podTemplate"] in pods
        assert {v for k, v in defaults.items() if k != "podTemplate"} <= claims
        for template in pods.values():
            assert template["spec"]["securityContext"]["runAsNonRoot"] is True
            for container in template["spec"]["containers"]:
                assert pinned(container["image"]), container["image"]
                assert {"cpu", "memory"} <= set(container["resources"]["requests"])


def test_collector_writes_the_tables_loadsense_reads(docs: list[Doc]) -> None:
    config = yaml.safe_load(by_kind(docs, "ConfigMap")["otel-collector"]["data"]["config.yaml"])
    chi = by_kind(docs, "ClickHouseInstallation")["loadsense"]
    for doc, container in loadsense_containers(docs):
        if cli_of(container).command == "serve":
            check_collector_config(
                config,
                f"clickhouse-{chi['metadata']['name']}",
                settings_of(doc, container),
                doc["metadata"]["name"],
            )
    exporter = config["exporters"]["clickhouse"]
    assert exporter["cluster_name"] == chi["spec"]["configuration"]["clusters"][0]["name"]
    collector = by_kind(docs, "Deployment")["otel-collector"]
    container = pod_spec(collector)["containers"][0]
    ports = {p["containerPort"] for p in container["ports"]}
    assert collector_listen_ports(config) <= ports
    mount = container["volumeMounts"][0]["mountPath"]
    assert container["args"] == [f"--config={mount}/config.yaml"]


def test_production_overlay_sets_namespace_images_and_capacity(production: list[Doc]) -> None:
    assert all(
        d["metadata"].get("namespace") == "loadsense"
        for d in production
        if d["kind"] != "Namespace"
    )
    images = {c["image"] for _, c in loadsense_containers(production)}
    assert images == {"registry.example.com/loadsense:0.1.0"}
    hpa = by_kind(production, "HorizontalPodAutoscaler")["loadsense-api"]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 16)
    api = pod_spec(by_kind(production, "Deployment")["loadsense-api"])["containers"][0]
    assert api["resources"]["requests"]["cpu"] == "1500m"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"  # the patch merged, kept it
