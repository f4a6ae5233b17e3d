"""Every fact but bytes, behind one MetadataStore."""
