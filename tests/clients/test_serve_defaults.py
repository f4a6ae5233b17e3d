"""``cargohold serve`` with nothing but ``--listen`` (what ``./scripts/serve`` runs) comes up on defaults.

The README promises that a plain ``cargohold serve`` keeps its data in ``./data`` (filesystem blobs,
SQLite in ``./data/cargohold.db``) and answers the registry API. The test uses a free port, never 5000.
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
        answer = probe(f"{server.url}/v2/")
        assert answer.status == 200, server.service.describe()
        assert (workdir / "data").is_dir()
        assert (workdir / "data" / "cargohold.db").is_file()
        assert server.service.running
    finally:
        status = server.stop()
    assert status == 0, server.service.describe()
