"""``twcc-profiles``: check, preview and scaffold the profile files; render deployment manifests.

A traitlets :class:`~traitlets.config.Application` like JupyterHub's own
commands: every option is a trait, settable on the command line or from a
config file (``--config jupyterhub_config.py`` reads the hub's ``TWCCSpawner``
settings, so the CLI sees the same profiles directory, registry and GPU nodes
as the hub).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml
from traitlets import Enum, List, Unicode, default
from traitlets.config import Application, Config

from ..catalog import RELEASES_FILE, CatalogError, load_catalog
from ..catalog_source import profiles_directory
from ..form import render_form
from ..i18n import LOCALES
from ..podspec import GpuPodPolicy
from ..profiles import build_profile_list
from ..spawner import TWCCSpawner
from .manifests import PROFILES_CONFIGMAP, manifest_yaml, profiles_configmap
from .prepuller import PREPULLER_NAME, prepulled_releases, prepuller_daemonset
from .scaffold import ScaffoldError, add_release

_COMMON_ALIASES = {
    "profiles-dir": "TWCCSpawner.profiles_dir",
    "registry": "TWCCSpawner.image_registry",
    "config": "ProfilesCommand.config_file",
    "helm-values": "ProfilesCommand.helm_values",
}


def spawner_setting(config: Config, name: str) -> Any:
    """A ``TWCCSpawner`` trait as configured (command line, config file), else its default."""
    section = config.get("TWCCSpawner", {})
    if name in section:
        return section[name]
    return TWCCSpawner.class_traits()[name].default()


def helm_spawner_settings(files: list[str]) -> dict[str, Any]:
    """``hub.config.TWCCSpawner`` of Helm values files merged in order (not ``profiles_dir``)."""
    merged: dict[str, Any] = {}
    for file in files:
        values = yaml.safe_load(Path(file).read_text(encoding="utf-8")) or {}
        section = values.get("hub", {}).get("config", {}).get("TWCCSpawner", {})
        merged.update(section)  # Helm merges maps key by key; these settings are leaves
    merged.pop("profiles_dir", None)
    return merged


class ProfilesCommand(Application):
    """Common to every subcommand: where the profiles are, and the hub's config file."""

    aliases = dict(_COMMON_ALIASES)
    classes = [TWCCSpawner]

    config_file = Unicode(
        "",
        config=True,
        help="""
        A JupyterHub config file (e.g. ``jupyterhub_config.py``) to read
        ``c.TWCCSpawner`` settings from: profiles_dir, image_registry, the GPU node
        selector and tolerations. Command-line options win over it.
        """,
    )

    helm_values = List(
        Unicode(),
        config=True,
        help="""
        Helm values files of the Zero-to-JupyterHub install (e.g.
        ``deploy/helm/values.yaml`` then the site's), merged in order as Helm does, to
        read the hub's ``hub.config.TWCCSpawner`` settings from: the registry mirror,
        the GPU node selector and tolerations. Its ``profiles_dir`` is the hub pod's
        mount and is not used. Command-line options and ``--config`` win over it.
        """,
    )

    def initialize(self, argv: list[str] | None = None) -> None:
        super().initialize(argv)
        cli_config = self.config
        if self.helm_values:
            self.update_config(Config({"TWCCSpawner": helm_spawner_settings(self.helm_values)}))
        if self.config_file:
            self.load_config_file(self.config_file)
        self.update_config(cli_config)

    @property
    def configured_profiles_dir(self) -> Path:
        """``TWCCSpawner.profiles_dir`` as the hub resolves it: the shipped catalog if
        unset, a relative path from the config file's directory (else from here)."""
        base = Path(self.config_file).resolve().parent if self.config_file else Path.cwd()
        return profiles_directory(self.setting("profiles_dir"), base)

    @property
    def profiles_dir(self) -> Path:
        """The directory to read: the positional argument, else ``TWCCSpawner.profiles_dir``."""
        return Path(self.extra_args[0]) if self.extra_args else self.configured_profiles_dir

    def setting(self, name: str) -> Any:
        return spawner_setting(self.config, name)

    def fail(self, message: str) -> None:
        print(message, file=sys.stderr)
        self.exit(1)

    def catalog(self) -> Any:
        try:
            return load_catalog(self.profiles_dir)
        except CatalogError as e:
            for problem in e.problems:
                print(problem, file=sys.stderr)
            self.exit(1)


