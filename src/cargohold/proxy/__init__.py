"""Pull-through from upstream registries."""
