"""cargohold's benchmark against CNCF Distribution, run with ``python -m bench`` (see ``bench/cli.py``).

The package owns everything the benchmark needs beyond ``tests/support``: the run plan and sizes
(``plan.py``), the content it pushes into the upstream (``content.py``), the servers it starts side by side
(``servers.py``), the measurements (``pulls.py``, ``load.py``, ``memory.py``) and the report (``report.py``).
"""
