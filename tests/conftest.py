"""Suite-wide pytest configuration: makes the shared fixtures of ``tests/support`` available everywhere.

Keep this file small and generic; fixtures live in ``tests/support/fixtures.py``.
"""

from tests.support.fixtures import (  # noqa: F401 - re-exported fixtures and hook
    cargohold,
    cargohold_factory,
    container_tools,
    containerd,
    distribution_factory,
    docker_daemon_factory,
    metadata,
    pytest_runtest_makereport,
)
from tests.support.s3 import s3_server  # noqa: F401 - the moto S3 server, started once per session
