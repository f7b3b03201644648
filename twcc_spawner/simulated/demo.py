"""``make demo``: JupyterHub with TWCCSpawner on a SIMULATED Kubernetes cluster.

Starts the Kubernetes emulator (simulated GPU nodes; the pods' commands run on
this machine), then configurable-http-proxy and JupyterHub bound to 127.0.0.1
only, and prints the URL and the login. Ctrl-C or SIGTERM stops the hub (which
stops the servers), the proxy and the emulator (which kills any pod process left).
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import sys
import textwrap
from pathlib import Path
from types import FrameType

from .emulator import BANNER, Emulator
from .emulator.cluster import DEFAULT_CLUSTER
from .emulator.twcc_images import catalog_images, catalog_registry
from .hub_settings import ANNOUNCEMENT, HubSettings, free_port
from .local_hub import LocalHub, ProcessExited

MIN_PASSWORD = 8


def port_is_free(port: int) -> bool:
    """Whether nothing listens on ``port`` on 127.0.0.1 right now.

    Asks by connecting, not by binding: connections of a demo that just stopped
    linger in TIME-WAIT for a minute, which makes a plain bind fail although the
    proxy can listen there again (it sets SO_REUSEADDR).
    """
    with socket.socket() as s:
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            return True
        except OSError:
            return False
        return False


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m twcc_spawner.simulated.demo",
        description="JupyterHub with TWCCSpawner on a SIMULATED Kubernetes cluster",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("TWCC_DEMO_PORT", "8000")),
        help="port of the hub on 127.0.0.1 (default: $TWCC_DEMO_PORT or 8000)",
    )
    parser.add_argument(
        "--state-dir", type=Path, default=Path(".demo"), help="hub database, logs, kubeconfig"
    )
    parser.add_argument(
        "--profiles-dir", type=Path, default=Path("profiles"), help="the image catalog"
    )
    parser.add_argument(
        "--cluster", type=Path, default=DEFAULT_CLUSTER, help="simulated cluster YAML"
    )
    return parser.parse_args(argv)


def _stop_on_signal(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _banner(settings: HubSettings) -> str:
    line = "=" * 72
    return textwrap.dedent(
        f"""
        {line}
          {BANNER}
          {ANNOUNCEMENT}

          JupyterHub:  {settings.url}/
          Log in with: any user name, password {settings.password}

          Pods run their command on this machine; images are never pulled.
          Ctrl-C stops the hub, the proxy, the servers and the emulator.
        {line}
        """
    )


def run(args: argparse.Namespace) -> int:
    """Run the demo until a signal or until the hub or the proxy exits; the exit code."""
    password = os.environ.get("TWCC_DEMO_PASSWORD") or secrets.token_urlsafe(9)
    if len(password) < MIN_PASSWORD:
        print(f"TWCC_DEMO_PASSWORD must have at least {MIN_PASSWORD} characters.", file=sys.stderr)
        return 2
    if not port_is_free(args.port):
        print(f"Port {args.port} is in use; set TWCC_DEMO_PORT to another.", file=sys.stderr)
        return 2
    if not (args.profiles_dir / "releases.yaml").exists():
        print(f"No catalog in {args.profiles_dir}/ (use --profiles-dir).", file=sys.stderr)
        return 2
    # the kubelet stand-in runs pod commands (jupyterhub-singleuser) from our PATH
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    settings = HubSettings(
        state_dir=args.state_dir,
        profiles_dir=args.profiles_dir,
        password=password,
        proxy_auth_token=secrets.token_hex(32),
        port=args.port,
        hub_port=free_port(),
        proxy_api_port=free_port(),
    )
    for sig in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: `cmd &` starts with it ignored
        signal.signal(sig, _stop_on_signal)
    hub = LocalHub(settings)
    try:
        images = catalog_images(args.profiles_dir)
        registry = catalog_registry(args.profiles_dir)
        with Emulator.in_thread(cluster=args.cluster, images=images, registry=registry) as emulator:
            try:
                emulator.write_kubeconfig(settings.kubeconfig)
                hub.start()
                print(_banner(settings), flush=True)
                assert hub.hub is not None and hub.hub.process is not None
                hub.hub.process.wait()
                hub.check_running()
            except (ProcessExited, TimeoutError) as e:
                print(f"The demo stopped: {e}", file=sys.stderr)
                return 1
            finally:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    signal.signal(sig, signal.SIG_IGN)  # finish the clean-up
                print("Stopping the hub, the proxy and the SIMULATED cluster...", flush=True)
                hub.stop()
    except KeyboardInterrupt:
        pass
    print("Demo stopped.", flush=True)
    return 0


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    sys.exit(run(_parse_args(argv)))


if __name__ == "__main__":
    main()
