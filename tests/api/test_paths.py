"""How /v2 paths split into name, endpoint and argument, and which paths are refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cargohold.api.oci.paths import Endpoint, V2Path, parse_v2_path
from cargohold.errors import NameInvalidError, NameUnknownError

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v2/", V2Path(Endpoint.BASE)),
        ("/v2", V2Path(Endpoint.BASE)),
        ("/v2/_catalog", V2Path(Endpoint.CATALOG)),
        ("/v2/hub/library/nginx/manifests/1.27", V2Path(Endpoint.MANIFEST, "hub/library/nginx", "1.27")),
        (f"/v2/hub/nginx/manifests/{DIGEST}", V2Path(Endpoint.MANIFEST, "hub/nginx", DIGEST)),
        (f"/v2/hub/a/b/c/blobs/{DIGEST}", V2Path(Endpoint.BLOB, "hub/a/b/c", DIGEST)),
        ("/v2/hub/app/blobs/uploads/", V2Path(Endpoint.UPLOADS, "hub/app")),
        ("/v2/hub/app/blobs/uploads", V2Path(Endpoint.UPLOADS, "hub/app")),
        ("/v2/hub/app/blobs/uploads/0f3a", V2Path(Endpoint.UPLOAD, "hub/app", "0f3a")),
        ("/v2/hub/app/tags/list", V2Path(Endpoint.TAGS, "hub/app")),
        (f"/v2/hub/app/referrers/{DIGEST}", V2Path(Endpoint.REFERRERS, "hub/app", DIGEST)),
        # An image may itself be called "blobs" or "manifests": the endpoint is read from the end.
        ("/v2/hub/manifests/manifests/latest", V2Path(Endpoint.MANIFEST, "hub/manifests", "latest")),
    ],
)
def test_paths_split_from_the_end(path: str, expected: V2Path) -> None:
    assert parse_v2_path(path) == expected


@pytest.mark.parametrize(
    "path",
    [
        "/v2/hub/%2e%2e/manifests/latest",
        "/v2/hub/app%2Fx/manifests/latest",
        "/v2/hub/../manifests/latest",
        "/v2/hub/./app/manifests/latest",
        "/v2/hub//app/manifests/latest",
    ],
)
def test_dot_segments_encodings_and_empty_names_are_invalid(path: str) -> None:
    with pytest.raises(NameInvalidError):
        parse_v2_path(path)


@pytest.mark.parametrize(
    "path", ["/v2/hub/app/manifests/", "/v2/hub/app", "/v2/hub/app/unknown/x", "/v2/manifests/latest"]
)
def test_unknown_endpoints_are_name_unknown(path: str) -> None:
    with pytest.raises(NameUnknownError):
        parse_v2_path(path)


@given(st.text(max_size=300))
def test_any_path_parses_or_raises_a_domain_error(tail: str) -> None:
    try:
        parsed = parse_v2_path("/v2/" + tail)
    except (NameInvalidError, NameUnknownError):
        return
    assert ".." not in parsed.name.split("/")
    assert "%" not in parsed.name
