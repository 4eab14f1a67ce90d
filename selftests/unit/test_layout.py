"""The library's layout by role (ARCHITECTURE.md), enforced on the imports themselves.

Each rule names which parts of opscheck a part may import. Imports under
`if TYPE_CHECKING:` are type hints only and do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LEAVES = {
    "opscheck.check",
    "opscheck.errors",
    "opscheck.timeutil",
    "opscheck.runbook",
    "opscheck.images",
    "opscheck.redact",
    "opscheck.yamlparse",
    "opscheck",
}
# Libraries that talk to the outside world: only sources/ (and the plugin, the CLI, testenv) use them.
IO_LIBRARIES = {
    "requests",
    "urllib3",
    "psycopg",
    "hvac",
    "redis",
    "dns",
    "socket",
    "subprocess",
    "testinfra",
    "http",
    "urllib",
}

# part -> (opscheck parts it may import, whether it may import pytest, whether it may do I/O)
RULES: dict[str, tuple[set[str], bool, bool]] = {
    "leaves": (LEAVES, True, False),
    "opscheck.profile": (LEAVES | {"opscheck.profile"}, False, False),
    "opscheck.sources": (LEAVES | {"opscheck.profile", "opscheck.sources"}, False, True),
    "opscheck.rules": (LEAVES | {"opscheck.profile", "opscheck.rules"}, False, False),
    "opscheck.record": (LEAVES | {"opscheck.profile", "opscheck.record"}, False, True),
    "checks": (LEAVES | {"opscheck.profile", "opscheck.rules"}, True, False),
}


def part_of(module: str) -> str:
    """`opscheck.sources.kube` -> `opscheck.sources`; a leaf module is itself."""
    if module in LEAVES:
        return module
    parts = module.split(".")
    if parts[1].startswith("__"):  # opscheck.__version__: the package itself
        return "opscheck"
    return ".".join(parts[:2])


def runtime_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import that runs, i.e. not under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for child in node.body for n in ast.walk(child))
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "opscheck":
                found += [(node.lineno, f"opscheck.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


def files_of(rule: str) -> list[Path]:
    if rule == "leaves":
        return [REPO / "opscheck" / f"{m.split('.')[-1]}.py" for m in LEAVES if m != "opscheck"]
    if rule == "checks":
        return sorted(REPO.glob("tests_*/*.py"))
    return sorted((REPO / rule.replace(".", "/")).rglob("*.py"))


@pytest.mark.parametrize("rule", sorted(RULES))
def test_imports_follow_the_layout(rule: str) -> None:
    allowed, pytest_ok, io_ok = RULES[rule]
    problems = []
    for path in files_of(rule):
        for line, module in runtime_imports(path):
            where = f"{path.relative_to(REPO)}:{line}"
            top = module.split(".")[0]
            if top == "opscheck" and part_of(module) not in allowed:
                problems.append(f"{where} imports {module}")
            elif top in {"pytest", "_pytest"} and not pytest_ok:
                problems.append(f"{where} imports {module} (only the plugin, fixtures and checks know pytest)")
            elif top in IO_LIBRARIES and not io_ok:
                problems.append(f"{where} imports {module} (I/O belongs in opscheck/sources/)")
            elif top in {"fixtures", "testenv", "selftests"}:
                problems.append(
                    f"{where} imports {module} (the library never imports the suite or the test environment)"
                )
    assert not problems, f"{rule}: " + "; ".join(problems)


def test_no_module_left_at_the_top_of_the_library() -> None:
    """opscheck/ holds the leaves, the CLI and the packages by role; nothing else."""
    top = {p.stem for p in (REPO / "opscheck").glob("*.py")}
    leaves = {m.removeprefix("opscheck.") for m in LEAVES if m != "opscheck"}
    assert top <= leaves | {"__init__", "__main__", "cli"}, sorted(top)
