#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu base image).
# It installs Python 3.11 and the pinned requirements into /autograder/venv, downloads the
# CIFAR-10 archive (MD5-checked) into /autograder/cache, and prepares the grading folder.
set -euo pipefail
SOURCE=/autograder/source
VENV=/autograder/venv
export DEBIAN_FRONTEND=noninteractive

if ! command -v python3.11 >/dev/null 2>&1; then
    apt-get update
    # shellcheck disable=SC1091
    if (. /etc/os-release && [ "$ID" = debian ]) && apt-cache show python3.11-venv >/dev/null 2>&1; then
        apt-get install -y --no-install-recommends ca-certificates python3.11 python3.11-venv
    else  # Ubuntu (Gradescope's base images): Python 3.11 from the deadsnakes PPA
        apt-get install -y --no-install-recommends software-properties-common ca-certificates
        add-apt-repository -y ppa:deadsnakes/ppa
        apt-get update
        apt-get install -y --no-install-recommends python3.11 python3.11-venv
    fi
fi
python3.11 -m venv "$VENV"
# The CPU build of torch (no CUDA libraries: the grader measures accuracy on the CPU), from
# PyTorch's own index; PyPI's torch is the CUDA build, several GB.
TORCH_PIN=$(grep -E '^torch==' "$SOURCE/requirements.txt" | awk '{print $1}')
"$VENV/bin/pip" install --no-cache-dir "$TORCH_PIN+cpu" --extra-index-url https://download.pytorch.org/whl/cpu
"$VENV/bin/pip" install --no-cache-dir -r "$SOURCE/requirements.txt"

# CIFAR-10, decoded once into the image. It holds the test labels: root only. Each run gives the
# kernels a copy without them (grader.isolation.sandbox.share_data_cache).
mkdir -p /autograder/cache
cd "$SOURCE"
HW3_CACHE_DIR=/autograder/cache PYTHONPATH="$SOURCE" "$VENV/bin/python" -c \
    "from helpers.data import load_cifar10; load_cifar10(progress=False)"
chmod -R go-rwx /autograder/cache

# The grading folder (nbgrader gradebook and release) for this source, built once.
PYTHONPATH="$SOURCE" HW3_CACHE_DIR=/autograder/cache "$VENV/bin/python" -m grader gradescope prepare --root /autograder
# Hidden tests and solutions: root only.
chmod -R go-rwx "$SOURCE" /autograder/grading
