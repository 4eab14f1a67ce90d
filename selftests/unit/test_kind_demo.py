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


def test_every_node_port_is_published_on_the_host() -> None:
    config = yaml.safe_load((kind_demo.KIND_DIR / "demo-cluster.yaml").read_text())
    published = {m["containerPort"] for node in config["nodes"] for m in node.get("extraPortMappings", [])}
    node_ports = {
        port["nodePort"]
        for o in _objects()
        if o["kind"] == "Service"
        for port in o["spec"]["ports"]
        if "nodePort" in port
    }
    assert node_ports == set(kind_demo.NODE_PORTS.values()) == published


def test_api_server_is_the_one_load_balancer_and_keeps_its_node_port() -> None:
    services = {o["metadata"]["name"]: o for o in _objects() if o["kind"] == "Service"}
    balancers = [name for name, s in services.items() if s["spec"].get("type") == "LoadBalancer"]
    assert balancers == [kind_demo.LOAD_BALANCER] == ["api-server"]
    (port,) = services["api-server"]["spec"]["ports"]
    # the profile's health URL (127.0.0.1:30081) still reaches it through its NodePort
    assert port["nodePort"] == kind_demo.NODE_PORTS["api-server"]
    assert not [o for o in _objects() if o["kind"] == "Ingress"]
