"""Authentication over HTTP: reading credentials from requests, the Docker token endpoint, /v2 enforcement."""
