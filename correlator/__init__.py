"""The clock of the service: each tick evaluates every signal as of one instant.

``loop`` (the correlator: ticks on the wall or an external clock, the snapshot),
``snapshot`` (what a tick publishes), ``history`` (``signal_points``, written and read),
``steps`` (the per-tick plug-ins off the tick's thread), ``service`` (its start-up hook)
and ``dispatch/`` (the first step: recommendations for schedulers). docs/signals.md.
"""
