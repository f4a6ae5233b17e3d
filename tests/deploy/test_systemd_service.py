"""deploy/cargohold.service runs cargohold under a real systemd, with all its sandboxing in force (issue 14).

systemd refuses to start a unit whose sandbox it cannot set up, and a sandbox that is too tight shows only
when the service runs (a system call Python needs, writable and executable memory, a path it must write). So
the test boots systemd as PID 1 of a container (``podman run --systemd=always``) on the Debian base of
``tests.deploy.podman``, in an image holding what the Containerfile's build stage installed into
/opt/cargohold (the path the unit names), the unit enabled as the README says, and the optional config and
environment files mounted at /etc/cargohold. Then it checks what an operator would: the service answers, uses
both files, stores a pushed blob in its StateDirectory, runs as an unprivileged dynamic user with no
capabilities, no new privileges and a seccomp filter, and stops cleanly.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.deploy.http import call, push_blob, wait_ready
from tests.deploy.podman import (
    ROOT,
    Container,
    PodmanError,
    build_image,
    ensure_base_image,
    podman,
    start_container,
)
from tests.support.processes import free_port

pytestmark = [pytest.mark.deploy, pytest.mark.timeout(1800)]

ADMIN_PASSWORD = "systemd-admin-password"
CONFIG = "repositories:\n  - name: team\n    visibility: private\n"
DERIVED = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY cargohold.service /etc/systemd/system/cargohold.service
RUN systemctl enable cargohold.service
STOPSIGNAL SIGRTMIN+3
CMD ["/lib/systemd/systemd"]
"""


def service_status(container: Container) -> dict[str, str]:
    properties = "--property=MainPID,Result,ExecMainStatus"
    shown = container.exec("systemctl", "show", "cargohold.service", properties)
    return dict(line.split("=", 1) for line in shown.splitlines())


def unit_not_failed(container: Container) -> bool:
    """Whether the container runs and systemd has not given up on the unit (True while systemd is still
    booting: its bus is not up yet)."""
    if not container.running:
        return False
    try:
        return service_status(container)["Result"] == "success"
    except PodmanError as error:
        if "Failed to connect to bus" in str(error):
            return True
        raise


def journal(container: Container) -> str:
    return podman("exec", container.name, "journalctl", "--unit=cargohold", "--no-pager", check=False)[-6000:]


def test_the_unit_runs_cargohold_sandboxed_under_systemd(tmp_path: Path, made: dict[str, list[str]]) -> None:
    name = f"cargohold-test-{uuid.uuid4().hex[:12]}"
    base = ensure_base_image()
    made["images"].append(f"{name}-venv")
    made["images"][-1] = build_image(base, f"localhost/{name}-venv:latest", tmp_path / "iid1", target="build")
    context = tmp_path / "context"
    context.mkdir()
    (context / "Containerfile").write_text(DERIVED)
    (context / "cargohold.service").write_bytes((ROOT / "deploy" / "cargohold.service").read_bytes())
    made["images"].append(name)
    made["images"][-1] = image = build_image(
        made["images"][0], f"localhost/{name}:latest", tmp_path / "iid2",
        containerfile=context / "Containerfile", context=context,
    )  # fmt: skip

    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    environment = tmp_path / "cargohold.env"
    environment.write_text(
        f"CARGOHOLD_ADMIN_PASSWORD={ADMIN_PASSWORD}\nCARGOHOLD_PUBLIC_URL={public_url}\n"
        "CARGOHOLD_LISTEN=0.0.0.0:5000\n"
    )
    environment.chmod(0o600)
    config = tmp_path / "cargohold.yml"
    config.write_text(CONFIG)
    config.chmod(0o644)
    made["containers"].append(name)
    container = start_container(
        image, name, port,
        [
            "--systemd=always",
            "--volume", f"{environment}:/etc/cargohold/cargohold.env:ro",
            "--volume", f"{config}:/etc/cargohold/cargohold.yml:ro",
        ],
    )  # fmt: skip
    wait_ready(
        public_url,
        lambda: unit_not_failed(container),
        lambda: f"{container.describe()}\n{journal(container)}",
    )

    anonymous = call(f"{public_url}/v2/")
    assert anonymous.status == 401, journal(container)
    assert anonymous.headers["WWW-Authenticate"].startswith(f'Bearer realm="{public_url}/v2/token"')
    team = call(f"{public_url}/api/v1/repositories/team", ADMIN_PASSWORD)
    assert team.status == 200, team.body
    assert json.loads(team.body)["managed_by_config"] is True
    digest = push_blob(public_url, "team/app", b"stored under ProtectSystem=strict", ADMIN_PASSWORD)
    assert call(f"{public_url}/v2/team/app/blobs/{digest}", ADMIN_PASSWORD).body == (
        b"stored under ProtectSystem=strict"
    )
    stored = container.exec("find", "/var/lib/private/cargohold/", "-name", digest.removeprefix("sha256:"))
    assert stored, container.exec("find", "/var/lib/private/cargohold/")

    main_pid = service_status(container)["MainPID"]
    process = dict(
        line.split(":\t", 1) for line in container.exec("cat", f"/proc/{main_pid}/status").splitlines()
    )
    assert process["Uid"].split()[0] != "0"
    assert process["CapEff"] == "0000000000000000"
    assert process["NoNewPrivs"] == "1"
    assert process["Seccomp"] == "2"  # filtering: SystemCallFilter and MemoryDenyWriteExecute

    container.exec("systemctl", "stop", "cargohold.service")
    stopped = service_status(container)
    assert (stopped["Result"], stopped["ExecMainStatus"]) == ("success", "0"), journal(container)
