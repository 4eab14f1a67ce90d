"""Monthly hardening: NetworkPolicies with default deny, Pod Security Standards labels,
no credentials in ConfigMaps or env literals, CIS benchmark (SmartSensor 002 보안 관리 and
정기 보안 스캔, Titanium 003 Secrets 관리)."""

import re
from datetime import UTC, datetime

from opscheck.check import check, component_absent
from opscheck.rules.hardening import (
    WORKLOAD_KINDS,
    namespace_policies,
    network_policy_findings,
    plaintext_credentials,
    pss_findings,
    split_allowed,
)
from opscheck.rules.kube_bench import bench_findings, stale_results, status_counts


@check(
    "monthly.network-policies", severity="high", covers=["002.monthly.network-policies", "002.security.default-deny"]
)
def test_network_policies(cluster, profile, evidence):
    """Every application namespace has NetworkPolicies, with a default deny for ingress and egress

    kubectl get networkpolicies -A
    Add the default-deny-all policy (podSelector: {}, policyTypes: [Ingress, Egress], no rules) to
    the namespace, then the allow policies each workload needs (ingress from the ingress
    controller, egress to the database, DNS):
    kubectl apply -n <namespace> -f network-policies.yaml
    """
    namespaces = profile.security.network_policy_namespaces
    namespaces = profile.namespaces if namespaces is None else namespaces
    rows, offenders = network_policy_findings(namespace_policies(namespaces, cluster.list("networkpolicies")))
    evidence.table(rows)
    evidence.expect_none(offenders, "namespaces without NetworkPolicies or a default deny", table=False)


@check("monthly.pod-security-labels", severity="high", covers=["002.security.pss-labels"])
def test_pod_security_labels(cluster, profile, evidence):
    r"""Application namespaces enforce the required Pod Security Standard

    kubectl get ns <namespace> --show-labels
    kubectl label ns <namespace> pod-security.kubernetes.io/enforce=restricted \
      pod-security.kubernetes.io/audit=restricted pod-security.kubernetes.io/warn=restricted --overwrite
    First check what would be refused: kubectl label --dry-run=server --overwrite ns <namespace> pod-security.kubernetes.io/enforce=restricted
    """
    pss = profile.security.pod_security
    namespaces = profile.namespaces if pss.namespaces is None else pss.namespaces
    rows, offenders = pss_findings(namespaces, cluster.list("namespaces"), pss.level, pss.modes)
    evidence.table(rows)
    evidence.note(f"required: {pss.level} for {', '.join(pss.modes)}")
    evidence.expect_none(offenders, f"namespaces without Pod Security Standard {pss.level}", table=False)


@check("monthly.plaintext-credentials", severity="high", covers=["003.security.secrets-no-plaintext"])
def test_plaintext_credentials(cluster, profile, evidence):
    """No credentials written in ConfigMaps or container env literals

    Move the value into a Secret (or Vault / External Secrets) and reference it:
    kubectl create secret generic <name> -n <namespace> --from-literal=<KEY>=<value>
    env: - name: <KEY>  valueFrom: {secretKeyRef: {name: <name>, key: <KEY>}}
    Remove the key from the ConfigMap / the literal from the manifest, then rotate the credential:
    it has been readable by everyone allowed to read ConfigMaps or workloads.
    """
    rules = profile.security.plaintext_credentials
    namespaces = set(profile.namespaces if rules.namespaces is None else rules.namespaces)
    configmaps = cluster.in_namespaces("configmaps", sorted(namespaces))
    objects = [(kind, obj) for kind in WORKLOAD_KINDS for obj in cluster.in_namespaces(kind, sorted(namespaces))]
    found, workloads = plaintext_credentials(configmaps, objects, re.compile(rules.key_pattern))
    evidence.examined(
        objects,
        f"{len(configmaps)} ConfigMaps and {workloads} workloads/bare pods in {', '.join(sorted(namespaces))}; "
        f"credential key names: /{rules.key_pattern}/",
    )
    offenders, allowed = split_allowed(found, rules.allowed)
    for c in allowed:
        evidence.note(f"allowed: {c.object} {c.location}")
    # key names only: a value never reaches the evidence
    evidence.expect_none(offenders, "credentials in plain text (key names shown, values withheld)")


@check("monthly.cis-benchmark", severity="high", covers=["002.security.cis-benchmark"])
def test_cis_benchmark(profile, kube_bench, evidence):
    """The CIS Kubernetes benchmark (kube-bench) has no failure outside the accepted list

    kube-bench run --targets master,node --json --outputfile kube-bench-results.json
    For each failed test: follow its remediation text in the report (kube-bench prints it per
    test number), fix the API server / kubelet / etcd configuration, and run kube-bench again.
    A finding that cannot be fixed yet goes to security.cis_benchmark.accepted with a justification.
    Publish the results with the time they were taken (kube-bench writes none; a file's date is
    not evidence): kube-bench run --json | jq --arg t "$(date -u +%FT%TZ)" '. + {timestamp: $t}'
    """
    bench = profile.security.cis_benchmark
    if bench is None:
        component_absent(profile.required, "kube-bench", "no security.cis_benchmark results in this profile")
    report = evidence.require(
        kube_bench, f"no kube-bench results match {profile.relative_path(bench.results)}: the benchmark was not run"
    )
    now = datetime.now(UTC)
    taken = f"taken {report.taken_at:%Y-%m-%d %H:%M}Z" if report.taken_at else "undated"
    evidence.note(f"{report.path.name}, {taken}: {status_counts(report.results)}")
    evidence.expect_none(
        stale_results(report.path.name, report.taken_at, report.taken_at_text, now, bench.max_age_days),
        f"kube-bench results not from the last {bench.max_age_days:g} days",
    )
    evidence.require(report.results, f"{report.path}: the kube-bench results hold no test result")
    rows, offenders = bench_findings(report.results, bench.fail_statuses, bench.accepted, now.date())
    evidence.table(rows)
    evidence.expect_none(offenders, "CIS benchmark findings not accepted", table=False)
