"""What the server tells its operator about requests: the access log (text or JSON), the HTTP metrics
(latency by route kind and cache outcome, requests in flight, process metrics) and the log format.

``access.py`` sees every finished request once (aiohttp's access logger hook, called after the last byte
went out, or the client went away) and both writes its log line and observes its latency; ``metrics.py``
owns the Prometheus objects and their multi-worker mode; ``routes.py`` sorts paths into route kinds and
strips secrets from query strings; ``logformat.py`` sets up Python logging in text or JSON.
"""
