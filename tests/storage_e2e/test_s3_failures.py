"""When S3 is wrong or gone: a server whose bucket does not exist refuses to start with a message naming the
setting; an S3 server that goes away while cargohold runs turns blob reads and pushes into 503 UNAVAILABLE
(clients retry), never a 500, and no secret shows in the answers or the log."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from tests.proxy_e2e.upstreams import fetch
from tests.storage_e2e.test_s3_server import raw_request, s3_config
from tests.support.fixtures import CargoholdFactory
from tests.support.s3 import SECRET_KEY, S3Server, start_s3_server
from tests.support.server import cargohold_executable, write_config


def test_a_missing_bucket_stops_the_start_with_a_clear_message(s3_server: S3Server, tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.yml", [], s3_config(s3_server, "no-such-bucket"))
    result = subprocess.run(
        [str(cargohold_executable()), "serve", "--config", str(config), "--listen", "127.0.0.1:0",
         "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "CARGOHOLD_ADMIN_PASSWORD": "an-admin-password"},
    )  # fmt: skip
    assert result.returncode == 2
    assert "storage.s3: bucket 'no-such-bucket' cannot be used" in result.stderr
    assert "Traceback" not in result.stderr
    assert SECRET_KEY not in result.stderr


def test_s3_gone_while_serving_answers_503(cargohold_factory: CargoholdFactory, tmp_path: Path) -> None:
    own = start_s3_server(tmp_path / "moto")  # this test stops it: a server of its own
    try:
        bucket = own.new_bucket()
        server = cargohold_factory(extra_config=s3_config(own, bucket))
        auth = server.admin_authorization()
        data = os.urandom(1000)
        digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
        status, _, _ = raw_request(
            f"{server.url}/v2/test/app/blobs/uploads/?digest={digest}",
            "POST",
            {**auth, "Content-Type": "application/octet-stream"},
            data,
        )
        assert status == 201
        assert fetch(f"{server.url}/v2/test/app/blobs/{digest}").body == data
    finally:
        own.process.stop()

    answer = fetch(f"{server.url}/v2/test/app/blobs/{digest}")
    assert answer.status == 503
    assert answer.json()["errors"][0]["code"] == "UNAVAILABLE"
    status, _, body = raw_request(f"{server.url}/v2/test/app/blobs/uploads/", "POST", auth)
    assert status == 503, body
    assert fetch(f"{server.url}/v2/").status in (200, 401), "the rest of the server still answers"
    for text in (answer.body.decode(), body.decode(), server.service.log_text()):
        assert SECRET_KEY not in text
