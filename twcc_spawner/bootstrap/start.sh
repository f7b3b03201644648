#!/bin/sh
# twcc-start: check the container, then start the Jupyter server in an NGC PyTorch image.
#
# twcc-spawner runs it as the notebook container's command:
#     /bin/sh -c '<this file>' twcc-start [arguments for the server...]
# It is POSIX sh (dash, bash, busybox ash) and uses only sh, awk, sed, df, date, id, head,
# tail, mkdir and, if present, timeout: the tools of every NGC image since 18.08.
#
# Everything comes from the environment twcc_spawner.bootstrap puts in the pod:
#   TWCC_SERVER_STRATEGY    server-env: run the server from the environment the init
#                           container copied to $TWCC_BOOTSTRAP_DIR/server-env;
#                           derived-image: the image has jupyterhub-singleuser itself.
#   TWCC_BOOTSTRAP_DIR      (server-env) the emptyDir; the kernelspec is written there.
#   TWCC_IMAGE_PYTHON       the image's own Python: runs the kernel and the CUDA check.
#   TWCC_HUB_VERSION        the hub's JupyterHub version (the server's major must match).
#   TWCC_PREFLIGHT          1 to check GPUs, driver, /dev/shm and CUDA first; 0 to skip.
#   TWCC_GPUS TWCC_DRIVER_MINIMUM TWCC_DRIVER_DATACENTER TWCC_SHM_SIZE
#   TWCC_CUDA_CHECK_TIMEOUT TWCC_SELECTION TWCC_RELEASE TWCC_TERMINATION_LOG HOME
#   TWCC_READY_FILE         written once the checks passed and the server answers; the
#                           container's readiness probe waits for it.
#
# The quick checks (GPUs, driver, /dev/shm) run first. Then the server starts while the
# slow ones (CUDA, the kernel) run beside it, so their seconds overlap its start-up; the
# pod becomes Ready only when both are done. A failed step prints why, writes the same
# single line to $TWCC_TERMINATION_LOG (the container's terminationMessagePath), stops
# the server and exits 1; the spawner shows that line.

started=$(date +%s)

say() {
    printf 'twcc-start: %s\n' "$*"
}

# Made once a step failed (mkdir is atomic), beside the ready marker in the pod's own
# emptyDir: the first failure's reason is the one reported.
failed="${TWCC_READY_FILE:-${TMPDIR:-/tmp}/twcc-start.$$}.failed"

fail() {
    [ -n "${cuda_pid:-}" ] && kill "$cuda_pid" 2> /dev/null
    say "FAILED: $*"
    if mkdir "$failed" 2> /dev/null; then
        printf '%s\n' "$*" > "${TWCC_TERMINATION_LOG:-/dev/termination-log}" 2>/dev/null
    fi
    [ -n "${server_pid:-}" ] && kill -TERM "$server_pid" 2> /dev/null
    exit 1
}

last_line() {
    printf '%s\n' "$1" | sed '/^[[:space:]]*$/d' | tail -n 1
}

json_string() {
    printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"
}

# kib QUANTITY: a Kubernetes quantity (16G, 30Gi, 64Mi) in KiB, rounded down.
kib() {
    printf '%s\n' "$1" | awk '
        BEGIN { f[""] = 1; f["k"] = 1e3; f["K"] = 1e3; f["M"] = 1e6; f["G"] = 1e9
                f["T"] = 1e12; f["Ki"] = 1024; f["Mi"] = 1048576; f["Gi"] = 1073741824
                f["Ti"] = 1099511627776 }
        { if (!match($0, /^[0-9.]+/)) exit 1
          suffix = substr($0, RLENGTH + 1)
          if (!(suffix in f)) exit 1
          printf "%d\n", substr($0, 1, RLENGTH) * f[suffix] / 1024 }'
}

# driver_supported DRIVER MINIMUM "BRANCH...": DRIVER >= MINIMUM, or DRIVER is on one of
# the data-center branches (same major version) and at least that branch's version.
driver_supported() {
    awk -v driver="$1" -v minimum="$2" -v branches="$3" '
        function cmp(a, b,   x, y, n, m, i) {
            n = split(a, x, "."); m = split(b, y, "."); if (m > n) n = m
            for (i = 1; i <= n; i++) {
                if (x[i] + 0 < y[i] + 0) return -1
                if (x[i] + 0 > y[i] + 0) return 1
            }
            return 0
        }
        BEGIN {
            if (cmp(driver, minimum) >= 0) exit 0
            split(driver, d, ".")
            n = split(branches, list, " ")
            for (i = 1; i <= n; i++) {
                split(list[i], b, ".")
                if (d[1] + 0 == b[1] + 0 && cmp(driver, list[i]) >= 0) exit 0
            }
            exit 1
        }'
}

