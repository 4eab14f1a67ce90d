"""The suite a user would write without opscheck, the way the kubernetes client's README
shows it: load the kubeconfig, make the typed APIs, call a list_* per check.

The bench points BENCH_KUBECONFIG at the bench cluster and BENCH_NAMESPACES (comma
separated) at the namespaces the opscheck profile monitors.
"""

import os

import pytest
from kubernetes import client, config


@pytest.fixture(scope="session", autouse=True)
def kube_config():
    config.load_kube_config(config_file=os.environ["BENCH_KUBECONFIG"])


@pytest.fixture
def v1():
    return client.CoreV1Api()


@pytest.fixture
def apps():
    return client.AppsV1Api()


@pytest.fixture
def custom():
    return client.CustomObjectsApi()


@pytest.fixture(scope="session")
def namespaces():
    return set(os.environ["BENCH_NAMESPACES"].split(","))
