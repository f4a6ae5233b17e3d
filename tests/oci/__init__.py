"""HTTP-level conformance tests of cargohold's /v2 API, written from the OCI distribution spec v1.1."""
