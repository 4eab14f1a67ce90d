"""junit.xml, written from results.json's data (never from pytest's own reports).

The JUnit schema CI systems read (Jenkins' junit-10.xsd, which GitLab reads too) has no
properties on a testcase, only on a testsuite; so each check (per cluster) is a testsuite
of one testcase, and the suite's properties carry the check's declaration and, for a
waived or attested check, the waiver or the attestation. The element a testcase carries
per outcome is opscheck/record/outcomes.py's JUNIT_ELEMENT.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping
from typing import Any

from opscheck.record.outcomes import JUNIT_ELEMENT

PROPERTY_PREFIX = "opscheck."


def junit_names(nodeid: str) -> tuple[str, str]:
    """(classname, name) of a test, as pytest's junitxml names it: `tests_daily/test_x.py::test_y[c]`
    is ("tests_daily.test_x", "test_y[c]")."""
    path, *parts = nodeid.split("::")
    module = path.removesuffix(".py").replace("/", ".")
    return ".".join([module, *parts[:-1]]), parts[-1] if parts else path


def suite_name(check: Mapping[str, Any]) -> str:
    return f"{check['id']} [{check['cluster']}]" if check.get("cluster") else check["id"]


def check_properties(check: Mapping[str, Any], profile: str) -> list[tuple[str, str]]:
    props = [
        ("id", check["id"]),
        ("outcome", check["outcome"]),
        ("severity", check["severity"]),
        ("cadences", ",".join(check["cadences"])),
        ("covers", ",".join(k["key"] for k in check["runbook"])),
        ("profile", profile),
    ]
    if check.get("cluster"):
        props.append(("cluster", check["cluster"]))
    waiver = check.get("waiver")
    if check["outcome"] == "waived" and waiver:
        props += [
            ("waiver.id", waiver["ticket"]),
            ("waiver.by", waiver["approver"]),
            ("waiver.until", str(waiver["expires"])),
            ("waiver.reason", waiver["justification"]),
            ("waiver.state", waiver["state"]),
        ]
        if waiver.get("objects"):
            props.append(("waiver.objects", ",".join(waiver["objects"])))
    if check["outcome"] == "attested":
        props.append(("attestation", check["message"]))
    return [(PROPERTY_PREFIX + k, str(v)) for k, v in props]


def _seconds(value: float) -> str:
    return f"{value:.3f}"


def outcome_message(check: Mapping[str, Any]) -> str:
    """The message attribute: the check's one line; a waived one names its waiver first."""
    waiver = check.get("waiver")
    if check["outcome"] == "waived" and waiver:
        return f"waived ({waiver['ticket']}, by {waiver['approver']}, until {waiver['expires']}): {check['message']}"
    return check["message"]


def junit_xml(results: Mapping[str, Any]) -> bytes:
    """junit.xml for results.json's data (`run`, `checks`)."""
    run = results["run"]
    checks = results["checks"]
    profile = run["profile"]["name"]
    counts = Counter(JUNIT_ELEMENT[c["outcome"]] for c in checks)
    total_time = sum(c.get("duration_seconds") or 0 for c in checks)
    root = ET.Element(
        "testsuites",
        {
            "name": f"opscheck {'+'.join(run.get('cadences') or []) or 'all'} {profile}",
            "tests": str(len(checks)),
            "failures": str(counts["failure"]),
            "errors": str(counts["error"]),
            "time": _seconds(total_time),
        },
    )
    for check in checks:
        element = JUNIT_ELEMENT[check["outcome"]]
        suite = ET.SubElement(
            root,
            "testsuite",
            {
                "name": suite_name(check),
                "tests": "1",
                "failures": str(int(element == "failure")),
                "errors": str(int(element == "error")),
                "skipped": str(int(element == "skipped")),
                "time": _seconds(check.get("duration_seconds") or 0),
                "timestamp": run.get("started") or "",
                "hostname": run.get("host") or "",
            },
        )
        properties = ET.SubElement(suite, "properties")
        for name, value in check_properties(check, profile):
            ET.SubElement(properties, "property", {"name": name, "value": value})
        classname, name = junit_names(check["nodeid"])
        case = ET.SubElement(
            suite,
            "testcase",
            {"classname": classname, "name": name, "time": _seconds(check.get("duration_seconds") or 0)},
        )
        if element is not None:
            detail = ET.SubElement(
                case, element, {"type": f"opscheck.{check['outcome']}", "message": outcome_message(check)}
            )
            if element != "skipped":
                detail.text = f"{check['message']}\n\nRemediation: {check['remediation']}"
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def junit_outcomes(document: bytes) -> dict[str, str]:
    """Each testcase's outcome in a junit.xml (by `classname::name`), read back through the mapping."""
    root = ET.fromstring(document)
    outcomes: dict[str, str] = {}
    for suite in root.iter("testsuite"):
        props = {p.get("name"): p.get("value") for p in suite.iterfind("properties/property")}
        for case in suite.iterfind("testcase"):
            key = f"{case.get('classname')}::{case.get('name')}"
            if case.find("failure") is not None:
                outcome = "failed"
            elif case.find("error") is not None:
                outcome = "error"
            elif case.find("skipped") is not None:
                outcome = "waived" if PROPERTY_PREFIX + "waiver.id" in props else "not applicable"
            else:
                outcome = "attested" if PROPERTY_PREFIX + "attestation" in props else "passed"
            outcomes[key] = outcome
    return outcomes
