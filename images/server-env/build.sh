#!/bin/sh
# Build (and optionally push) the server-environment image for the hub's JupyterHub.
#
#   images/server-env/build.sh [--push] [IMAGE]
#
# IMAGE defaults to twcc-spawner/server-env:<JupyterHub version>, the default of
# TWCCSpawner.server_env_image; tag it for your registry and set that trait.
# The JupyterHub version is the hub's (read from the hub's Python, $HUB_PYTHON, or
# set JUPYTERHUB_VERSION); the single-user server must have the hub's major version.
# Needs docker (or set DOCKER=podman / DOCKER="buildah bud"...) and internet access
# at build time only: pods never download anything.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
push=false
if [ "${1:-}" = --push ]; then
    push=true
    shift
fi

HUB_PYTHON=${HUB_PYTHON:-python3}
JUPYTERHUB_VERSION=${JUPYTERHUB_VERSION:-$("$HUB_PYTHON" -c 'import jupyterhub; print(jupyterhub.__version__)')}
image=${1:-twcc-spawner/server-env:$JUPYTERHUB_VERSION}

# A relocatable CPython >= 3.10 (JupyterHub 6 needs it) from python-build-standalone:
# pick a release at https://github.com/astral-sh/python-build-standalone/releases, the
# x86_64-unknown-linux-gnu-install_only asset, and its SHA-256 (the release's SHA256SUMS).
: "${PYTHON_URL:?set PYTHON_URL to a python-build-standalone x86_64-unknown-linux-gnu install_only tarball}"
: "${PYTHON_SHA256:?set PYTHON_SHA256 to its SHA-256}"

${DOCKER:-docker} build \
    --build-arg "JUPYTERHUB_VERSION=$JUPYTERHUB_VERSION" \
    --build-arg "PYTHON_URL=$PYTHON_URL" \
    --build-arg "PYTHON_SHA256=$PYTHON_SHA256" \
    --tag "$image" "$here"
echo "built $image (JupyterHub $JUPYTERHUB_VERSION)"
if $push; then
    ${DOCKER:-docker} push "$image"
fi
