"""The ``storage:`` section: which blob store driver keeps the bytes, and how the S3 driver reaches S3.

``driver: filesystem`` (the default) keeps blobs under ``data_dir``. ``driver: s3`` keeps them in an
S3-compatible bucket (AWS S3, MinIO, Ceph RGW); its ``s3:`` settings name the endpoint, region, bucket, key
prefix, credentials (inline, usually as ``${VAR}`` references; an AWS shared-credentials file; or, when
neither is given, the standard AWS chain: environment, config files, instance or container role), the
addressing style, TLS verification and the multipart part size. Secrets are ``SecretStr`` and never shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ByteSize, ConfigDict, Field, SecretStr, field_validator, model_validator

from cargohold.registry.values import Bytes

__all__ = ["S3Settings", "StorageSettings"]

MIN_PART_SIZE: Final = 5 * 1024 * 1024  # S3's smallest multipart part (all but the last)
MAX_PART_SIZE: Final = 5 * 1024 * 1024 * 1024  # S3's largest part


class S3Settings(BaseModel):
    """Where the S3 driver keeps blobs (``storage.s3``)."""

    model_config = ConfigDict(extra="forbid")

    bucket: str = Field(min_length=3, max_length=63)
    endpoint_url: str | None = None
    """``http(s)://host:port`` of an S3-compatible server; None: AWS S3 for ``region``."""
    region: str = "us-east-1"
    prefix: str = ""
    """Every key starts with this (e.g. ``cargohold/``), so one bucket can hold other things too."""
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    credentials_file: Path | None = None
    """An AWS shared-credentials file (INI) to read the keys from, with ``profile``."""
    profile: str | None = None
    path_style: bool = False
    """``http://endpoint/bucket/key`` (MinIO, Ceph, moto) instead of ``http://bucket.endpoint/key``."""
    verify_tls: bool = True
    ca_bundle: Path | None = None
    """A PEM file of the CAs that sign the endpoint's certificate (instead of the system's)."""
    part_size: ByteSize = Field(default=ByteSize(16 * 1024 * 1024))
    """Bytes per multipart part while a blob is written (5 MiB to 5 GiB); also the most a writer holds."""
    presign_expires_seconds: int = Field(default=300, ge=10, le=7 * 86400)
    """How long a redirect's presigned URL stays valid (``storage.redirect: true``)."""

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value else None

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip("/")
        if any(part in ("", ".", "..") for part in value.split("/")) and value:
            raise ValueError("must be path segments without empty, '.' or '..' parts")
        return f"{value}/" if value else ""

    @field_validator("part_size")
    @classmethod
    def _part_size(cls, value: ByteSize) -> ByteSize:
        if not MIN_PART_SIZE <= value <= MAX_PART_SIZE:
            raise ValueError("must be between 5MiB and 5GiB (S3's limits for a multipart part)")
        return value

    @field_validator("credentials_file", "ca_bundle")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.expanduser().is_file():
            raise ValueError(f"{value} is not a readable file")
        return value.expanduser() if value is not None else None

    @model_validator(mode="after")
    def _keys_in_pairs(self) -> S3Settings:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("give access_key_id and secret_access_key together")
        if self.access_key_id is not None and self.credentials_file is not None:
            raise ValueError("give either access keys or credentials_file, not both")
        return self


class StorageSettings(BaseModel):
    """Which driver stores blobs, and the limits on the whole store (the ``storage:`` section); byte sizes
    are integers or ``"50GiB"``."""

    model_config = ConfigDict(extra="forbid")

    driver: Literal["filesystem", "s3"] = "filesystem"
    redirect: bool = False
    """S3 only: a blob GET answers 307 to a short-lived presigned URL instead of streaming the bytes."""
    s3: S3Settings | None = None
    max_bytes: Bytes = ByteSize(0)
    """Cached content is evicted while the store holds more than this (each digest once); 0: no limit."""
    min_free_bytes: Bytes = ByteSize(0)
    """Cached content is evicted while the data directory's disk has less free; 0: no minimum."""
    low_water_percent: int = Field(default=90, ge=1, le=100)
    """Eviction, once a limit is crossed, goes on until usage is this share of the limit."""
    eviction_interval_seconds: float = Field(default=300.0, ge=0, le=86400)
    """How often limits and ``evict_unused_after_days`` are checked without a fetch to prompt it (0: only
    after fetches); a fetch prompts a check of the limits within seconds."""

    @model_validator(mode="after")
    def _driver_settings(self) -> StorageSettings:
        if self.driver == "s3" and self.s3 is None:
            raise ValueError("driver s3 needs an s3: section with at least a bucket")
        if self.redirect and self.driver != "s3":
            raise ValueError("redirect needs driver s3 (the filesystem driver serves with sendfile)")
        return self
