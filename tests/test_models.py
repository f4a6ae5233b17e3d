"""The OCI grammars of cargohold.models: digests, tags, names and manifest references."""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cargohold.errors import DigestInvalidError, NameInvalidError, TagInvalidError
from cargohold.models import (
    Digest,
    Reference,
    validate_full_name,
    validate_image_name,
    validate_repository_name,
    validate_tag,
)

# The grammars as the OCI distribution spec writes them ("Pulling manifests"), used as an oracle.
SPEC_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
SPEC_NAME = re.compile(rf"{SPEC_COMPONENT}(?:/{SPEC_COMPONENT})*")
SPEC_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
SPEC_SHA256 = re.compile(r"sha256:[a-f0-9]{64}")
SPEC_SHA512 = re.compile(r"sha512:[a-f0-9]{128}")

HEX64 = "a" * 64
SHA256 = f"sha256:{hashlib.sha256(b'hello').hexdigest()}"
SHA512 = f"sha512:{hashlib.sha512(b'hello').hexdigest()}"

# --- digests -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [SHA256, SHA512, "sha256:" + "0" * 64])
def test_digest_accepts_sha256_and_sha512(text: str) -> None:
    digest = Digest.parse(text)
    assert str(digest) == text
    assert digest.algorithm == text.split(":")[0]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sha256",
        "sha256:",
        ":" + HEX64,
        "sha256:" + "a" * 63,  # wrong hex length
        "sha256:" + "a" * 65,
        "sha512:" + HEX64,
        "sha256:" + "A" * 64,  # uppercase hex
        "SHA256:" + HEX64,  # uppercase algorithm
        "sha256:" + "g" * 64,  # not hex
        "md5:" + "a" * 32,  # unsupported algorithm
        "sha384:" + "a" * 96,
        "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",  # valid grammar, unsupported
        "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8",
        "sha256:" + HEX64 + "\n",  # trailing newline
        "sha256:" + HEX64 + "\x00",
        "sha256 :" + HEX64,
        "sha256:" + HEX64 + ":" + HEX64,
        "x" * 1000,
    ],
)
def test_digest_rejects(text: str) -> None:
    with pytest.raises(DigestInvalidError):
        Digest.parse(text)


def test_digest_of_and_hasher() -> None:
    digest = Digest.of(b"hello")
    assert str(digest) == SHA256
    hasher = digest.hasher()
    hasher.update(b"hello")
    assert hasher.hexdigest() == digest.hex
    assert str(Digest.of(b"hello", "sha512")) == SHA512


@given(st.text(max_size=300))
def test_digest_parse_only_raises_domain_error(text: str) -> None:
    try:
        digest = Digest.parse(text)
    except DigestInvalidError:
        return
    assert SPEC_SHA256.fullmatch(text) or SPEC_SHA512.fullmatch(text)
    assert str(digest) == text


@given(st.from_regex(SPEC_SHA256, fullmatch=True) | st.from_regex(SPEC_SHA512, fullmatch=True))
def test_digest_accepts_every_spec_digest(text: str) -> None:
    assert str(Digest.parse(text)) == text


# --- tags ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["latest", "1.27", "v1.0.0-rc.1", "_private", "A" * 128, "sha256-" + HEX64])
def test_tag_accepts(text: str) -> None:
    assert validate_tag(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        ".hidden",
        "-dash",
        "A" * 129,
        "a" * 256,
        "with space",
        "a/b",
        "a:b",
        "..",
        "%2e%2e",
        "latest\n",
        "lat\x00est",
        "tag\u00e9",
    ],
)
def test_tag_rejects(text: str) -> None:
    with pytest.raises(TagInvalidError):
        validate_tag(text)


@given(st.text(max_size=200))
def test_tag_only_raises_domain_error(text: str) -> None:
    try:
        validate_tag(text)
    except TagInvalidError:
        return
    assert SPEC_TAG.fullmatch(text)


@given(st.from_regex(SPEC_TAG, fullmatch=True))
def test_tag_accepts_every_spec_tag(text: str) -> None:
    assert validate_tag(text) == text


# --- names ---------------------------------------------------------------------------------------

GOOD_NAMES = [
    "nginx",
    "library/nginx",
    "a/b/c/d",
    "my-app",
    "my--app",
    "my_app",
    "my__app",
    "my.app",
    "ghcr.io/owner/repo",
    "a" * 255,
]
BAD_NAMES = [
    "",
    "Library/nginx",  # uppercase
    "library//nginx",
    "/library/nginx",  # leading separator
    "library/nginx/",  # trailing separator
    "-nginx",
    "nginx-",
    "nginx.",
    "my___app",
    "my..app",
    "..",
    "library/../etc",
    "%2e%2e",
    "library/%2e%2e/etc",
    "a" * 256,  # too long
    "nginx\n",
    "ngi\x00nx",
    "library\\nginx",
    "ngïnx",
]


@pytest.mark.parametrize("text", GOOD_NAMES)
def test_image_and_full_names_accept(text: str) -> None:
    assert validate_image_name(text) == text
    assert validate_full_name(text) == text


@pytest.mark.parametrize("text", BAD_NAMES)
def test_image_and_full_names_reject(text: str) -> None:
    with pytest.raises(NameInvalidError):
        validate_image_name(text)
    with pytest.raises(NameInvalidError):
        validate_full_name(text)


@pytest.mark.parametrize("text", ["hub", "company-images", "a.b", "x" * 64])
def test_repository_name_accepts_one_component(text: str) -> None:
    assert validate_repository_name(text) == text


@pytest.mark.parametrize("text", ["hub/x", "x" * 65, "Hub", "", "..", "%2e%2e", "hub\n", "-hub", "h\x00ub"])
def test_repository_name_rejects(text: str) -> None:
    with pytest.raises(NameInvalidError):
        validate_repository_name(text)


@given(st.text(alphabet=st.sampled_from("ab09._-/A%\n\x00"), max_size=300) | st.text(max_size=300))
def test_names_only_raise_domain_error(text: str) -> None:
    for validate, limit in (
        (validate_image_name, 255),
        (validate_full_name, 255),
        (validate_repository_name, 64),
    ):
        try:
            validate(text)
        except NameInvalidError:
            continue
        assert len(text) <= limit
        assert SPEC_NAME.fullmatch(text)
        if validate is validate_repository_name:
            assert "/" not in text


@given(st.from_regex(SPEC_NAME, fullmatch=True).filter(lambda s: len(s) <= 255))
def test_names_accept_every_spec_name(text: str) -> None:
    assert validate_image_name(text) == text
    assert validate_full_name(text) == text


# --- references ----------------------------------------------------------------------------------


def test_reference_parses_tag_or_digest() -> None:
    tag = Reference.parse("latest")
    assert tag.tag == "latest"
    assert tag.digest is None
    assert str(tag) == "latest"
    by_digest = Reference.parse(SHA256)
    assert by_digest.tag is None
    assert by_digest.digest == Digest.parse(SHA256)
    assert str(by_digest) == SHA256


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("sha256:abc", DigestInvalidError),
        ("bad tag", TagInvalidError),
        ("", TagInvalidError),
        ("a:b", DigestInvalidError),
    ],
)
def test_reference_rejects(text: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        Reference.parse(text)


@given(st.text(max_size=200))
def test_reference_only_raises_domain_errors(text: str) -> None:
    try:
        ref = Reference.parse(text)
    except (DigestInvalidError, TagInvalidError):
        return
    assert (ref.tag is None) != (ref.digest is None)
    assert str(ref) == text
