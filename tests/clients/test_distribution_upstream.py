"""The CNCF Distribution upstream fixture works the way proxy tests will use it.

Proxy tests put images into a Distribution registry (plain, TLS with a self-signed certificate, or htpasswd
basic auth) and point cargohold at it; this checks each variant with skopeo, independently of cargohold.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.clients import ContainerTools
from tests.support.fixtures import DistributionFactory
from tests.support.images import write_image

pytestmark = pytest.mark.clients


def test_plain_upstream_serves_pushed_image(
    distribution_factory: DistributionFactory, container_tools: ContainerTools, tmp_path: Path
) -> None:
    upstream = distribution_factory()
    image = write_image(tmp_path / "layout", tag="1.0", seed=21)

    container_tools.skopeo(
        "copy",
        "--dest-tls-verify=false",
        f"oci:{image.reference}",
        f"docker://{upstream.ref('lib/app', '1.0')}",
    )

    assert container_tools.inspect(f"docker://{upstream.ref('lib/app', '1.0')}")["Digest"] == image.digest
    assert upstream.url == f"http://{upstream.host}"


def test_tls_upstream_with_basic_auth_requires_the_credentials(
    distribution_factory: DistributionFactory, container_tools: ContainerTools, tmp_path: Path
) -> None:
    upstream = distribution_factory(tls=True, credentials=("alice", "s3cret-pass"))
    assert upstream.tls is not None
    cert_dir = str(upstream.tls.cert_dir)
    image = write_image(tmp_path / "layout", tag="1.0", seed=22)
    ref = f"docker://{upstream.ref('private/app', '1.0')}"

    container_tools.skopeo(
        "copy",
        "--dest-cert-dir",
        cert_dir,
        "--dest-creds",
        "alice:s3cret-pass",
        f"oci:{image.reference}",
        ref,
    )

    info = container_tools.skopeo("inspect", "--cert-dir", cert_dir, "--creds", "alice:s3cret-pass", ref)
    assert image.digest in info.stdout
    anonymous = container_tools.skopeo("inspect", "--cert-dir", cert_dir, ref, check=False)
    assert anonymous.returncode != 0
    assert "unauthorized" in anonymous.stderr.lower() or "authentication required" in anonymous.stderr.lower()
    wrong = container_tools.skopeo(
        "inspect", "--cert-dir", cert_dir, "--creds", "alice:nope", ref, check=False
    )
    assert wrong.returncode != 0
    untrusted = container_tools.skopeo("inspect", "--creds", "alice:s3cret-pass", ref, check=False)
    assert untrusted.returncode != 0
    assert "certificate" in untrusted.stderr.lower()
    assert upstream.url == f"https://{upstream.host}"
