"""HTTP: the /v2 OCI API, the management API and the web UI (the only aiohttp.web users)."""
