"""The /api/v1 management API."""
