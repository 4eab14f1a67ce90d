"""testenv/kind_demo.py: the QSIGN demo's objects on kind wire each service to real dependencies."""

from __future__ import annotations

from testenv import kind_demo


def test_every_service_probes_its_real_dependencies_through_services() -> None:
    objects = kind_demo.objects("localhost/opscheck-qsign:test", "localhost/opscheck-openbao:test")
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