check_gpus() {
    command -v nvidia-smi > /dev/null 2>&1 ||
        fail "nvidia-smi is missing: the container got no NVIDIA driver (is the node's GPU runtime set up?)"
    listing=$(nvidia-smi -L 2>&1)
    seen=$(printf '%s\n' "$listing" | grep -c '^GPU ')
    if [ "$seen" != "$TWCC_GPUS" ]; then
        fail "The container sees $seen GPU(s) but $TWCC_GPUS were allocated (nvidia-smi -L: $(last_line "$listing"))"
    fi
    say "[1/4] GPUs: the container sees the $seen allocated GPU(s)"
}

check_driver() {
    driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>&1 | head -n 1)
    case $driver in
        [0-9]*) ;;
        *) fail "nvidia-smi cannot report the driver version: $driver" ;;
    esac
    if ! driver_supported "$driver" "$TWCC_DRIVER_MINIMUM" "$TWCC_DRIVER_DATACENTER"; then
        branches=""
        [ -n "$TWCC_DRIVER_DATACENTER" ] &&
            branches=" or a data-center branch at least $(printf '%s' "$TWCC_DRIVER_DATACENTER" | sed 's/ /, /g')"
        fail "NVIDIA driver $driver on this node cannot run $TWCC_RELEASE images: they need $TWCC_DRIVER_MINIMUM or newer$branches"
    fi
    say "[2/4] driver: $driver supports $TWCC_RELEASE (needs $TWCC_DRIVER_MINIMUM+ or a branch in: ${TWCC_DRIVER_DATACENTER:-none})"
}

check_shm() {
    need=$(kib "$TWCC_SHM_SIZE") || fail "TWCC_SHM_SIZE is not a quantity: $TWCC_SHM_SIZE"
    have=$(df -Pk /dev/shm 2> /dev/null | awk 'NR == 2 { print $2 }')
    if [ -z "$have" ] || [ "$have" -lt "$need" ]; then
        fail "/dev/shm is $((${have:-0} / 1024)) MiB but $TWCC_SELECTION needs $TWCC_SHM_SIZE (PyTorch DataLoader workers use it)"
    fi
    say "[3/4] /dev/shm: $((have / 1024)) MiB, at least $TWCC_SHM_SIZE"
}

