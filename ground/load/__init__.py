"""Load testing against a running emulation, apart from the gateways it drives.

:func:`~orbitmesh.ground.load.loadtest.run_load_test` is the front door: the load
generator (:mod:`.loadgen`, :mod:`.schedule`), the observer of the constellation in a
process of its own (:mod:`.observer`), fidelity against the machine's floor
(:mod:`.fidelity`, :mod:`.fidelitywatch`, :mod:`.floor`), the accounting
(:mod:`.loadstats`) and the report (:mod:`.report`, :mod:`.svgplot`). It reaches the
emulation only as a user does, through :mod:`orbitmesh.ground`'s client and the gRPC
services; nothing in the gateways imports it.
"""
