"""A real S3-compatible server for tests: moto's standalone server (``moto_server``) on a free loopback port,
started once per test session and stopped (that process only) at the end. Each test gets a bucket of its
own, so tests never see each other's objects.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from cargohold.storage.s3_client import S3Options
from tests.support.processes import ServiceProcess, start_service

ACCESS_KEY = "cargohold-test-key"
SECRET_KEY = "cargohold-test-secret"  # moto accepts any key pair; the signature is still computed


@dataclass(frozen=True)
class S3Server:
    process: ServiceProcess

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.process.port}"

    def client(self):  # type: ignore[no-untyped-def]
        """A synchronous boto3 client, for a test to look at or change what is in a bucket."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(s3={"addressing_style": "path"}),
        )

    def new_bucket(self) -> str:
        name = f"test-{uuid.uuid4().hex[:20]}"
        self.client().create_bucket(Bucket=name)
        return name

    def options(self, bucket: str, **overrides: object) -> S3Options:
        values: dict[str, object] = {
            "bucket": bucket,
            "endpoint_url": self.endpoint,
            "access_key_id": ACCESS_KEY,
            "secret_access_key": SECRET_KEY,
            "path_style": True,
            "part_size": 5 * 1024 * 1024,
        }
        values.update(overrides)
        return S3Options(**values)  # type: ignore[arg-type]


def start_s3_server(log_dir: Path) -> S3Server:
    """Start ``moto_server`` on a free loopback port (stop it with ``server.process.stop()``)."""
    moto = Path(sys.executable).parent / "moto_server"
    service = start_service(
        "moto",
        lambda port: [str(moto), "-H", "127.0.0.1", "-p", str(port)],
        lambda port: f"http://127.0.0.1:{port}/moto-api/",
        lambda probe: probe.status == 200,
        log_dir=log_dir,
    )
    return S3Server(service)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = start_s3_server(tmp_path_factory.mktemp("moto"))
    service = server.process
    try:
        yield S3Server(service)
    finally:
        service.stop()