class ValidateCommand(ProfilesCommand):
    description = """
    Check releases.yaml and sizes.yaml in DIR (default: TWCCSpawner.profiles_dir).
    Exit 0 if the hub would accept them; else exit 1 and print every problem, one per
    line, as `file: entry: field: message`.
    """
    examples = "twcc-profiles validate profiles/\ntwcc-profiles validate /etc/twcc/profiles"

    def start(self) -> None:
        catalog = self.catalog()
        print(
            f"{self.profiles_dir}: {len(catalog.releases)} releases, {len(catalog.sizes)} sizes: OK"
        )


class AudienceCommand(ProfilesCommand):
    """A subcommand that shows what one user or group sees."""

    groups = List(
        Unicode(),
        config=True,
        help="JupyterHub groups of the user to show the profiles for (repeat, or comma-separate).",
    )
    aliases = {**_COMMON_ALIASES, "groups": "AudienceCommand.groups"}

    @property
    def group_set(self) -> frozenset[str]:
        return frozenset(g.strip() for item in self.groups for g in item.split(",") if g.strip())


class ListCommand(AudienceCommand):
    description = """
    List the releases x sizes a user in --groups may start, one label per line
    ("PyTorch 21.11 / 2 GPUs"); the preselected one is marked "(default)".
    """
    examples = "twcc-profiles list --groups=ampere-pilot"

    def start(self) -> None:
        catalog = self.catalog()
        groups = self.group_set
        default = (catalog.default_release(groups), catalog.default_size(groups))
        for release in catalog.releases_for(groups):
            for size in catalog.sizes_for(groups):
                mark = " (default)" if (release, size) == default else ""
                print(f"{release.title} / {size.label}{mark}")


class RenderCommand(AudienceCommand):
    description = """
    Print the spawn form's HTML, or the profile list as JSON, as a user in --groups
    will see it (without the cluster's live availability).
    """
    examples = "twcc-profiles render --format=json --groups=staff"

    format = Enum(["html", "json"], "html", config=True, help="``html`` (the form) or ``json``.")
    locale = Enum(list(LOCALES), "en", config=True, help="Language of the form.")
    aliases = {
        **AudienceCommand.aliases,
        "format": "RenderCommand.format",
        "locale": "RenderCommand.locale",
    }

    def start(self) -> None:
        profile_list = build_profile_list(self.catalog(), self.group_set, locale=self.locale)
        if self.format == "json":
            print(json.dumps(profile_list, indent=2, ensure_ascii=False))
        else:
            print(render_form(profile_list, self.locale))


class AddReleaseCommand(ProfilesCommand):
    description = """
    Add NGC release YY.MM to releases.yaml as text (comments stay): a hidden entry
    with the nearest release's facts, every one listed under `unverified`. Check
    them against the release notes, then remove `hidden` to offer it.
    """
    examples = "twcc-profiles add-release 22.03 --profiles-dir=/etc/twcc/profiles"

    @property
    def profiles_dir(self) -> Path:
        return self.configured_profiles_dir

    def start(self) -> None:
        if len(self.extra_args) != 1:
            self.fail("usage: twcc-profiles add-release YY.MM")
        path = self.profiles_dir / RELEASES_FILE
        original = path.read_text(encoding="utf-8")
        try:
            path.write_text(add_release(original, self.extra_args[0]), encoding="utf-8")
        except ScaffoldError as e:
            self.fail(str(e))
        try:
            load_catalog(self.profiles_dir)
        except CatalogError as e:
            path.write_text(original, encoding="utf-8")
            self.fail(f"not added, the result would not validate:\n{e}")
        print(f"Added {self.extra_args[0]} to {path} (hidden): fill in and verify its facts.")


