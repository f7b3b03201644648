"""Starting the Jupyter server inside NGC images: the start script and what it needs."""

from .container import BootstrapPolicy, Strategy, apply_bootstrap, start_command, start_script

__all__ = ["BootstrapPolicy", "Strategy", "apply_bootstrap", "start_command", "start_script"]
