"""A stand-in for Google Colab's ``google.colab`` package (no network, no browser), on disk.

``write(folder)`` makes ``folder/google/colab`` with what the course's code uses:

* ``drive.mount(mountpoint)``: records the call in ``$COLAB_STANDIN_LOG``;
* ``_message.blocking_request("get_ipynb", ...)``: returns ``{"ipynb": <$COLAB_STANDIN_NOTEBOOK>}``,
  the notebook "in the browser", as Colab's own front-end answers;
* ``files.download(path)``: records the path in ``$COLAB_STANDIN_LOG``.

Put ``folder`` first on ``sys.path`` (or ``PYTHONPATH`` for a kernel) to be "on Colab".
"""

import sys
from pathlib import Path

MODULES = {
    "google/__init__.py": "",
    "google/colab/__init__.py": "",
    "google/colab/_log.py": (
        "import json\nimport os\n\n\n"
        "def record(**event):\n"
        "    with open(os.environ['COLAB_STANDIN_LOG'], 'a') as f:\n"
        "        f.write(json.dumps(event) + '\\n')\n"),
    "google/colab/drive.py": (
        "from google.colab._log import record\n\n\n"
        "def mount(mountpoint, **kwargs):\n"
        "    record(call='drive.mount', mountpoint=mountpoint)\n"),
    "google/colab/files.py": (
        "from google.colab._log import record\n\n\n"
        "def download(path):\n"
        "    record(call='files.download', path=str(path))\n"),
    "google/colab/_message.py": (
        "import json\nimport os\n\n\n"
        "def blocking_request(kind, request='', timeout_sec=5):\n"
        "    assert kind == 'get_ipynb', kind\n"
        "    with open(os.environ['COLAB_STANDIN_NOTEBOOK'], encoding='utf-8') as f:\n"
        "        return {'ipynb': json.load(f)}\n"),
}


def write(folder):
    """Write the stand-in package under ``folder``; returns ``folder``."""
    folder = Path(folder)
    for rel, text in MODULES.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return folder


def calls(log_path):
    """The recorded calls, in order (dicts)."""
    import json

    path = Path(log_path)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def forget():
    """Drop the stand-in's modules from this process, so that later tests are not "on Colab"."""
    for name in [n for n in sys.modules if n == "google" or n.startswith("google.")]:
        del sys.modules[name]
