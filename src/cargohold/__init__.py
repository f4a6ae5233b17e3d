"""cargohold: a self-hosted OCI registry with priority-ordered pull-through proxies."""
