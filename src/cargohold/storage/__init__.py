"""Blob bytes, content-addressed; knows no repository and no HTTP."""