check_cuda() {
    limit=${TWCC_CUDA_CHECK_TIMEOUT:-120}
    bounded=""
    command -v timeout > /dev/null 2>&1 && bounded="timeout $limit"
    output=$($bounded "$TWCC_IMAGE_PYTHON" -c '
import sys
import torch
expected = int(sys.argv[1])
count = torch.cuda.device_count()
if count != expected:
    sys.exit("PyTorch sees %d GPU(s), expected %d" % (count, expected))
for index in range(count):
    x = torch.ones(4, device="cuda:%d" % index)
    if (x + x).sum().item() != 8:
        sys.exit("a tensor operation on GPU %d gave a wrong result" % index)
print("PyTorch %s used CUDA on %d GPU(s)" % (torch.__version__, count))
' "$TWCC_GPUS" 2>&1)
    status=$?
    if [ "$status" = 124 ]; then
        fail "CUDA did not initialise on the $TWCC_GPUS GPU(s) within ${limit}s"
    elif [ "$status" != 0 ]; then
        fail "CUDA does not work in this container: $(last_line "$output")"
    fi
    say "[4/4] CUDA: $(last_line "$output")"
}

# write_kernelspec PYTHONPATH: the "python3" kernel runs the image's Python.
write_kernelspec() {
    kernel_dir="$TWCC_BOOTSTRAP_DIR/share/jupyter/kernels/python3"
    mkdir -p "$kernel_dir" || fail "cannot write the kernelspec to $kernel_dir"
    {
        printf '{\n  "argv": [%s, "-m", "ipykernel_launcher", "-f", "{connection_file}"],\n' \
            "$(json_string "$TWCC_IMAGE_PYTHON")"
        printf '  "display_name": %s,\n' "$(json_string "Python 3 ($TWCC_SELECTION)")"
        printf '  "language": "python",\n'
        [ -n "$1" ] && printf '  "env": {"PYTHONPATH": %s},\n' "$(json_string "$1")"
        printf '  "metadata": {"twcc": {"release": %s}}\n}\n' "$(json_string "$TWCC_RELEASE")"
    } > "$kernel_dir/kernel.json"
    say "kernel: $TWCC_IMAGE_PYTHON -m ipykernel_launcher (kernelspec $kernel_dir)"
}

# prepare_server_env: check the copied server environment; the kernel is set up later.
prepare_server_env() {
    env_dir="$TWCC_BOOTSTRAP_DIR/server-env"
    python="$env_dir/bin/python3"
    # the interpreter alone (no site, no imports): does it run on this image's glibc?
    problem=$("$python" -I -S -c '' 2>&1) ||
        fail "The server environment in $env_dir does not run in this image: $(last_line "$problem")"
    version=$(sed -n 's/^ *"jupyterhub": *"\([^"]*\)".*/\1/p' "$env_dir/twcc-server-env.json" 2> /dev/null)
    [ -n "$version" ] ||
        fail "The server environment in $env_dir has no twcc-server-env.json naming its JupyterHub: rebuild its image with images/server-env/build.sh"
    if [ "${version%%.*}" != "${TWCC_HUB_VERSION%%.*}" ]; then
        fail "The server environment has JupyterHub $version but the hub runs $TWCC_HUB_VERSION: use a server-env image built for JupyterHub ${TWCC_HUB_VERSION%%.*}"
    fi
    say "server: JupyterHub $version from $env_dir"
    JUPYTER_PATH="$TWCC_BOOTSTRAP_DIR/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
    export JUPYTER_PATH
}

# prepare_kernel: the "python3" kernel runs the image's Python, with the server
# environment's ipykernel if the image has none. Read by the server on demand, so it
# is written while the server starts.
prepare_kernel() {
    kernel_path=""
    if ! "$TWCC_IMAGE_PYTHON" -c 'import ipykernel' > /dev/null 2>&1; then
        image_version=$("$TWCC_IMAGE_PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>&1) ||
            fail "The image's Python $TWCC_IMAGE_PYTHON does not run: $(last_line "$image_version")"
        kernel_path="$env_dir/kernel-support/python$image_version"
        [ -d "$kernel_path" ] ||
            fail "The image's Python $image_version has no ipykernel, and the server environment carries none for it"
        say "kernel: the image has no ipykernel; using the server environment's for Python $image_version"
    fi
    write_kernelspec "$kernel_path"
}

# wait_answer: until the server answers on its URL (JUPYTERHUB_SERVICE_URL + api), as the
# hub will ask it; exits 3 if the server has exited meanwhile. With the hub's internal
# SSL it shows the server's own certificate, and only asks whether the server answers.
wait_answer() {
    "$TWCC_IMAGE_PYTHON" -c '
import os, ssl, sys, time
from urllib.error import HTTPError
from urllib.parse import urlsplit
from urllib.request import urlopen

url = urlsplit(os.environ.get("JUPYTERHUB_SERVICE_URL") or "http://127.0.0.1:8888/")
host = url.hostname if url.hostname not in (None, "", "*", "::") else "127.0.0.1"
path = url.path.rstrip("/") + "/api"
target = "%s://%s:%d%s" % (url.scheme or "http", host, url.port or 8888, path)
context = ssl._create_unverified_context()
if os.environ.get("JUPYTERHUB_SSL_CERTFILE"):
    context.load_cert_chain(os.environ["JUPYTERHUB_SSL_CERTFILE"], os.environ.get("JUPYTERHUB_SSL_KEYFILE"))
while True:
    try:
        urlopen(target, timeout=1, context=context).close()
        break
    except HTTPError as error:
        if error.code < 500:
            break
    except Exception:
        pass
    try:
        os.kill(int(sys.argv[1]), 0)
    except OSError:
        sys.exit(3)
    time.sleep(0.05)
' "$server_pid"
}

# set_up_and_gate: beside the starting server, the slow checks and the kernel; then
# wait for the server's answer and mark the container ready.
set_up_and_gate() {
    cuda_pid=""
    if [ "${TWCC_PREFLIGHT:-1}" = 1 ]; then
        cuda_log="${TMPDIR:-/tmp}/twcc-cuda-check.$$"
        check_cuda > "$cuda_log" 2>&1 &
        cuda_pid=$!
    fi
    [ "$TWCC_SERVER_STRATEGY" = server-env ] && prepare_kernel
    if [ -n "$cuda_pid" ]; then
        wait "$cuda_pid"
        cuda_status=$?
        cuda_pid=""
        cat "$cuda_log"
        rm -f "$cuda_log"
        # its failure is in the termination log already: stop the server
        [ "$cuda_status" = 0 ] || { kill -TERM "$server_pid" 2> /dev/null; exit 1; }
    fi
    wait_answer
    answered=$?
    [ "$answered" = 3 ] && exit 0 # the server has exited: the main script reports it
    [ "$answered" = 0 ] ||
        fail "The image's Python $TWCC_IMAGE_PYTHON cannot ask the server whether it answers (exit $answered)"
    : > "$TWCC_READY_FILE" || fail "cannot write the ready marker $TWCC_READY_FILE"
    say "checks and set-up took $(($(date +%s) - started))s; the server answers: ready"
}

say "starting ${TWCC_SELECTION:-a server} (${JUPYTER_IMAGE:-image unknown}), strategy ${TWCC_SERVER_STRATEGY:-unset}"

if [ "${TWCC_PREFLIGHT:-1}" = 1 ]; then
    check_gpus
    check_driver
    check_shm
else
    say "container checks skipped (TWCC_PREFLIGHT=${TWCC_PREFLIGHT})"
fi

case ${TWCC_SERVER_STRATEGY:-} in
    server-env)
        prepare_server_env
        # the interpreter runs the console script: its #! line is not relocatable
        set -- "$python" "$env_dir/bin/jupyterhub-singleuser" \
            --KernelSpecManager.ensure_native_kernel=False "$@"
        ;;
    derived-image)
        command -v jupyterhub-singleuser > /dev/null 2>&1 ||
            fail "The image has no jupyterhub-singleuser, so it is not a derived image: use the server-env strategy for it"
        set -- jupyterhub-singleuser "$@"
        ;;
    *) fail "Unknown TWCC_SERVER_STRATEGY '${TWCC_SERVER_STRATEGY:-}'" ;;
