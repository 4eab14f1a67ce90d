"""Root conftest: the fixture plugins, one module per system.

The opscheck plugin itself is registered through its pytest11 entry point.
"""

pytest_plugins = [
    "fixtures.k8s",
    "fixtures.services",
    "fixtures.monitoring",
    "fixtures.hosts",
    "fixtures.database",
    "fixtures.ledger",
    "fixtures.attestations",
    "fixtures.systems",
    "fixtures.logindex",
]
