"""Every fact but bytes: narrow store protocols by area (``base.py``), opened together on one database
by ``sql.open_metadata``."""
