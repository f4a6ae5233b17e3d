"""Entry point of ``python -m bench``: runs the benchmark command line of ``bench.cli``."""

from bench.cli import main

raise SystemExit(main())
