"""Preflight: refuse a spawn that cannot work before a GPU is held.

The pure checks (:mod:`.checks`) judge a request against the hub's picture of the
cluster (:mod:`.cluster_state`), which one shared list+watch keeps current
(:mod:`.cluster_watch`); :mod:`.gpu_labels` reads NVIDIA GPU Feature Discovery's
node labels; :mod:`.spawner_mixin` wires all of it into :class:`~twcc_spawner.TWCCSpawner`.
"""
