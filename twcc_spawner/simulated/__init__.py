"""SIMULATED: the Kubernetes emulator and the demo hub. Never a production backend.

:mod:`.emulator` speaks kube-apiserver's HTTP API and runs pods as local
processes; :mod:`.local_hub` runs JupyterHub and configurable-http-proxy beside
it; :mod:`.demo` is ``make demo``. No module outside this package imports it.
"""
