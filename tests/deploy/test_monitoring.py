"""The alert rules are valid Prometheus rules, and they and the dashboard use series MCS serves."""

import json
import re
import shutil
import subprocess
from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase

from telemetry import metrics
from tests.helpers import missing

DEPLOY = Path(__file__).parent.parent.parent / "deploy"
SERIES = re.compile(r"\b([a-z_]+(?:_total|_seconds|_size|_queued)(?:_bucket|_count|_sum)?)\b")


def served() -> set[str]:
    names = set()
    for collector in vars(metrics).values():
        if not isinstance(collector, MetricWrapperBase):
            continue
        for family in collector.describe():
            names.add(family.name)
            names.update(family.name + suffix for suffix in ("_total", "_bucket", "_count", "_sum"))
    return names


def test_promtool_accepts_the_alert_rules() -> None:
    promtool = shutil.which("promtool") or ""
    if not promtool:
        missing("promtool is missing (apt-get install prometheus)")
    checked = subprocess.run(
        [promtool, "check", "rules", str(DEPLOY / "prometheus" / "alerts.yml")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 6 rules found" in checked.stdout
    config = subprocess.run(
        [promtool, "check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert config.returncode == 0, config.stdout + config.stderr  # the compose stack's config


def test_alerts_and_dashboard_name_only_series_we_serve() -> None:
    rules = (DEPLOY / "prometheus" / "alerts.yml").read_text()
    dashboard = json.loads((DEPLOY / "grafana" / "mcs.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = set(SERIES.findall(rules + "\n".join(exprs)))
    assert used and used <= served(), used - served()
    learning = set(SERIES.findall("\n".join(exprs))) & {"orders_total", "learned_refs_total"}
    assert learning == {"orders_total", "learned_refs_total"}  # the touchless panels
