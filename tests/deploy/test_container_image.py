"""The Containerfile builds, and its image runs cargohold as a user would deploy it (issue 14).

One test, because building the image is the expensive part (minutes): it builds the repository's
Containerfile with podman on a Debian base made offline (see ``tests.deploy.podman``), starts a container
configured the two documented ways at once (``CARGOHOLD_*`` variables and a mounted config file) with a
published loopback port and a named volume, and checks what an operator would: ``/readyz``, the anonymous
``/v2/`` challenge naming the configured public URL, a login with the password from the environment, the
repository from the mounted file, a non-root process, the image's HEALTHCHECK, the data on the volume, a
prompt clean stop on SIGTERM, and a second container on the same volume that still knows the admin. It removes
exactly the containers, volume and image it made.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.deploy.http import call, wait_ready
from tests.deploy.podman import build_image, ensure_base_image, podman, start_container
from tests.support.processes import free_port

pytestmark = [pytest.mark.deploy, pytest.mark.timeout(1800)]

ADMIN_PASSWORD = "container-admin-password"
STOP_GRACE_S = 20
CONFIG = "repositories:\n  - name: team\n    visibility: private\n"


def test_image_builds_and_serves_as_documented(tmp_path: Path, made: dict[str, list[str]]) -> None:
    name = f"cargohold-test-{uuid.uuid4().hex[:12]}"
    base = ensure_base_image()

    made["images"].append(name)  # the tag, until the build says the id
    image = build_image(base, f"localhost/{name}:latest", tmp_path / "iid")
    made["images"][:] = [image]
    config = json.loads(podman("image", "inspect", "--format", "{{json .Config}}", image))
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["/opt/cargohold/bin/cargohold", "serve"]
    assert "/var/lib/cargohold" in config["Volumes"]
    assert "5000/tcp" in config["ExposedPorts"]
    healthcheck = json.loads(podman("image", "inspect", "--format", "{{json .HealthCheck}}", image))
    assert "http://127.0.0.1:5000/readyz" in " ".join(healthcheck["Test"])

    podman("volume", "create", name)
    made["volumes"].append(name)
    config_file = tmp_path / "cargohold.yml"
    config_file.write_text(CONFIG)
    config_file.chmod(0o644)
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    made["containers"].append(name)
    container = start_container(
        image, name, port,
        [
            "--volume", f"{name}:/var/lib/cargohold",
            "--env", f"CARGOHOLD_ADMIN_PASSWORD={ADMIN_PASSWORD}",
            "--env", f"CARGOHOLD_PUBLIC_URL={public_url}",
            "--env", "CARGOHOLD_CONFIG=/etc/cargohold/cargohold.yml",
            "--volume", f"{config_file}:/etc/cargohold/cargohold.yml:ro",
        ],
    )  # fmt: skip
    wait_ready(public_url, lambda: container.running, container.describe)

    anonymous = call(f"{public_url}/v2/")
    assert anonymous.status == 401, container.describe()
    challenge = f'Bearer realm="{public_url}/v2/token",service="cargohold"'
    assert anonymous.headers["WWW-Authenticate"] == challenge
    assert anonymous.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    assert call(f"{public_url}/v2/", ADMIN_PASSWORD).status == 200
    team = call(f"{public_url}/api/v1/repositories/team", ADMIN_PASSWORD)
    assert team.status == 200, team.body
    assert json.loads(team.body)["managed_by_config"] is True

    assert container.exec("id", "-u") == "10001"
    assert container.exec("id", "-g") == "10001"
    assert podman("healthcheck", "run", name, check=False).strip() in ("", "healthy")
    assert container.inspect("{{.State.Health.Status}}") == "healthy"

    volume = Path(podman("volume", "inspect", "--format", "{{.Mountpoint}}", name).strip())
    key = volume / "secret.key"
    assert (volume / "cargohold.db").is_file()
    assert key.stat().st_uid == 10001
    assert key.stat().st_mode & 0o777 == 0o600
    key_text = key.read_text()

    assert container.stop(STOP_GRACE_S) == 0, container.describe()  # 137 would mean SIGTERM was ignored

    second = f"{name}-again"
    made["containers"].append(second)
    # the same volume; no password, no config this time
    again = start_container(image, second, port, ["--volume", f"{name}:/var/lib/cargohold"])
    wait_ready(public_url, lambda: again.running, again.describe)
    assert call(f"{public_url}/v2/", ADMIN_PASSWORD).status == 200, again.describe()
    assert key.read_text() == key_text
