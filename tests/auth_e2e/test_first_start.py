"""The first start of a server without ``CARGOHOLD_ADMIN_PASSWORD``: the generated ``admin`` password is
printed once to stderr (once, even with several worker processes), it works, and a restart prints nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.accounts import basic, call
from tests.support.server import start_cargohold

CREATED = re.compile(
    r'cargohold: created user "admin" with password (\S+) '
    r"\(shown once; change it with cargohold user passwd\)"
)


def test_generated_admin_password_is_printed_once_and_works(tmp_path: Path) -> None:
    repositories = [{"name": "test", "visibility": "public"}]
    first = start_cargohold(tmp_path, repositories, extra_args=["--workers", "2"], admin_password=None)
    try:
        assert call(f"{first.url}/v2/").status == 401
        printed = CREATED.findall(first.service.log_text())
        assert len(printed) == 1, first.service.describe()
        password = printed[0]
        for _ in range(4):  # whichever worker answers, the password is the same
            assert call(f"{first.url}/v2/", headers=basic("admin", password)).status == 200
    finally:
        assert first.stop() == 0, first.service.describe()
    assert (first.data_dir / "secret.key").stat().st_mode & 0o777 == 0o600

    again = start_cargohold(tmp_path, repositories, admin_password=None)
    try:
        assert CREATED.findall(again.service.log_text()) == []
        assert password not in again.service.log_text()
        assert call(f"{again.url}/v2/", headers=basic("admin", password)).status == 200
    finally:
        again.stop()
