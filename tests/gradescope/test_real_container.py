"""The Gradescope bundle in a real Docker container, as Gradescope runs it: the image built by the
bundle's own ``setup.sh`` on a Debian bookworm minbase root, then ``/autograder/run_autograder`` in a
fresh container per submission with Docker's default seccomp profile and capabilities and a memory
and CPU limit (``tests/support/real_docker.py``). This is the test that decides whether the bundle
works; ``test_container.py`` only simulates Docker's restrictions.

Needs root, Debian's ``docker.io`` and ``debootstrap`` (``.ci/run`` installs them) and the registries
for the image's pip install; the image is built once per test session (about 3 minutes here).
"""

import json
import shutil
import socket

import nbformat
import pytest
import real_docker
from part0 import NB, REF

from grader.authoring.demo import make_demo_submissions, zip_folder
from grader.cells import fill_answers
from grader.course import RELEASE_DIR, REPO_ROOT
from grader.gradescope.bundle import build_bundle
from grader.gradescope.run import MIN_MEMORY_BYTES

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

pytestmark = pytest.mark.skipif(bool(real_docker.missing()), reason=real_docker.missing() or "ok")


@pytest.fixture(scope="module")
def gradescope(tmp_path_factory):
    """(dockerd, image tag, folder with the uploads) for the tests below."""
    folder = tmp_path_factory.mktemp("real-gradescope")
    bundle, _ = build_bundle(folder / "hw3_gradescope.zip")
    with real_docker.Dockerd() as dockerd:
        image, seconds, _ = real_docker.gradescope_image(dockerd, bundle, SHARED_DATA if SHARED_DATA.is_dir() else None)
        print(f"image built in {seconds:.0f} s")
        yield dockerd, image, folder


@pytest.fixture(scope="module")
def reference_zip(gradescope):
    """The demo's reference student (every answer right, the reference checkpoints), as the zip the
    submission cell writes."""
    folder = gradescope[2] / "students"
    student = make_demo_submissions(RELEASE_DIR, folder) / "reference"
    shutil.rmtree(student / "helpers")
    return zip_folder(student, folder / "hw3_submission.zip")


def _says(results, words):
    return words in results["output"], results["output"][:1500]


def test_the_reference_student_gets_every_autograded_point(gradescope, reference_zip):
    dockerd, image, _ = gradescope
    run = real_docker.run_submission(dockerd, image, {"hw3_submission.zip": reference_zip}, memory="2g", cpus="1")
    results = run["results"]
    assert results is not None, run["logs"][-4000:]
    print(f"2 GB, 1 CPU: {run['seconds']:.0f} s, memory peak {run['memory']}")
    assert real_docker.points(results) == (55, 55), results["output"] + run["logs"][-3000:]
    assert results["extra_data"]["status"] == "graded"
    assert results["extra_data"]["isolation"].startswith("uid:")  # Docker's default profile refuses namespaces
    assert results["leaderboard"][0]["value"] > 80
    assert not run["oom_killed"]


@pytest.mark.parametrize("memory", ["768m", "300m"])
def test_a_container_too_small_says_so_and_runs_no_student_code(gradescope, reference_zip, memory):
    """Gradescope's default 768 MB is less than grading needs (``MIN_MEMORY_BYTES``): the student is
    told their upload was not graded, the instructor which setting to raise; never 'kernel died'."""
    dockerd, image, _ = gradescope
    run = real_docker.run_submission(dockerd, image, {"hw3_submission.zip": reference_zip}, memory=memory)
    results = run["results"]
    assert results is not None, run["logs"][-4000:]
    assert results["extra_data"]["status"] == "grading error"
    assert "too little memory" in results["output"] and "not your error" in results["output"], results["output"]
    assert f"grading needs at least {MIN_MEMORY_BYTES >> 20} MB" in run["logs"]
    assert "Autograder Settings" in run["logs"]
    assert "isolation:" not in run["logs"]  # refused before the sandbox, let alone a kernel, was started
    assert not run["oom_killed"]


# What a student who has read this repository tries from the first answer cell: each line prints
# whether it got through.
SNOOP = """
import os
def _try(label, action):
    try:
        action()
        print('SNOOP', label + ':', 'allowed')
    except Exception as exc:
        print('SNOOP', label + ':', 'blocked', type(exc).__name__)
_try('source', lambda: open('/autograder/source/source/hw3/part0_filters.ipynb').read())
_try('grading folder', lambda: os.listdir('/autograder/grading'))
_work = '/autograder/grading/work/submission'  # the upload's id: the restored notebook, hidden tests and all
_try('graded notebook', lambda: open(_work + '/autograded/submission/hw3/part0_filters.ipynb').read())
_try('gradebook', lambda: open('/autograder/grading/gradebook.db', 'rb').read(16))
_try('results', lambda: os.listdir('/autograder/results'))
_try('write results', lambda: open('/autograder/results/results.json', 'w').write('{"score": 1000}'))
_try('metadata', lambda: open('/autograder/submission_metadata.json').read())
_try('upload', lambda: os.listdir('/autograder/submission'))
_try('instructor cache', lambda: open('/autograder/cache/cifar10.npz', 'rb').read(16))
import socket
_try('loopback', lambda: socket.create_connection(('127.0.0.1', {port}), timeout=3))
_try('internet', lambda: socket.create_connection(('1.1.1.1', 53), timeout=3))
_try('udp', lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', {port})))
"""
SNOOPED = ("source", "grading folder", "graded notebook", "gradebook", "results", "write results", "metadata",
           "upload", "instructor cache", "loopback", "internet", "udp")


def test_a_hostile_kernel_reaches_nothing_of_the_grader(gradescope, tmp_path):
    """The container is on the host's network (Gradescope's have one): a listener on the host's
    loopback must hear nothing from the kernel, which in the uid mode has no network namespace."""
    dockerd, image, _ = gradescope
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    nb = nbformat.read(RELEASE_DIR / NB, as_version=4)
    answers = dict(REF)
    answers["box_kernel"] = SNOOP.replace("{port}", str(listener.getsockname()[1])) + answers["box_kernel"]
    nbformat.write(fill_answers(nb, answers), tmp_path / NB)
    run = real_docker.run_submission(dockerd, image, {NB: tmp_path / NB}, memory="2g", cpus="1",
                                     collect=("/autograder/grading/autograded", tmp_path / "graded"))
    results = run["results"]
    assert results is not None, run["logs"][-4000:]
    graded = next((tmp_path / "graded").rglob(NB))
    lines = [line for cell in nbformat.read(graded, as_version=4).cells if cell.cell_type == "code"
             for out in cell.outputs if out.get("output_type") == "stream"
             for line in out.get("text", "").splitlines() if line.startswith("SNOOP ")]
    seen = {line[len("SNOOP "):].split(":")[0]: line for line in lines}
    assert set(seen) == set(SNOOPED), lines
    assert all(": blocked " in line for line in seen.values()), "\n".join(lines)
    try:
        heard = listener.accept()
    except TimeoutError:
        heard = None
    finally:
        listener.close()
    assert heard is None, "the kernel reached a listener on the host's loopback"
    assert "network: none (seccomp" in results["extra_data"]["isolation"], results["extra_data"]["isolation"]
    # The grader's results.json stands: Part 0's points, the other notebooks missing.
    assert real_docker.points(results)[0] == 5, json.dumps(results)[:2000]
    assert results["extra_data"]["status"] == "missing notebook"
