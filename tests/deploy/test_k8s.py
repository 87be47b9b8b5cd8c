"""Kubernetes manifests (deploy/k8s): schema-valid, scalable, drain-safe, locked down."""

from __future__ import annotations

import copy
import shutil
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from services.gateway.settings import GatewaySettings
from services.refresher.settings import RefresherSettings
from services.router.settings import RouterSettings
from tests.deploy.tools import ROOT, run, tool

pytestmark = pytest.mark.e2e  # starts processes (tools or services)

K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30.0"  # oldest version we promise; every field used exists there


@pytest.fixture(scope="module")
def manifests(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """`kubectl kustomize` of the directory after `cp secrets.env.example secrets.env`."""
    work = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S, work)
    shutil.copy(work / "secrets.env.example", work / "secrets.env")
    result = run([tool("kubectl"), "kustomize", str(work)])
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def find(manifests: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"].startswith(name)]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def container(manifests: list[dict[str, Any]], name: str) -> dict[str, Any]:
    pod = find(manifests, "Deployment", name)["spec"]["template"]["spec"]
    (main,) = [c for c in pod["containers"] if c["name"] == name]
    found: dict[str, Any] = main
    return found


def test_every_manifest_is_valid_against_the_kubernetes_schemas(manifests: list[dict[str, Any]]) -> None:
    kinds = set()
    for manifest in manifests:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        kinds.add(manifest["kind"])
    expected = {"Namespace", "ConfigMap", "Secret", "Service", "Deployment", "StatefulSet"}
    assert expected | {"PodDisruptionBudget", "HorizontalPodAutoscaler"} <= kinds


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (["spec", "replicas"], "two"),  # wrong type
        (["spec", "template", "spec", "containers", 0, "imagePullPolicyy"], "Always"),  # unknown field
        (["spec", "template", "spec", "containers", 0, "readinessProbe", "httpGet", "port"], [8088]),
    ],
)
def test_schema_validation_rejects_a_broken_deployment(
    manifests: list[dict[str, Any]], path: list[Any], value: Any
) -> None:
    broken = copy.deepcopy(find(manifests, "Deployment", "router"))
    target: Any = broken
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize(("name", "port"), [("router", 8088), ("gateway", 8000)])
def test_client_path_runs_at_least_two_probed_and_sized_replicas(
    manifests: list[dict[str, Any]], name: str, port: int
) -> None:
    deployment = find(manifests, "Deployment", name)
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    main = container(manifests, name)
    assert main["args"] == [name]
    named_ports = {p["name"]: p["containerPort"] for p in main["ports"]}
    for probe, path in (("readinessProbe", "/ready"), ("livenessProbe", "/health")):
        get = main[probe]["httpGet"]
        assert get["path"] == path
        assert named_ports[get["port"]] == port
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(main["resources"][kind]), f"{name} {kind}"


@pytest.mark.parametrize("name", ["router", "gateway"])
def test_scaled_deployments_have_a_disruption_budget_and_an_autoscaler(
    manifests: list[dict[str, Any]], name: str
) -> None:
    deployment = find(manifests, "Deployment", name)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    pdb = find(manifests, "PodDisruptionBudget", name)
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pdb["spec"]["minAvailable"] >= 1
    hpa = find(manifests, "HorizontalPodAutoscaler", name)
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
    assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]


def test_every_service_selects_the_pods_that_serve_its_port(manifests: list[dict[str, Any]]) -> None:
    workloads = [m for m in manifests if m["kind"] in {"Deployment", "StatefulSet"}]
    for service in (m for m in manifests if m["kind"] == "Service"):
        selector = service["spec"]["selector"]
        backing = [
            w for w in workloads if selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(backing) == 1, service["metadata"]["name"]
        ports = {p["name"] for c in backing[0]["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, service["metadata"]["name"]


@pytest.mark.parametrize("name", ["router", "gateway"])
def test_grace_period_covers_the_pre_stop_pause_and_the_drain_window(
    manifests: list[dict[str, Any]], name: str
) -> None:
    config = find(manifests, "ConfigMap", "kiro-config")["data"]
    drain = float(config["DRAIN_TIMEOUT_SECONDS"])
    pod = find(manifests, "Deployment", name)["spec"]["template"]["spec"]
    pre_stop = container(manifests, name)["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] >= float(pre_stop[1]) + drain + 5


def test_routers_resolve_gateway_pods_through_a_headless_service(manifests: list[dict[str, Any]]) -> None:
    """Each router balances over the gateway pods itself: the Service's name must give their addresses."""
    service = find(manifests, "Service", "gateway")
    assert service["spec"]["clusterIP"] == "None"
    url = urlsplit(find(manifests, "ConfigMap", "kiro-config")["data"]["GATEWAY_URLS"])
    assert url.hostname == service["metadata"]["name"]
    assert url.port in {p["port"] for p in service["spec"]["ports"]}


def test_refresher_runs_one_replica_and_may_overlap_during_rollouts(manifests: list[dict[str, Any]]) -> None:
    refresher = find(manifests, "Deployment", "refresher")
    assert refresher["spec"]["replicas"] == 1
    assert refresher["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert container(manifests, "refresher")["args"] == ["refresher"]


def test_redis_keeps_its_data_on_a_persistent_volume_with_aof(manifests: list[dict[str, Any]]) -> None:
    redis = find(manifests, "StatefulSet", "redis")
    (claim,) = redis["spec"]["volumeClaimTemplates"]
    (main,) = redis["spec"]["template"]["spec"]["containers"]
    assert {"name": claim["metadata"]["name"], "mountPath": "/data"} in main["volumeMounts"]
    assert main["args"][main["args"].index("--appendonly") + 1] == "yes"


def test_pods_run_as_non_root_on_a_read_only_filesystem(manifests: list[dict[str, Any]]) -> None:
    for workload in (m for m in manifests if m["kind"] in {"Deployment", "StatefulSet"}):
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for main in pod["containers"]:
            context = main["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]


def test_secrets_come_from_a_generated_secret_and_the_gateway_sees_only_the_internal_key(
    manifests: list[dict[str, Any]],
) -> None:
    secret = find(manifests, "Secret", "kiro-secrets")
    assert set(secret["data"]) >= {"KIRO_SECRET_KEY", "INTERNAL_API_KEY", "ADMIN_PASSWORD", "ADMIN_API_KEY"}
    gateway = container(manifests, "gateway")
    assert all("secretRef" not in source for source in gateway.get("envFrom", []))
    refs = [e["valueFrom"]["secretKeyRef"]["key"] for e in gateway["env"] if "valueFrom" in e]
    assert refs == ["INTERNAL_API_KEY"]
    assert run(["git", "check-ignore", "-q", "deploy/k8s/secrets.env"], cwd=ROOT).returncode == 0


def test_config_map_sets_only_settings_the_services_know(manifests: list[dict[str, Any]]) -> None:
    classes = (RouterSettings, GatewaySettings, RefresherSettings)
    known = {n.upper() for cls in classes for n in cls.model_fields}
    config = find(manifests, "ConfigMap", "kiro-config")["data"]
    assert set(config) <= known, set(config) - known
    for settings in classes:
        settings.model_validate(
            {k.lower(): v for k, v in config.items() if k.lower() in settings.model_fields}
        )


def test_kustomization_lists_every_manifest_file() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
