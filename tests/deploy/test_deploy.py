"""The deployment files: the compose file as Debian's docker-compose reads it (no engine needed),
the Kubernetes manifests against their schemas, the image's build rules."""

import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import missing

ROOT = Path(__file__).resolve().parent.parent.parent
FILLED = {"POSTGRES_PASSWORD": "pg-secret", "MINIO_ROOT_PASSWORD": "minio-secret-123",
          "GRAFANA_ADMIN_PASSWORD": "grafana-secret"}  # fmt: skip


def compose(tmp_path: Path, env: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose") or ""
    if not binary:
        missing("docker-compose is not installed (apt-get install docker-compose)")
    shutil.copy(ROOT / "docker-compose.yml", tmp_path)
    (tmp_path / ".env").write_text(env)
    return subprocess.run(
        [binary, "config", "-q"], cwd=tmp_path, capture_output=True, text=True, check=False
    )


def test_the_compose_file_is_valid_once_env_is_filled_in(tmp_path: Path) -> None:
    example = (ROOT / ".env.example").read_text()
    lines = [
        f"{line}{FILLED[line[:-1]]}" if line.endswith("=") and line[:-1] in FILLED else line
        for line in example.splitlines()
    ]
    checked = compose(tmp_path, "\n".join(lines) + "\n")
    assert checked.returncode == 0, checked.stderr


def test_the_compose_file_refuses_an_unfilled_env(tmp_path: Path) -> None:
    checked = compose(tmp_path, (ROOT / ".env.example").read_text())
    assert checked.returncode != 0 and "set POSTGRES_PASSWORD in .env" in checked.stderr


def test_the_kubernetes_manifests_match_their_schemas() -> None:
    manifests = sorted(str(p) for p in (ROOT / "deploy" / "k8s").glob("*.yaml"))
    assert len(manifests) >= 5
    validator = Path(sys.executable).parent / "kubernetes-validate"
    checked = subprocess.run(
        [str(validator), "--strict", *manifests], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for kind in ("deployment/mcs-api", "deployment/mcs-worker", "job/mcs-db-upgrade",
                 "horizontalpodautoscaler/mcs-worker", "poddisruptionbudget/mcs-worker",
                 "service/mcs-api", "configmap/mcs", "secret/mcs",
                 "networkpolicy/temporal-frontend-from-mcs-only"):  # fmt: skip
        assert f"passed for resource {kind}" in checked.stdout + checked.stderr, kind


def test_the_image_is_multi_stage_slim_pinned_and_not_root() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    bases = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("FROM ")]
    assert len(bases) == 2 and all(b.startswith("python:3.11.11-slim") for b in bases)
    assert "USER 10001:10001" in dockerfile and "COPY --from=build" in dockerfile
