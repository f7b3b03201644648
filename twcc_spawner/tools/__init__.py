"""Operator tools: the ``twcc-profiles`` command and what it renders.

Nothing here runs inside a spawn. :mod:`.cli` is the command; :mod:`.scaffold` adds
a release entry; :mod:`.prepuller` and :mod:`.manifests` render what the cluster
needs; :mod:`.catalog_doc` and :mod:`.schema_doc` generate pages of the docs.
"""
