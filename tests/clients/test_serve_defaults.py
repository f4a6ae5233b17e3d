"""``cargohold serve`` with nothing but ``--listen`` (what ``./scripts/serve`` runs) comes up on defaults.

The README promises that a plain ``cargohold serve`` keeps its data in ``./data`` (filesystem blobs,
SQLite in ``./data/cargohold.db``), keeps its key in ``./data/secret.key`` (mode 0600) and answers the
registry API: a challenge without credentials, 200 with the first-start admin's. The test uses a free port,
never 5000.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.processes import probe
from tests.support.server import CargoholdServer, start_cargohold_bare


def test_serve_without_arguments_uses_data_dir_in_cwd(tmp_path: Path) -> None:
    workdir = tmp_path / "fresh"
    workdir.mkdir()
    server: CargoholdServer = start_cargohold_bare(workdir, tmp_path / "logs")
    try:
        anonymous = probe(f"{server.url}/v2/")
        assert anonymous.status == 401, server.service.describe()
        assert anonymous.headers["WWW-Authenticate"].startswith(f'Bearer realm="{server.url}/v2/token"')
        answer = probe(f"{server.url}/v2/", headers=server.admin_authorization())
        assert answer.status == 200, server.service.describe()
        assert (workdir / "data").is_dir()
        assert (workdir / "data" / "cargohold.db").is_file()
        assert (workdir / "data" / "secret.key").stat().st_mode & 0o777 == 0o600
        assert server.service.running
    finally:
        status = server.stop()
    assert status == 0, server.service.describe()