esac
[ -n "${TWCC_READY_FILE:-}" ] || fail "TWCC_READY_FILE is not set: the pod was not made by twcc-spawner"
# it starts the server, runs the kernel and asks whether the server answers
command -v "$TWCC_IMAGE_PYTHON" > /dev/null 2>&1 ||
    fail "The image has no Python at $TWCC_IMAGE_PYTHON: set the spawner's image_python to the image's own"

case " $* " in
    *allow_root* | *allow-root*) ;;
    *) [ "$(id -u)" = 0 ] && set -- "$@" --ServerApp.allow_root=True ;;
esac
mkdir -p "$HOME" && cd "$HOME" || fail "cannot use $HOME as the home directory"
[ -w "$HOME" ] ||
    fail "The home directory $HOME is not writable by uid $(id -u) (groups $(id -G | sed 's/ /, /g')): the pod's fsGroup (KubeSpawner's fs_gid) must be a group that may write it"

say "starting the Jupyter server beside the remaining checks"
# A background command would inherit SIGINT and SIGQUIT ignored (POSIX, without job
# control), and so would the server's terminals and their programs: a Python in between
# restores them before it becomes the server.
restore_signals='import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
signal.signal(signal.SIGQUIT, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])'
"$TWCC_IMAGE_PYTHON" -S -c "$restore_signals" "$@" &
server_pid=$!
stopping=""
# The shell stays the container's first process: it passes the kubelet's stop on.
trap 'stopping=1; kill -TERM "$server_pid" 2> /dev/null' TERM INT HUP
set_up_and_gate &
gate_pid=$!
while :; do
    wait "$server_pid"
    status=$?
    kill -0 "$server_pid" 2> /dev/null || break # else a signal interrupted the wait
done
kill "$gate_pid" 2> /dev/null
[ -d "$failed" ] && exit 1
if [ -z "$stopping" ] && [ ! -e "$TWCC_READY_FILE" ]; then
    fail "The Jupyter server exited with status $status before it answered (its log is above)"
fi
exit "$status"
