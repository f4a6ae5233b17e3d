"""Authentication over HTTP: reading credentials from requests into a ``Principal``, for every area (/v2,
/api/v1, /ui). What each area then allows lives with that area (``api/oci/access.py`` for /v2, with the Docker
token endpoint beside it in ``api/oci``); nothing here imports another part of ``cargohold.api``."""
