"""The domain exception tree. Imports nothing of cargohold.

Every error a request can end in is one of these; the HTTP status and OCI code for each live in one table
in ``cargohold.api.oci.errors``. Names follow the OCI distribution spec's error codes.

    CargoholdError
    ├── RegistryError                     an OCI /v2 condition (has a spec code)
    │   ├── BlobUnknownError              BLOB_UNKNOWN
    │   │   └── BlobDamagedError          BLOB_UNKNOWN: the stored file is not the size recorded for it
    │   ├── BlobUploadInvalidError        BLOB_UPLOAD_INVALID
    │   │   └── UploadRangeError          BLOB_UPLOAD_INVALID, answered 416 with the current Range
    │   ├── BlobUploadUnknownError        BLOB_UPLOAD_UNKNOWN
    │   ├── DigestInvalidError            DIGEST_INVALID
    │   ├── ManifestBlobUnknownError      MANIFEST_BLOB_UNKNOWN
    │   ├── ManifestInvalidError          MANIFEST_INVALID
    │   ├── ManifestUnknownError          MANIFEST_UNKNOWN
    │   ├── NameInvalidError              NAME_INVALID
    │   ├── NameUnknownError              NAME_UNKNOWN
    │   ├── SizeInvalidError              SIZE_INVALID
    │   ├── ManifestTooLargeError         SIZE_INVALID, answered 413
    │   ├── TagInvalidError               MANIFEST_INVALID (the spec has no TAG_INVALID)
    │   ├── PaginationInvalidError        UNSUPPORTED
    │   ├── RangeNotSatisfiableError      SIZE_INVALID, answered 416
    │   ├── UnsupportedError              UNSUPPORTED
    │   ├── UnauthorizedError             UNAUTHORIZED
    │   ├── DeniedError                   DENIED
    │   ├── TooManyRequestsError          TOOMANYREQUESTS
    │   ├── StorageFullError              DENIED, answered 507: no room on the disk for a push
    │   └── UnavailableError              UNAVAILABLE
    ├── UpstreamError                     what one proxy (upstream registry) did wrong
    │   ├── UpstreamNotFoundError         it does not have it (404; Docker Hub's 401 after a valid token)
    │   └── UpstreamFailedError           it failed: see FailureKind (counts against its health)
    ├── ConfigError                       a config file or setting that cannot be used
    ├── RepositoryExistsError             a repository or proxy name already taken
    ├── ProxyUnknownError                 no proxy of that name in the repository
    ├── UserUnknownError                  no user (or access token) of that name
    ├── ValidationFailedError             a management request with a field that cannot be used
    ├── ManagedByConfigError              a change to something the config file owns
    └── PreconditionFailedError           a management change whose If-Match names an older version
"""

from __future__ import annotations

from enum import StrEnum


class CargoholdError(Exception):
    """Base of every error cargohold raises on purpose."""

    def __init__(self, message: str = "", *, detail: object = None) -> None:
        super().__init__(message or self.__class__.__doc__ or self.__class__.__name__)
        self.message = message or (self.__class__.__doc__ or self.__class__.__name__).strip()
        self.detail = detail


class RegistryError(CargoholdError):
    """A condition of the OCI distribution API."""


class StorageFullError(RegistryError):
    """the registry's storage is full"""


class BlobUnknownError(RegistryError):
    """blob unknown to registry"""


class BlobDamagedError(BlobUnknownError):
    """blob unknown to registry"""

    def __init__(
        self,
        message: str = "",
        *,
        recorded_size: int,
        stored_size: int,
        cached: bool,
        proxy_name: str | None = None,
        detail: object = None,
    ) -> None:
        super().__init__(message, detail=detail)
        self.recorded_size = recorded_size
        self.stored_size = stored_size
        self.cached = cached
        """True when the blob was fetched through a proxy (so it can be fetched again)."""
        self.proxy_name = proxy_name


class BlobUploadInvalidError(RegistryError):
    """blob upload invalid"""


