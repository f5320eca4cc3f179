"""The worker's metrics endpoints: a port another process holds never stops the worker."""

import socket

import pytest

from settings import Settings
from worker import serve_metrics


def test_a_worker_whose_metrics_ports_are_taken_runs_on_without_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Another process holds the metrics port and the SDK's port after it: logged, no crash."""
    held = []
    for _ in range(50):  # two adjacent free ports, held
        first = socket.socket()
        first.bind(("127.0.0.1", 0))
        second = socket.socket()
        try:
            second.bind(("127.0.0.1", first.getsockname()[1] + 1))
        except OSError:
            first.close()
            second.close()
            continue
        held = [first, second]
        break
    for sock in held:
        sock.listen()
    port = held[0].getsockname()[1]
    settings = Settings(worker_metrics_host="127.0.0.1", worker_metrics_port=port)
    try:
        assert serve_metrics(settings) is None
    finally:
        for sock in held:
            sock.close()
    assert "worker metrics are not served" in caplog.text
    assert "Temporal SDK metrics are not served" in caplog.text
