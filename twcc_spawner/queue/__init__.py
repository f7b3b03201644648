"""The hub's GPU queue: a spawn that only lacks free GPUs waits for them instead of being refused.

:mod:`.model` is the pure queue (lines per size, admission order, holds,
estimates); :mod:`.hub_queue` runs it in the hub's event loop; :mod:`.admin`
lists who waits for what on the hub's REST API.
"""