class UploadRangeError(BlobUploadInvalidError):
    """chunk does not continue the upload where it stands"""

    def __init__(self, message: str = "", *, upload_id: str, offset: int, detail: object = None) -> None:
        super().__init__(message, detail=detail)
        self.upload_id = upload_id
        self.offset = offset


class BlobUploadUnknownError(RegistryError):
    """blob upload unknown to registry"""


class DigestInvalidError(RegistryError):
    """provided digest did not match uploaded content"""


class ManifestBlobUnknownError(RegistryError):
    """manifest references a manifest or blob unknown to registry"""


class ManifestInvalidError(RegistryError):
    """manifest invalid"""


class ManifestUnknownError(RegistryError):
    """manifest unknown to registry"""


class NameInvalidError(RegistryError):
    """invalid repository name"""


class NameUnknownError(RegistryError):
    """repository name not known to registry"""


class SizeInvalidError(RegistryError):
    """provided length did not match content length"""


class ManifestTooLargeError(SizeInvalidError):
    """manifest exceeds the size limit"""


class TagInvalidError(RegistryError):
    """manifest tag did not match URI"""


class PaginationInvalidError(RegistryError):
    """invalid number of results requested"""


class RangeNotSatisfiableError(RegistryError):
    """requested range not satisfiable"""

    def __init__(self, message: str = "", *, size: int, detail: object = None) -> None:
        super().__init__(message, detail=detail)
        self.size = size


class UnsupportedError(RegistryError):
    """the operation is unsupported"""


class UnauthorizedError(RegistryError):
    """authentication required"""


class DeniedError(RegistryError):
    """requested access to the resource is denied"""


class TooManyRequestsError(RegistryError):
    """too many requests"""

    def __init__(self, message: str = "", *, retry_after: int | None = None, detail: object = None) -> None:
        super().__init__(message, detail=detail)
        self.retry_after = retry_after


class UnavailableError(RegistryError):
    """service unavailable"""

    def __init__(self, message: str = "", *, retry_after: int | None = None, detail: object = None) -> None:
        super().__init__(message, detail=detail)
        self.retry_after = retry_after


class FailureKind(StrEnum):
    """Why an upstream failed; every kind passes the request to the next proxy and starts a backoff."""

    UNREACHABLE = "unreachable"  # DNS failure, connection refused or reset
    TIMEOUT = "timeout"  # connecting took longer than the proxy's timeout, or the body stalled
    TLS = "tls"  # certificate validation or handshake failed
    SERVER_ERROR = "server_error"  # 5xx
    RATE_LIMITED = "rate_limited"  # 429
    CREDENTIALS_REJECTED = "credentials_rejected"  # 401 on our credentials, or the token endpoint said no
    BAD_CONTENT = "bad_content"  # digest or size mismatch, truncated body, not a manifest
    PROTOCOL = "protocol"  # any other answer a registry should not give


class UpstreamError(CargoholdError):
    """an upstream registry did not deliver"""

    def __init__(self, message: str = "", *, proxy_name: str = "", detail: object = None) -> None:
        super().__init__(message, detail=detail)
        self.proxy_name = proxy_name


class UpstreamNotFoundError(UpstreamError):
    """the upstream does not have it"""


class UpstreamFailedError(UpstreamError):
    """the upstream failed"""

    def __init__(
        self,
        message: str = "",
        *,
        kind: FailureKind,
        proxy_name: str = "",
        retry_after: int | None = None,
        detail: object = None,
    ) -> None:
        super().__init__(message, proxy_name=proxy_name, detail=detail)
        self.kind = kind
        self.retry_after = retry_after


class ConfigError(CargoholdError):
    """configuration invalid"""


class RepositoryExistsError(CargoholdError):
    """name already in use"""


class ProxyUnknownError(CargoholdError):
    """no such proxy in the repository"""


class UserUnknownError(CargoholdError):
    """no such user"""


class ValidationFailedError(CargoholdError):
    """a field cannot be used"""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", detail={"field": field, "reason": reason})
        self.field = field
        self.reason = reason


class ManagedByConfigError(CargoholdError):
    """managed by the configuration file; change it there"""


class PreconditionFailedError(CargoholdError):
    """the resource changed since it was read (If-Match does not match its ETag)"""
