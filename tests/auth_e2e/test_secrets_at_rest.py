"""A proxy password set in the config file, changed, and used against a real htpasswd-protected
Distribution upstream is never kept or logged in clear: not in any file under the data directory (the
SQLite database and its journal included), not in the server's log (at debug level), not in API answers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.proxy_e2e.upstreams import MANIFEST_ACCEPT, seed_upstream
from tests.support.accounts import call
from tests.support.clients import ContainerTools
from tests.support.fixtures import CargoholdFactory, DistributionFactory

FIRST_PASSWORD = "first-Secret-9f3a71c2"
SECOND_PASSWORD = "second-Secret-4be28d90"
NAME = "secrets"


def _repositories(upstream_url: str, password: str) -> list[dict[str, Any]]:
    proxy = {"name": "origin", "url": upstream_url, "username": "robot", "password": password}
    return [{"name": "mirror", "visibility": "public", "proxies": [proxy]}]


def test_proxy_passwords_are_not_found_in_clear_anywhere_the_server_writes(
    cargohold_factory: CargoholdFactory,
    distribution_factory: DistributionFactory,
    container_tools: ContainerTools,
    tmp_path: Path,
) -> None:
    upstream = distribution_factory(credentials=("robot", SECOND_PASSWORD))
    seed_upstream(container_tools, upstream, tmp_path / "layout", "team/app", "1.0", seed=51)
    debug = {"log_level": "debug"}

    first = cargohold_factory(_repositories(upstream.url, FIRST_PASSWORD), name=NAME, extra_config=debug)
    refused = call(f"{first.url}/v2/mirror/team/app/manifests/1.0", headers={"Accept": MANIFEST_ACCEPT})
    assert refused.status == 503, refused  # the first password is wrong for the upstream
    assert first.stop() == 0

    second = cargohold_factory(_repositories(upstream.url, SECOND_PASSWORD), name=NAME, extra_config=debug)
    assert second.data_dir == first.data_dir
    pulled = call(f"{second.url}/v2/mirror/team/app/manifests/1.0", headers={"Accept": MANIFEST_ACCEPT})
    assert pulled.status == 200, pulled
    proxies = call(f"{second.url}/api/v1/repositories/mirror/proxies", headers=second.admin_authorization())
    assert proxies.status == 200, proxies
    assert b"robot" in proxies.body
    answers = pulled.body + proxies.body
    assert second.stop() == 0

    written = [path for path in second.data_dir.rglob("*") if path.is_file()]
    assert any(path.name == "cargohold.db" for path in written), written
    logs = [first.service.log_path, second.service.log_path]
    assert b"GET /v2/mirror/team/app/manifests/1.0" in second.service.log_path.read_bytes()
    for password in (FIRST_PASSWORD, SECOND_PASSWORD):
        needle = password.encode()
        found = [str(path) for path in [*written, *logs] if needle in path.read_bytes()]
        assert found == [], f"{password} in clear in {found}"
        assert needle not in answers
