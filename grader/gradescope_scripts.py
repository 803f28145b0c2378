"""The shell scripts and instructor README that go into the Gradescope bundle (see ``grader.gradescope_bundle``)."""

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu base image).
# It installs Python 3.11 and the pinned requirements into /autograder/venv, downloads the
# CIFAR-10 archive (MD5-checked) into /autograder/cache, and prepares the grading folder.
set -euo pipefail
SOURCE=/autograder/source
VENV=/autograder/venv
export DEBIAN_FRONTEND=noninteractive

if ! command -v python3.11 >/dev/null 2>&1; then
    apt-get update
    apt-get install -y --no-install-recommends software-properties-common ca-certificates
    add-apt-repository -y ppa:deadsnakes/ppa
    apt-get update
    apt-get install -y --no-install-recommends python3.11 python3.11-venv python3.11-dev
fi
python3.11 -m venv "$VENV"
"$VENV/bin/pip" install --no-cache-dir --upgrade pip
# The CPU build of torch (no CUDA libraries: the grader measures accuracy on the CPU).
TORCH_PIN=$(grep -E '^torch==' "$SOURCE/requirements.txt" | awk '{print $1}')
"$VENV/bin/pip" install --no-cache-dir "$TORCH_PIN" --index-url https://download.pytorch.org/whl/cpu
"$VENV/bin/pip" install --no-cache-dir -r "$SOURCE/requirements.txt"

# CIFAR-10, decoded once into the image. It holds the test labels: root only. Each run gives the
# kernels a copy without them (grader.sandbox.share_data_cache).
mkdir -p /autograder/cache
cd "$SOURCE"
HW3_CACHE_DIR=/autograder/cache PYTHONPATH="$SOURCE" "$VENV/bin/python" -c \
    "from helpers.data import load_cifar10; load_cifar10(progress=False)"
chmod -R go-rwx /autograder/cache

# The grading folder (nbgrader gradebook and release) for this source, built once.
PYTHONPATH="$SOURCE" HW3_CACHE_DIR=/autograder/cache "$VENV/bin/python" -m grader gradescope prepare --root /autograder
# Hidden tests and solutions: root only.
chmod -R go-rwx "$SOURCE" /autograder/grading
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this, as root, once per submission, in a fresh container.
# The grader runs as root; every notebook kernel (the student's code) runs as a fresh unprivileged
# uid that cannot read /autograder/source, the grading folder or results (see grader/sandbox.py);
# in namespaces with an allow-list root where the container allows them, else ("uid" mode) without.
set -uo pipefail
ROOT=${GRADESCOPE_ROOT:-/autograder}
SOURCE=$ROOT/source
PYTHON=${GRADESCOPE_PYTHON:-/autograder/venv/bin/python}
mkdir -p "$ROOT/results"
if [ "$(id -u)" = 0 ]; then
    chmod -R go-rwx "$SOURCE" "${HW3_CACHE_DIR:-/autograder/cache}"  # as setup.sh left them; again, in case
    chown root:root "$ROOT/results" && chmod 700 "$ROOT/results"
fi
cd "$SOURCE"
export PYTHONPATH="$SOURCE"
export HW3_CACHE_DIR=${HW3_CACHE_DIR:-/autograder/cache}
export MPLBACKEND=Agg
# --min-isolation uid: refuse to run student code unless each kernel gets at least a fresh uid that
# cannot read the hidden tests (what a container with Docker's default profile allows); "root" asks
# for namespaces too; lower it to "none" only if you accept that student code could read them.
"$PYTHON" -m grader gradescope run --root "$ROOT" --min-isolation "${GRADESCOPE_MIN_ISOLATION:-uid}"
status=$?
if [ ! -s "$ROOT/results/results.json" ]; then
    cat > "$ROOT/results/results.json" <<'EOF'
{"score": 0, "execution_time": 0, "tests": [],
 "output": "The autograder failed before grading; your instructor has been told."}
EOF
fi
# results.json is the verdict; a non-zero exit only flags the run in Gradescope's logs
exit $status
"""

README = """# hw3 Gradescope autograder

Built by `python -m grader gradescope build`. Upload this zip as the autograder of a Gradescope
"Programming Assignment" (Ubuntu 22.04 base image, or any Ubuntu; setup.sh installs Python 3.11).

* `setup.sh` (image build, as root): Python 3.11 venv in /autograder/venv with requirements.txt
  (torch CPU build), CIFAR-10 into /autograder/cache, the grading folder in /autograder/grading;
  then makes /autograder/source and the grading folder readable by root only.
* `run_autograder` (each submission): `python -m grader gradescope run --root /autograder`
  grades /autograder/submission (the notebooks, or one zip named hw3_submission.zip) with the
  same engine as `python -m grader autograde` and writes /autograder/results/results.json.

Students upload the notebooks (part0_filters.ipynb ... part3_pytorch_cnn.ipynb, plus models/
for part 3), or one zip. Each autograded cell is one test; failures of public checks are shown
at once, everything decided by hidden tests after the due date. Written answers are not in the
autograder score: add a manually graded question for them. The own model's test accuracy,
measured by the grader, goes to the leaderboard (turn it on in the assignment settings).

Each kernel runs as a fresh unprivileged uid; where the container allows namespaces, also in its
own PID, mount and network namespaces with an allow-list root ("root" isolation), else without
("uid" isolation, what Docker's default profile allows: the source, grading folder and results
root-only, every process of the uid killed after each notebook, network isolated only if the
container allows a network namespace). results.json's output says which ran. If not even that can
be built, nothing is run and each result says so; set GRADESCOPE_MIN_ISOLATION=none in
run_autograder only if you accept that student code could then read the hidden tests.
"""
