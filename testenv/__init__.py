"""The local test environment: a real Kubernetes control plane (kwok nodes), OpenBao,
PostgreSQL, Prometheus and the sample QSIGN services, all on 127.0.0.1, no Docker."""
