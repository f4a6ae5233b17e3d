"""Manifest parsing and validation: the four manifest types, OCI 1.1 artifacts, and every rejection."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cargohold.errors import ManifestInvalidError, ManifestTooLargeError
from cargohold.models import MAX_MANIFEST_BYTES, Digest, MediaType
from cargohold.registry.manifests import (
    MAX_BLOB_BYTES,
    MAX_DESCRIPTORS,
    parse_fetched_manifest,
    parse_manifest,
)


def digest_of(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


CONFIG = digest_of("config")
LAYER1 = digest_of("layer1")
LAYER2 = digest_of("layer2")
CHILD1 = digest_of("child1")
CHILD2 = digest_of("child2")
SUBJECT = digest_of("subject")
EMPTY = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def desc(media_type: str, digest: str, size: int = 10, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest, "size": size, **extra}


def oci_manifest(**extra: Any) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": MediaType.OCI_MANIFEST,
        "config": desc(OCI_CONFIG, CONFIG),
        "layers": [desc(OCI_LAYER, LAYER1), desc(OCI_LAYER, LAYER2)],
        **extra,
    }


def docker_manifest() -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": MediaType.DOCKER_MANIFEST,
        "config": desc(DOCKER_CONFIG, CONFIG),
        "layers": [desc(DOCKER_LAYER, LAYER1)],
    }


def oci_index(**extra: Any) -> dict[str, Any]:
    platform = {"architecture": "amd64", "os": "linux"}
    return {
        "schemaVersion": 2,
        "mediaType": MediaType.OCI_INDEX,
        "manifests": [
            desc(MediaType.OCI_MANIFEST, CHILD1, platform=platform),
            desc(MediaType.OCI_MANIFEST, CHILD2, platform={"architecture": "arm64", "os": "linux"}),
        ],
        **extra,
    }


def encode(document: object) -> bytes:
    return json.dumps(document).encode()


# --- the accepted types --------------------------------------------------------------------------


def test_oci_image_manifest() -> None:
    parsed = parse_manifest(encode(oci_manifest()), MediaType.OCI_MANIFEST)
    assert parsed.media_type == MediaType.OCI_MANIFEST
    assert not parsed.is_index
    assert parsed.config_media_type == OCI_CONFIG
    assert parsed.references.blobs == tuple(Digest.parse(d) for d in (CONFIG, LAYER1, LAYER2))
    assert parsed.references.manifests == ()
    assert parsed.subject is None
    assert parsed.annotations is None
    # The referrers API rule: no artifactType → the config media type.
    assert parsed.artifact_type == OCI_CONFIG


def test_docker_schema2_manifest() -> None:
    parsed = parse_manifest(encode(docker_manifest()), MediaType.DOCKER_MANIFEST)
    assert parsed.media_type == MediaType.DOCKER_MANIFEST
    assert parsed.config_media_type == DOCKER_CONFIG
    assert parsed.references.blobs == (Digest.parse(CONFIG), Digest.parse(LAYER1))
    assert not parsed.is_index


def test_oci_index() -> None:
    parsed = parse_manifest(
        encode(oci_index(annotations={"org.opencontainers.image.ref.name": "1"})), MediaType.OCI_INDEX
    )
    assert parsed.is_index
    assert parsed.references.manifests == (Digest.parse(CHILD1), Digest.parse(CHILD2))
    assert parsed.references.blobs == ()
    assert parsed.config_media_type is None
    assert parsed.artifact_type is None
    assert parsed.annotations == {"org.opencontainers.image.ref.name": "1"}


def test_docker_manifest_list() -> None:
    document = {
        "schemaVersion": 2,
        "mediaType": MediaType.DOCKER_MANIFEST_LIST,
        "manifests": [
            desc(MediaType.DOCKER_MANIFEST, CHILD1, platform={"architecture": "amd64", "os": "linux"})
        ],
    }
    parsed = parse_manifest(encode(document), MediaType.DOCKER_MANIFEST_LIST)
    assert parsed.is_index
    assert parsed.references.manifests == (Digest.parse(CHILD1),)


def test_oci_artifact_with_subject_and_empty_config() -> None:
    document = {
        "schemaVersion": 2,
        "mediaType": MediaType.OCI_MANIFEST,
        "artifactType": "application/vnd.example.sbom+json",
        "config": desc(MediaType.OCI_EMPTY, EMPTY, 2, data="e30="),
        "layers": [],
        "subject": desc(MediaType.OCI_MANIFEST, SUBJECT, 1234),
        "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
    }
    parsed = parse_manifest(encode(document), MediaType.OCI_MANIFEST)
    assert parsed.artifact_type == "application/vnd.example.sbom+json"
    assert parsed.subject == Digest.parse(SUBJECT)
    assert parsed.config_media_type == MediaType.OCI_EMPTY
    assert parsed.references.blobs == (Digest.parse(EMPTY),)
    assert parsed.annotations == {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}


def test_artifact_without_artifact_type_reports_config_media_type() -> None:
    document = oci_manifest(config=desc("application/vnd.example.config.v1+json", CONFIG))
    parsed = parse_manifest(encode(document), MediaType.OCI_MANIFEST)
    assert parsed.artifact_type == "application/vnd.example.config.v1+json"


def test_index_with_artifact_type_and_subject() -> None:
    document = oci_index(
        artifactType="application/vnd.example.bundle", subject=desc(MediaType.OCI_INDEX, SUBJECT)
    )
    parsed = parse_manifest(encode(document), MediaType.OCI_INDEX)
    assert parsed.artifact_type == "application/vnd.example.bundle"
    assert parsed.subject == Digest.parse(SUBJECT)


def test_empty_descriptor_used_as_config_and_layer_is_referenced_once() -> None:
    document = oci_manifest(
        artifactType="application/vnd.example",
        config=desc(MediaType.OCI_EMPTY, EMPTY, 2),
        layers=[desc(MediaType.OCI_EMPTY, EMPTY, 2)],
    )
    parsed = parse_manifest(encode(document), MediaType.OCI_MANIFEST)
    assert parsed.references.blobs == (Digest.parse(EMPTY),)


@pytest.mark.parametrize(
    "layer_type",
    [
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    ],
)
def test_foreign_layers_are_not_references(layer_type: str) -> None:
    foreign = desc(layer_type, LAYER2, urls=["https://mcr.microsoft.com/layer"])
    document = oci_manifest(layers=[desc(OCI_LAYER, LAYER1), foreign])
    parsed = parse_manifest(encode(document), MediaType.OCI_MANIFEST)
    assert parsed.references.blobs == (Digest.parse(CONFIG), Digest.parse(LAYER1))


def test_media_type_field_is_optional_and_content_type_parameters_are_ignored() -> None:
    document = oci_manifest()
    del document["mediaType"]
    parsed = parse_manifest(encode(document), "application/vnd.oci.image.manifest.v1+json; charset=utf-8")
    assert parsed.media_type == MediaType.OCI_MANIFEST


def test_unknown_fields_are_tolerated() -> None:
    document = oci_manifest(extension={"anything": [1, 2]})
    assert parse_manifest(encode(document), MediaType.OCI_MANIFEST).media_type == MediaType.OCI_MANIFEST


def test_exactly_the_size_limit_is_accepted() -> None:
    body = encode(oci_manifest())
    padded = body[:-1] + b" " * (MAX_MANIFEST_BYTES - len(body)) + b"}"
    assert len(padded) == MAX_MANIFEST_BYTES
    assert parse_manifest(padded, MediaType.OCI_MANIFEST).references.blobs


# --- rejections ----------------------------------------------------------------------------------


def test_too_large() -> None:
    body = encode(oci_manifest())
    padded = body[:-1] + b" " * (MAX_MANIFEST_BYTES - len(body) + 1) + b"}"
    with pytest.raises(ManifestTooLargeError):
        parse_manifest(padded, MediaType.OCI_MANIFEST)


def reject(data: bytes, content_type: str, *words: str) -> None:
    with pytest.raises(ManifestInvalidError) as info:
        parse_manifest(data, content_type)
    for word in words:
        assert word in info.value.message, info.value.message


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\xff\xfe{}", ("UTF-8",)),
        (b"{not json", ("JSON",)),
        (b"[1, 2]", ("object",)),
        (b'"text"', ("object",)),
        (b"", ("JSON",)),
        (b"[" * 100_000 + b"]" * 100_000, ()),
    ],
)
def test_not_a_json_object(data: bytes, words: tuple[str, ...]) -> None:
    reject(data, MediaType.OCI_MANIFEST, *words)


@pytest.mark.parametrize(
    "content_type",
    [
        "",
        "application/json",
        "text/plain",
        MediaType.DOCKER_MANIFEST_V1,
        MediaType.DOCKER_MANIFEST_V1_SIGNED,
        MediaType.OCI_EMPTY,
    ],
)
def test_unsupported_content_type(content_type: str) -> None:
    reject(encode(oci_manifest()), content_type, "media type")


def test_media_type_field_must_match_content_type() -> None:
    reject(encode(oci_manifest()), MediaType.DOCKER_MANIFEST, "mediaType", "Content-Type")
    reject(encode(oci_manifest(mediaType=7)), MediaType.OCI_MANIFEST, "mediaType")


@pytest.mark.parametrize("version", [1, 3, "2", 2.5, True, None])
def test_schema_version_must_be_2(version: object) -> None:
    document = oci_manifest(schemaVersion=version)
    if version is None:
        del document["schemaVersion"]
    reject(encode(document), MediaType.OCI_MANIFEST, "schemaVersion")


def mutate(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    result = copy.deepcopy(document)
    target: Any = result
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return result


DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "words"),
    [
        (("config",), DELETE, ("config",)),
        (("config",), "sha256:abc", ("config",)),
        (("layers",), DELETE, ("layers",)),
        (("layers",), {"a": 1}, ("layers", "list")),
        (("layers", 1), 5, ("layers[1]",)),
        (("config", "mediaType"), DELETE, ("config.mediaType",)),
        (("config", "mediaType"), "not a media type", ("config.mediaType",)),
        (("config", "mediaType"), 3, ("config.mediaType",)),
        (("layers", 0, "digest"), "sha256:1234", ("layers[0].digest",)),
        (("layers", 0, "digest"), "md5:" + "a" * 32, ("layers[0].digest", "algorithm")),
        (("layers", 0, "digest"), "sha256:" + "A" * 64, ("layers[0].digest",)),
        (("layers", 0, "digest"), None, ("layers[0].digest",)),
        (("layers", 1, "size"), -1, ("layers[1].size", "non-negative")),
        (("layers", 1, "size"), "10", ("layers[1].size",)),
        (("layers", 1, "size"), 1.5, ("layers[1].size",)),
        (("layers", 1, "size"), True, ("layers[1].size",)),
        (("layers", 1, "size"), 2**64, ("layers[1].size",)),
        (("layers", 1, "size"), DELETE, ("layers[1].size",)),
        (("layers", 0, "urls"), "https://x", ("layers[0].urls",)),
        (("layers", 0, "urls"), [1], ("layers[0].urls",)),
        (("layers", 0, "annotations"), {"a": 1}, ("layers[0].annotations",)),
        (("config", "platform"), "linux", ("config.platform",)),
        (("annotations",), {"a": ["b"]}, ("annotations",)),
        (("annotations",), "x", ("annotations",)),
        (("artifactType",), 5, ("artifactType",)),
        (("artifactType",), "", ("artifactType",)),
        (("subject",), "sha256:" + "a" * 64, ("subject",)),
        (
            ("subject",),
            {"mediaType": MediaType.OCI_MANIFEST, "digest": "bad", "size": 1},
            ("subject.digest",),
        ),
        (("manifests",), [], ("manifests", "index")),
    ],
)
def test_image_manifest_field_errors(path: tuple[Any, ...], value: Any, words: tuple[str, ...]) -> None:
    reject(encode(mutate(oci_manifest(), path, value)), MediaType.OCI_MANIFEST, *words)


@pytest.mark.parametrize(
    ("path", "value", "words"),
    [
        (("manifests",), DELETE, ("manifests",)),
        (("manifests",), None, ("manifests",)),
        (("manifests", 0, "digest"), "sha256:zz", ("manifests[0].digest",)),
        (("manifests", 1, "size"), -5, ("manifests[1].size",)),
        (("config",), desc(OCI_CONFIG, CONFIG), ("config",)),
        (("layers",), [], ("layers",)),
    ],
)
def test_index_field_errors(path: tuple[Any, ...], value: Any, words: tuple[str, ...]) -> None:
    reject(encode(mutate(oci_index(), path, value)), MediaType.OCI_INDEX, *words)


def test_image_manifest_pushed_as_index_is_rejected() -> None:
    document = oci_manifest()
    del document["mediaType"]
    reject(encode(document), MediaType.OCI_INDEX, "config")


# --- properties ----------------------------------------------------------------------------------

CONTENT_TYPES = st.sampled_from([*(str(t) for t in MediaType), "application/json", "", "x/y; a=b"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = st.sampled_from(
    [
        "schemaVersion",
        "mediaType",
        "config",
        "layers",
        "manifests",
        "subject",
        "artifactType",
        "annotations",
        "digest",
        "size",
        "urls",
        "platform",
        "data",
    ]
)


@given(data=st.binary(max_size=300), content_type=CONTENT_TYPES)
def test_random_bytes_raise_only_domain_errors(data: bytes, content_type: str) -> None:
    with contextlib.suppress(ManifestInvalidError, ManifestTooLargeError):
        assert parse_manifest(data, content_type).media_type == content_type


@given(document=JSON_VALUES, content_type=CONTENT_TYPES)
def test_random_json_raises_only_domain_errors(document: object, content_type: str) -> None:
    with contextlib.suppress(ManifestInvalidError, ManifestTooLargeError):
        assert parse_manifest(encode(document), content_type).media_type == content_type


@settings(max_examples=300)
@given(
    base=st.sampled_from(["manifest", "index"]),
    edits=st.lists(
        st.tuples(st.lists(st.one_of(FIELDS, st.integers(0, 2)), min_size=1, max_size=3), JSON_VALUES),
        max_size=3,
    ),
)
def test_mutated_manifests_raise_only_domain_errors(base: str, edits: list[tuple[list[Any], Any]]) -> None:
    document = oci_manifest() if base == "manifest" else oci_index()
    content_type = MediaType.OCI_MANIFEST if base == "manifest" else MediaType.OCI_INDEX
    for path, value in edits:
        target: Any = document
        for key in path[:-1]:
            try:
                target = target[key]
            except (KeyError, IndexError, TypeError):
                break
        else:
            with contextlib.suppress(IndexError, TypeError):
                target[path[-1]] = value
    try:
        parsed = parse_manifest(encode(document), content_type)
    except (ManifestInvalidError, ManifestTooLargeError):
        return
    assert parsed.media_type == content_type
    assert parsed.is_index == (base == "index")


@given(
    layers=st.lists(st.binary(max_size=8), max_size=6),
    sizes=st.lists(st.integers(min_value=0, max_value=MAX_BLOB_BYTES), min_size=7, max_size=7),
)
def test_valid_manifests_reference_config_then_layers(layers: list[bytes], sizes: list[int]) -> None:
    layer_digests = [str(Digest.of(layer)) for layer in layers]
    document = oci_manifest(
        layers=[desc(OCI_LAYER, d, size) for d, size in zip(layer_digests, sizes, strict=False)]
    )
    parsed = parse_manifest(encode(document), MediaType.OCI_MANIFEST)
    expected = list(dict.fromkeys([CONFIG, *layer_digests]))
    assert [str(d) for d in parsed.references.blobs] == expected


# --- fetched through a proxy -------------------------------------------------------------------------


def test_a_fetched_manifest_is_held_to_the_rules_of_a_push() -> None:
    parsed = parse_fetched_manifest(encode(oci_manifest()), MediaType.OCI_MANIFEST)
    assert parsed is not None
    assert [str(d) for d in parsed.references.blobs] == [CONFIG, LAYER1, LAYER2]
    for digest in ("sha256:../../x", LAYER1.upper(), "sha256:" + "A" * 64):
        with pytest.raises(ManifestInvalidError, match=r"layers\[0\]\.digest"):
            parse_fetched_manifest(
                encode(oci_manifest(layers=[desc(OCI_LAYER, digest)])), MediaType.OCI_MANIFEST
            )
    with pytest.raises(ManifestInvalidError, match="size"):
        parse_fetched_manifest(
            encode(oci_manifest(layers=[desc(OCI_LAYER, LAYER1, -1)])), MediaType.OCI_MANIFEST
        )
    with pytest.raises(ManifestInvalidError, match="Content-Type"):
        parse_fetched_manifest(encode(oci_manifest()), MediaType.DOCKER_MANIFEST)


@pytest.mark.parametrize("media_type", [MediaType.DOCKER_MANIFEST_V1, MediaType.DOCKER_MANIFEST_V1_SIGNED])
def test_a_fetched_schema_1_manifest_is_kept_referencing_nothing(media_type: str) -> None:
    assert parse_fetched_manifest(b'{"schemaVersion": 1, "fsLayers": []}', media_type) is None


# --- bounds ------------------------------------------------------------------------------------------


def test_at_most_max_descriptors_config_layers_and_subject_together() -> None:
    layers = [desc(OCI_LAYER, LAYER1)] * (MAX_DESCRIPTORS - 2)
    subject = desc(MediaType.OCI_MANIFEST, SUBJECT)
    assert parse_manifest(encode(oci_manifest(layers=layers, subject=subject)), MediaType.OCI_MANIFEST)
    too_many = oci_manifest(layers=[*layers, desc(OCI_LAYER, LAYER2)], subject=subject)
    reject(
        encode(too_many), MediaType.OCI_MANIFEST, f"{MAX_DESCRIPTORS + 1} descriptors", str(MAX_DESCRIPTORS)
    )
    children = [desc(MediaType.OCI_MANIFEST, CHILD1)] * (MAX_DESCRIPTORS + 1)
    reject(encode(oci_index(manifests=children)), MediaType.OCI_INDEX, "descriptors")


def test_a_descriptor_larger_than_the_largest_blob_is_refused() -> None:
    largest = oci_manifest(layers=[desc(OCI_LAYER, LAYER1, MAX_BLOB_BYTES)])
    assert parse_manifest(encode(largest), MediaType.OCI_MANIFEST)
    larger = oci_manifest(layers=[desc(OCI_LAYER, LAYER1, MAX_BLOB_BYTES + 1)])
    reject(encode(larger), MediaType.OCI_MANIFEST, "layers[0].size", "largest blob")
    child = oci_index(manifests=[desc(MediaType.OCI_MANIFEST, CHILD1, MAX_BLOB_BYTES + 1)])
    reject(encode(child), MediaType.OCI_INDEX, "manifests[0].size")
