"""A mixed ETL-ML benchmark with a scheduler in the loop (docs/benchmark.md).

:mod:`.spec` reads scenario files, :mod:`.sim` simulates the cluster, :mod:`.policies`
and :mod:`.adapter` schedule it, :mod:`.producers` tell a real Loadsense what happens,
:mod:`.truth` measures the outcome and :mod:`.report` writes it up.
"""
