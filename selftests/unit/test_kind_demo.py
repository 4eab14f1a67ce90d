"""testenv/kind_demo.py: the QSIGN demo's objects on kind wire each service to real dependencies."""

from __future__ import annotations

import yaml

from testenv import kind_demo


def _objects() -> list[dict]:
    return kind_demo.objects("localhost/opscheck-qsign:test", "localhost/opscheck-openbao:test", "0123abcd")


def test_every_service_probes_its_real_dependencies_through_services() -> None:
    objects = _objects()
    services = {o["metadata"]["name"] for o in objects if o["kind"] == "Service"}
    workloads = [o for o in objects if o["kind"] in ("Deployment", "StatefulSet")]
    # a dependency is applied (and waited for) before what needs it
    assert [w["metadata"]["name"] for w in workloads] == ["postgresql", "vault", *kind_demo.APPS]
    for workload in workloads:
        assert workload["metadata"]["name"] in services
    for app in kind_demo.APPS:
        (deployment,) = (w for w in workloads if w["metadata"]["name"] == app)
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        options = dict(a.split("=", 1) for a in container["args"] if "=" in a)
        hosts = {options[key].split(".")[0] for key in ("--db-host", "--vault-host", "--hsm-host")}
        assert hosts == {"postgresql", "vault", "hsm-adapter"} <= services


def test_every_node_port_and_the_ingress_entrypoint_are_published_on_the_host() -> None:
    config = yaml.safe_load((kind_demo.KIND_DIR / "demo-cluster.yaml").read_text())
    published = {m["containerPort"] for node in config["nodes"] for m in node.get("extraPortMappings", [])}
    ingress_script = (kind_demo.KIND_DIR / "install-ingress.sh").read_text()
    traefik_port = int(ingress_script.split("NODE_PORT=", 1)[1].split()[0])
    node_ports = {
        port["nodePort"]
        for o in _objects()
        if o["kind"] == "Service"
        for port in o["spec"]["ports"]
        if "nodePort" in port
    }
    assert node_ports == set(kind_demo.NODE_PORTS.values())
    assert node_ports | {traefik_port} == published


def test_the_ingress_routes_to_api_server_through_traefik() -> None:
    (ingress,) = (o for o in _objects() if o["kind"] == "Ingress")
    (rule,) = ingress["spec"]["rules"]
    assert ingress["spec"]["ingressClassName"] == "traefik"
    assert rule["host"] == kind_demo.INGRESS_HOST
    assert rule["http"]["paths"][0]["backend"]["service"]["name"] == "api-server"
