"""Parsing and validation of manifest bytes: Docker v2 schema 2 manifests and manifest lists, OCI image
manifests and indexes (including OCI 1.1 artifacts with ``artifactType`` and ``subject``). Pure: bytes in,
a ``ParsedManifest`` out, and every problem a domain error naming the field at fault. The bounds a manifest
must keep (pushed or fetched alike) live here too: ``MAX_DESCRIPTORS``, ``MAX_BLOB_BYTES`` per descriptor,
and ``MAX_INDEX_DEPTH``, which needs the recorded manifests and is checked by ``ManifestService``. The bytes
themselves are never re-serialised; callers store exactly what they received.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Final

from cargohold.errors import DigestInvalidError, ManifestInvalidError, ManifestTooLargeError
from cargohold.models import (
    INDEX_MEDIA_TYPES,
    MANIFEST_MEDIA_TYPES,
    MAX_MANIFEST_BYTES,
    Digest,
    ManifestReferences,
    MediaType,
)

# RFC 6838 type/subtype (restricted-name), optionally followed by parameters.
_MEDIA_TYPE_RE: Final = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}(?:[ \t]*;[\x20-\x7e]*)?",
    re.ASCII,
)
_FOREIGN_LAYER_TYPES: Final = frozenset({"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"})
_NONDISTRIBUTABLE_PREFIX: Final = "application/vnd.oci.image.layer.nondistributable."
MAX_DESCRIPTORS: Final = 10_000
"""At most this many descriptors in one manifest: config, layers, child manifests and subject together."""
MAX_BLOB_BYTES: Final = 64 * 1024**3
"""The largest size a descriptor may declare (64 GiB): anything larger is not a blob anyone can pull."""
MAX_INDEX_DEPTH: Final = 4
"""At most this many indexes in a chain of index-in-index (checked where manifests are recorded)."""
_OCI_TYPES: Final = frozenset({MediaType.OCI_MANIFEST, MediaType.OCI_INDEX})
_SCHEMA1_TYPES: Final = frozenset({MediaType.DOCKER_MANIFEST_V1, MediaType.DOCKER_MANIFEST_V1_SIGNED})


@dataclass(frozen=True, slots=True)
class ParsedManifest:
    """What the registry needs to know of a manifest: its type, what it references, and its referrer facts.

    ``artifact_type`` follows the distribution spec's referrers rule: the manifest's ``artifactType`` if
    present, else (image manifests only) the config descriptor's media type.
    """

    media_type: str
    artifact_type: str | None
    subject: Digest | None
    annotations: dict[str, str] | None
    references: ManifestReferences
    is_index: bool
    config_media_type: str | None


@dataclass(frozen=True, slots=True)
class _Descriptor:
    media_type: str
    digest: Digest


def parse_manifest(data: bytes, content_type: str) -> ParsedManifest:
    """Parse and validate manifest ``data`` pushed or fetched with ``content_type``.

    Raises ManifestTooLargeError above ``MAX_MANIFEST_BYTES`` and ManifestInvalidError for anything else
    wrong: not a UTF-8 JSON object, an unsupported or mismatched media type, a bad schemaVersion, or a
    malformed descriptor.
    """
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestTooLargeError(
            f"manifest is {len(data)} bytes; the limit is {MAX_MANIFEST_BYTES}",
            detail={"size": len(data), "limit": MAX_MANIFEST_BYTES},
        )
    media_type = _media_type_of(content_type)
    document = _load_json(data)
    declared = document.get("mediaType")
    if declared is not None:
        if not isinstance(declared, str):
            raise ManifestInvalidError("mediaType must be a string")
        if declared != media_type:
            raise ManifestInvalidError(
                f"mediaType {declared[:120]!r} does not match Content-Type {media_type!r}",
                detail={"mediaType": declared[:120], "contentType": media_type},
            )
    schema_version = document.get("schemaVersion")
    if type(schema_version) is not int or schema_version != 2:
        raise ManifestInvalidError(f"schemaVersion must be 2, not {_show(schema_version)}")
    _count_descriptors(document)
    if media_type in INDEX_MEDIA_TYPES:
        return _parse_index(document, media_type)
    return _parse_image(document, media_type)


def parse_fetched_manifest(data: bytes, media_type: str) -> ParsedManifest | None:
    """Parse and validate a manifest fetched through a proxy by the very rules of a push (``parse_manifest``).

    The one exception is a Docker schema 1 manifest, which a push refuses but old upstream images still
    carry: it is kept byte for byte and references nothing, so None is returned for it.
    """
    if media_type.split(";", 1)[0].strip().lower() in _SCHEMA1_TYPES:
        return None
    return parse_manifest(data, media_type)


def _count_descriptors(document: dict[str, object]) -> None:
    """Refuse more than MAX_DESCRIPTORS descriptors before any of them is looked at."""
    count = sum(1 for field in ("config", "subject") if field in document)
    count += sum(
        len(value) for field in ("layers", "manifests") if isinstance(value := document.get(field), list)
    )
    if count > MAX_DESCRIPTORS:
        raise ManifestInvalidError(
            f"manifest has {count} descriptors; at most {MAX_DESCRIPTORS} are allowed",
            detail={"descriptors": count, "limit": MAX_DESCRIPTORS},
        )


def _media_type_of(content_type: str) -> str:
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in MANIFEST_MEDIA_TYPES:
        raise ManifestInvalidError(
            f"unsupported manifest media type {media_type[:120]!r}",
            detail={"contentType": content_type[:120], "supported": sorted(MANIFEST_MEDIA_TYPES)},
        )
    return media_type


def _load_json(data: bytes) -> dict[str, object]:
    try:
        document: object = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ManifestInvalidError(f"manifest is not UTF-8: {exc.reason} at byte {exc.start}") from None
    except ValueError as exc:  # json.JSONDecodeError, and integers too long to convert
        raise ManifestInvalidError(f"manifest is not valid JSON: {exc}") from None
    except RecursionError:
        raise ManifestInvalidError("manifest JSON is nested too deeply") from None
    if not isinstance(document, dict):
        raise ManifestInvalidError(f"manifest must be a JSON object, not {_json_type(document)}")
    return document


def _parse_image(document: dict[str, object], media_type: str) -> ParsedManifest:
    if "manifests" in document:
        raise ManifestInvalidError("an image manifest must not have a manifests field (is it an index?)")
    if "config" not in document:
        raise ManifestInvalidError("config is missing")
    config = _descriptor(document["config"], "config")
    if "layers" not in document:
        raise ManifestInvalidError("layers is missing")
    layers = [_descriptor(item, f"layers[{i}]") for i, item in enumerate(_list(document["layers"], "layers"))]
    oci = media_type in _OCI_TYPES
    artifact_type = _artifact_type(document) if oci else None
    blobs = [config.digest] + [layer.digest for layer in layers if _distributable(layer.media_type)]
    return ParsedManifest(
        media_type=media_type,
        artifact_type=artifact_type if artifact_type is not None else config.media_type,
        subject=_subject(document) if oci else None,
        annotations=_annotations(document.get("annotations"), "annotations") if oci else None,
        references=ManifestReferences(blobs=_unique(blobs)),
        is_index=False,
        config_media_type=config.media_type,
    )


def _parse_index(document: dict[str, object], media_type: str) -> ParsedManifest:
    for field in ("config", "layers"):
        if field in document:
            raise ManifestInvalidError(f"an index must not have a {field} field (is it an image manifest?)")
    if "manifests" not in document:
        raise ManifestInvalidError("manifests is missing")
    children = [
        _descriptor(item, f"manifests[{i}]")
        for i, item in enumerate(_list(document["manifests"], "manifests"))
    ]
    oci = media_type in _OCI_TYPES
    return ParsedManifest(
        media_type=media_type,
        artifact_type=_artifact_type(document) if oci else None,
        subject=_subject(document) if oci else None,
        annotations=_annotations(document.get("annotations"), "annotations") if oci else None,
        references=ManifestReferences(manifests=_unique([child.digest for child in children])),
        is_index=True,
        config_media_type=None,
    )


def _descriptor(value: object, where: str) -> _Descriptor:
    """Validate one content descriptor (OCI image-spec "Descriptor")."""
    if not isinstance(value, dict):
        raise ManifestInvalidError(f"{where} must be a descriptor object, not {_json_type(value)}")
    media_type = value.get("mediaType")
    if not isinstance(media_type, str) or not _MEDIA_TYPE_RE.fullmatch(media_type):
        raise ManifestInvalidError(f"{where}.mediaType must be a media type string, not {_show(media_type)}")
    digest_text = value.get("digest")
    if not isinstance(digest_text, str):
        raise ManifestInvalidError(f"{where}.digest must be a string, not {_show(digest_text)}")
    try:
        digest = Digest.parse(digest_text)
    except DigestInvalidError as exc:
        raise ManifestInvalidError(f"{where}.digest: {exc.message}") from None
    size = value.get("size")
    if type(size) is not int or size < 0:
        raise ManifestInvalidError(f"{where}.size must be a non-negative integer, not {_show(size)}")
    if size > MAX_BLOB_BYTES:
        raise ManifestInvalidError(
            f"{where}.size {size} is larger than the largest blob allowed ({MAX_BLOB_BYTES} bytes)",
            detail={"size": size, "limit": MAX_BLOB_BYTES},
        )
    if "urls" in value:
        urls = _list(value["urls"], f"{where}.urls")
        if not all(isinstance(url, str) for url in urls):
            raise ManifestInvalidError(f"{where}.urls must be a list of strings")
    if "annotations" in value:
        _annotations(value["annotations"], f"{where}.annotations")
    if "artifactType" in value:
        _media_type_field(value["artifactType"], f"{where}.artifactType")
    if "platform" in value and not isinstance(value["platform"], dict):
        raise ManifestInvalidError(f"{where}.platform must be an object, not {_json_type(value['platform'])}")
    if "data" in value and not isinstance(value["data"], str):
        raise ManifestInvalidError(f"{where}.data must be a base64 string")
    return _Descriptor(media_type, digest)


def _artifact_type(document: dict[str, object]) -> str | None:
    if "artifactType" not in document:
        return None
    return _media_type_field(document["artifactType"], "artifactType")


def _subject(document: dict[str, object]) -> Digest | None:
    if "subject" not in document:
        return None
    return _descriptor(document["subject"], "subject").digest


def _media_type_field(value: object, where: str) -> str:
    if not isinstance(value, str) or not _MEDIA_TYPE_RE.fullmatch(value):
        raise ManifestInvalidError(f"{where} must be a media type string, not {_show(value)}")
    return value


def _annotations(value: object, where: str) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ManifestInvalidError(f"{where} must be an object of string values")
    return dict(value)


def _list(value: object, where: str) -> list[object]:
    if not isinstance(value, list):
        raise ManifestInvalidError(f"{where} must be a list, not {_json_type(value)}")
    return value


def _distributable(media_type: str) -> bool:
    """False for foreign (Windows base) and non-distributable layers, which are fetched from their urls."""
    return media_type not in _FOREIGN_LAYER_TYPES and not media_type.startswith(_NONDISTRIBUTABLE_PREFIX)


def _unique(digests: list[Digest]) -> tuple[Digest, ...]:
    return tuple(dict.fromkeys(digests))


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _show(value: object) -> str:
    """A short rendering of a JSON value for an error message."""
    if value is None:
        return "missing or null"
    if isinstance(value, bool | int | float):
        return json.dumps(value)[:40]
    if isinstance(value, str):
        return repr(value[:80])
    return _json_type(value)
