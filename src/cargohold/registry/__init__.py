"""Local OCI semantics: manifests, uploads, tags, referrers."""