class ConfigMapCommand(ProfilesCommand):
    description = "Print the profile files as a Kubernetes ConfigMap (validated first)."
    examples = "twcc-profiles configmap --namespace=jhub | kubectl apply -f -"

    name = Unicode(PROFILES_CONFIGMAP, config=True, help="The ConfigMap's name.")
    namespace = Unicode("", config=True, help="The ConfigMap's namespace (none: kubectl's).")
    aliases = {
        **_COMMON_ALIASES,
        "name": "ConfigMapCommand.name",
        "namespace": "ConfigMapCommand.namespace",
    }

    def start(self) -> None:
        self.catalog()
        manifest = profiles_configmap(self.profiles_dir, self.name, self.namespace or None)
        print(manifest_yaml(manifest), end="")


class PrepullerCommand(ProfilesCommand):
    description = """
    Print a DaemonSet that pulls every release marked `prepull: true` onto the GPU
    nodes (TWCCSpawner.gpu_node_selector and gpu_tolerations).
    """
    examples = "twcc-profiles prepuller --config=jupyterhub_config.py | kubectl apply -f -"

    name = Unicode(PREPULLER_NAME, config=True, help="The DaemonSet's name.")
    namespace = Unicode("", config=True, help="The DaemonSet's namespace (none: kubectl's).")
    aliases = {
        **_COMMON_ALIASES,
        "name": "PrepullerCommand.name",
        "namespace": "PrepullerCommand.namespace",
    }

    def start(self) -> None:
        catalog = self.catalog()
        if not prepulled_releases(catalog):
            self.fail("No release is marked `prepull: true` in releases.yaml.")
        policy = GpuPodPolicy(
            registry=self.setting("image_registry"),
            gpu_resource=self.setting("gpu_resource_name"),
            tolerations=tuple(self.setting("gpu_tolerations")),
            node_selector=dict(self.setting("gpu_node_selector")),
        )
        manifest = prepuller_daemonset(
            catalog, policy, name=self.name, namespace=self.namespace or None
        )
        print(manifest_yaml(manifest), end="")


class TwccProfiles(Application):
    """The ``twcc-profiles`` command."""

    name = "twcc-profiles"
    description = """
    Work with twcc-spawner's profile files (releases.yaml, sizes.yaml): check an
    edit before it goes live, see what a group of users will be offered, add a new
    NGC release, and render the ConfigMap and image pre-puller for the cluster.

    The profiles directory is TWCCSpawner.profiles_dir: `--profiles-dir=DIR`, or
    `--config=jupyterhub_config.py` to use the hub's setting (a relative one is
    taken from the config file's directory); unset, the catalog shipped with
    twcc-spawner. On the hub pod the
    profiles are usually a ConfigMap mounted at a directory such as
    /usr/local/etc/twcc/profiles.
    """
    examples = """
    twcc-profiles validate profiles/
    twcc-profiles list --groups=ampere-pilot
    twcc-profiles render --format=json
    twcc-profiles add-release 22.03
    twcc-profiles configmap --namespace=jhub > deploy/kubernetes/profiles-configmap.yaml
    twcc-profiles prepuller --config=jupyterhub_config.py
    twcc-profiles prepuller --helm-values=deploy/helm/values.yaml --helm-values=site.yaml
    """
    subcommands = {
        "validate": (ValidateCommand, "Check the profile files; exit 1 listing every problem."),
        "list": (ListCommand, "List the 'PyTorch 21.11 / 2 GPUs' choices a group sees."),
        "render": (RenderCommand, "Print the spawn form (HTML) or the profile list (JSON)."),
        "add-release": (AddReleaseCommand, "Add a new NGC release YY.MM to releases.yaml."),
        "configmap": (ConfigMapCommand, "Print the profiles as a Kubernetes ConfigMap."),
        "prepuller": (PrepullerCommand, "Print the image pre-puller DaemonSet."),
    }

    @default("classes")
    def _classes_default(self) -> list[type]:
        return []

    def start(self) -> None:
        if self.subapp is None:
            self.print_help()
            self.exit(2)
        self.subapp.start()


main = TwccProfiles.launch_instance

if __name__ == "__main__":
    main()
