"""How the S3 driver talks to its bucket: ``S3Options``, the aiobotocore client built from them, the key
layout, and the translation of S3 failures into domain errors.

Keys, below the configured prefix::

    blobs/sha256/ab/abcdef0123…        committed blobs, named by digest, as on the filesystem
    uploads/<upload-id>/state          an upload session: its multipart upload id, parts and size (JSON)
    uploads/<upload-id>/tail-<size>    bytes received after the last whole part (fewer than part_size)
    uploads/<upload-id>/data           the multipart upload's key, a whole object only while it is verified

A 404 of the bucket is a ``NoSuchKey``-style answer; every other failure (the server unreachable, refusing
our credentials, answering 5xx) becomes ``UnavailableError`` (503: the client may retry) whose message names
the S3 error code but never a credential.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from cargohold.errors import BlobUploadUnknownError, DigestInvalidError, UnavailableError
from cargohold.models import Digest

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

HEX_LENGTHS: Final = {"sha256": 64, "sha512": 128}
_HEX_RE: Final = re.compile(r"[0-9a-f]+", re.ASCII)
_UPLOAD_ID_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
_NOT_FOUND: Final = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchUpload"})


@dataclass(frozen=True, slots=True)
class S3Options:
    """Everything the driver needs to reach its bucket (built by the app from ``storage.s3``)."""

    bucket: str
    endpoint_url: str | None = None
    region: str = "us-east-1"
    prefix: str = ""
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    credentials_file: Path | None = None
    profile: str | None = None
    path_style: bool = False
    verify: bool | str = True
    """False: no TLS verification; a path: the CA bundle; True: the system's CAs."""
    part_size: int = 16 * 1024 * 1024
    presign_expires_seconds: int = 300
    redirect: bool = False


def client_context(options: S3Options) -> contextlib.AbstractAsyncContextManager[S3Client]:
    """An aiobotocore S3 client for ``options``; credentials from the options, else the file, else the
    standard AWS chain (environment, config files, instance or container role)."""
    session = get_session()
    if options.credentials_file is not None:
        session.set_config_variable("credentials_file", str(options.credentials_file))
    if options.profile is not None:
        session.set_config_variable("profile", options.profile)
    config = AioConfig(
        signature_version="s3v4",
        s3={"addressing_style": "path" if options.path_style else "virtual"},
        retries={"max_attempts": 3, "mode": "standard"},
        max_pool_connections=64,
        # Checksums only where S3 requires them: S3-compatible servers (Ceph RGW, older MinIO) differ.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        connect_timeout=10,
        read_timeout=60,
    )
    return session.create_client(
        "s3",
        region_name=options.region,
        endpoint_url=options.endpoint_url,
        aws_access_key_id=options.access_key_id,
        aws_secret_access_key=options.secret_access_key,
        aws_session_token=options.session_token,
        verify=options.verify,
        config=config,
    )


class Keys:
    """The key layout under one prefix; validates digests and upload ids before they become keys."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.blobs = f"{prefix}blobs/"
        self.uploads = f"{prefix}uploads/"

    def blob(self, digest: Digest) -> str:
        length = HEX_LENGTHS.get(digest.algorithm)
        if length is None or len(digest.hex) != length or not _HEX_RE.fullmatch(digest.hex):
            raise DigestInvalidError(f"invalid digest {str(digest)[:80]!r}")
        return f"{self.blobs}{digest.algorithm}/{digest.hex[:2]}/{digest.hex}"

    def digest_of(self, key: str) -> Digest | None:
        """The digest a blob key names, or None for a key that is not one."""
        parts = key[len(self.blobs) :].split("/") if key.startswith(self.blobs) else []
        if len(parts) != 3:
            return None
        algorithm, prefix, hex_ = parts
        length = HEX_LENGTHS.get(algorithm)
        if (
            length is None
            or len(hex_) != length
            or not hex_.startswith(prefix)
            or not _HEX_RE.fullmatch(hex_)
        ):
            return None
        return Digest(algorithm, hex_)

    @staticmethod
    def check_upload_id(upload_id: str) -> str:
        if not isinstance(upload_id, str) or not _UPLOAD_ID_RE.fullmatch(upload_id):
            raise BlobUploadUnknownError(f"invalid upload id {str(upload_id)[:80]!r}")
        return upload_id

    def upload_dir(self, upload_id: str) -> str:
        return f"{self.uploads}{self.check_upload_id(upload_id)}/"

    def state(self, upload_id: str) -> str:
        return f"{self.upload_dir(upload_id)}state"

    def tail(self, upload_id: str, size: int) -> str:
        return f"{self.upload_dir(upload_id)}tail-{size}"

    def data(self, upload_id: str) -> str:
        return f"{self.upload_dir(upload_id)}data"

    def upload_id_of(self, key: str) -> str | None:
        """The upload id a key under ``uploads/`` belongs to."""
        if not key.startswith(self.uploads):
            return None
        upload_id = key[len(self.uploads) :].split("/", 1)[0]
        return upload_id if _UPLOAD_ID_RE.fullmatch(upload_id) else None


def not_found(error: ClientError) -> bool:
    """Whether S3 answered that the key (or multipart upload) does not exist."""
    code = str(error.response.get("Error", {}).get("Code", ""))
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in _NOT_FOUND or status == 404


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "")) or "unknown"


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Turn a failure of the S3 server or the connection to it into UnavailableError (503)."""
    try:
        yield
    except ClientError as error:
        raise UnavailableError(f"the blob store (S3) failed: {error_code(error)}") from error
    except BotoCoreError as error:
        raise UnavailableError(f"the blob store (S3) cannot be reached: {type(error).__name__}") from error
