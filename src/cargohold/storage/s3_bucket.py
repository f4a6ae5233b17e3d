"""One S3 bucket as the S3 driver uses it: object and multipart calls with S3's answers turned into what the
driver needs (None for a missing key, ``UnavailableError`` for a failing server), the server-side copy that
makes a verified upload a blob, and the ``state`` record of a push session (``UploadState``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, cast

from botocore.exceptions import ClientError

from cargohold.errors import DigestInvalidError
from cargohold.models import Digest
from cargohold.storage.s3_client import HEX_LENGTHS, Keys, not_found, translated

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef, CopySourceTypeDef

MAX_PARTS: Final = 10_000  # S3's limit of parts in one multipart upload
COPY_MAX: Final = 5 * 1024**3  # the largest object one CopyObject copies; larger ones are copied in parts


@dataclass(slots=True)
class Part:
    number: int
    etag: str
    size: int


@dataclass(slots=True)
class UploadState:
    """What ``state`` keeps of a session between requests."""

    multipart_id: str | None = None
    parts: list[Part] = field(default_factory=list)
    tail_size: int = 0

    @property
    def parts_size(self) -> int:
        return sum(part.size for part in self.parts)

    def dump(self) -> bytes:
        return json.dumps(
            {
                "multipart_id": self.multipart_id,
                "parts": [[part.number, part.etag, part.size] for part in self.parts],
                "tail_size": self.tail_size,
            }
        ).encode()

    @classmethod
    def load(cls, data: bytes) -> UploadState:
        raw = json.loads(data)
        parts = [Part(int(number), str(etag), int(size)) for number, etag, size in raw["parts"]]
        return cls(raw["multipart_id"], parts, int(raw["tail_size"]))


class Bucket:
    """The calls of the S3 driver on one bucket, below one key prefix (``keys``)."""

    def __init__(self, client: S3Client, name: str, keys: Keys, part_size: int) -> None:
        self.client = client
        self.name = name
        self.keys = keys
        self.part_size = part_size

    async def get_bytes(self, key: str) -> bytes | None:
        """A small object's content (a state, a tail); None when there is no such key."""
        with translated():
            try:
                response = await self.client.get_object(Bucket=self.name, Key=key)
                return await response["Body"].read()
            except ClientError as error:
                if not_found(error):
                    return None
                raise

    async def put_bytes(self, key: str, data: bytes) -> None:
        with translated():
            await self.client.put_object(Bucket=self.name, Key=key, Body=data)

    async def delete_key(self, key: str) -> None:
        with translated():
            await self.client.delete_object(Bucket=self.name, Key=key)

    async def list_objects(self, prefix: str) -> AsyncIterator[tuple[str, int, float]]:
        """(key, size, last modified) of every object under ``prefix``."""
        paginator = self.client.get_paginator("list_objects_v2")
        with translated():
            async for page in paginator.paginate(Bucket=self.name, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield item["Key"], int(item["Size"]), item["LastModified"].timestamp()

    async def list_multipart(self, prefix: str) -> list[tuple[str, str, float]]:
        """(key, multipart upload id, initiated) of every multipart upload under ``prefix``."""
        found: list[tuple[str, str, float]] = []
        paginator = self.client.get_paginator("list_multipart_uploads")
        with translated():
            async for page in paginator.paginate(Bucket=self.name, Prefix=prefix):
                for item in page.get("Uploads", []):
                    found.append((item["Key"], item["UploadId"], item["Initiated"].timestamp()))
        return found

    async def remove_upload_objects(self, directory: str) -> None:
        """Abort the multipart uploads and delete the objects under one upload's directory."""
        with translated():
            for key, multipart_id, _ in await self.list_multipart(directory):
                with contextlib.suppress(ClientError):
                    await self.client.abort_multipart_upload(Bucket=self.name, Key=key, UploadId=multipart_id)
            async for key, _, _ in self.list_objects(directory):
                await self.client.delete_object(Bucket=self.name, Key=key)

    async def head(self, key: str) -> dict[str, Any] | None:
        with translated():
            try:
                return cast("dict[str, Any]", await self.client.head_object(Bucket=self.name, Key=key))
            except ClientError as error:
                if not_found(error):
                    return None
                raise

    async def stat(self, key: str) -> int | None:
        head = await self.head(key)
        return None if head is None else int(head["ContentLength"])

    async def touch(self, key: str, size: int) -> bool:
        """Make the object's last-modified time now (garbage collection reads it as "in use just now");
        False when it is gone. An object over 5 GiB cannot be copied onto itself in one call: kept as is."""
        if size > COPY_MAX:
            return await self.stat(key) is not None
        with translated():
            try:
                await self.client.copy_object(
                    Bucket=self.name,
                    Key=key,
                    CopySource={"Bucket": self.name, "Key": key},
                    MetadataDirective="REPLACE",
                    Metadata={"touched": str(time.time())},
                )
            except ClientError as error:
                if not_found(error):
                    return False
                raise
        return True

    async def place(self, source: str, target: str, size: int) -> None:
        """Copy the verified object at ``source`` to ``target`` unless ``target`` holds it already."""
        if await self.stat(target) == size and await self.touch(target, size):
            return
        copy_source: CopySourceTypeDef = {"Bucket": self.name, "Key": source}
        with translated():
            if size <= COPY_MAX:
                await self.client.copy_object(Bucket=self.name, Key=target, CopySource=copy_source)
                return
            part = max(self.part_size, math.ceil(size / MAX_PARTS))
            created = await self.client.create_multipart_upload(Bucket=self.name, Key=target)
            multipart_id = created["UploadId"]
            try:
                parts: list[CompletedPartTypeDef] = []
                for number, start in enumerate(range(0, size, part), start=1):
                    end = min(start + part, size) - 1
                    copied = await self.client.upload_part_copy(
                        Bucket=self.name,
                        Key=target,
                        UploadId=multipart_id,
                        PartNumber=number,
                        CopySource=copy_source,
                        CopySourceRange=f"bytes={start}-{end}",
                    )
                    parts.append({"PartNumber": number, "ETag": copied["CopyPartResult"]["ETag"]})
                await self.client.complete_multipart_upload(
                    Bucket=self.name, Key=target, UploadId=multipart_id, MultipartUpload={"Parts": parts}
                )
            except BaseException:
                with contextlib.suppress(Exception):
                    await self.client.abort_multipart_upload(
                        Bucket=self.name, Key=target, UploadId=multipart_id
                    )
                raise

    async def hash_object(self, key: str, algorithm: str) -> Digest:
        """The digest of an object, read back and hashed as it streams."""
        if algorithm not in HEX_LENGTHS:
            raise DigestInvalidError(f"unsupported digest algorithm {algorithm!r}")
        hasher = hashlib.new(algorithm)
        with translated():
            response = await self.client.get_object(Bucket=self.name, Key=key)
            body = response["Body"]
            try:
                async for chunk in body.iter_chunks(1024 * 1024):
                    hasher.update(chunk)
            finally:
                body.close()
        return Digest(algorithm, hasher.hexdigest())
