"""The /v2 OCI distribution API."""
