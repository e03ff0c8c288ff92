"""The emulated network that satellites and ground stations share.

Link timing (:mod:`.model`), the per-tick link state the orchestrator publishes
(:mod:`.linkstate`), routes searched where and when needed (:mod:`.routes`), what one
host process knows of them (:mod:`.linkview`, :mod:`.fleet`), choosing a satellite
(:mod:`.choice`), the data path between host processes (:mod:`.datapath`) and waiting
for emulated instants (:mod:`.timing`). Satellites (:mod:`orbitmesh.node`) and gateways
(:mod:`orbitmesh.ground`) both build on it and on nothing of each other.
"""
