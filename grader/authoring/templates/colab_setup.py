# Google Colab only: elsewhere this cell does nothing. On Colab, keep this course folder (the
# notebooks and helpers/) in your Google Drive, as README.md says: the notebooks import helpers/
# from it, and your results, models, figures and the submission zip are saved there.
import importlib.util
import os

COLAB_FOLDER = os.environ.get("HW3_COLAB_FOLDER", "/content/drive/MyDrive/hw3")  # where you put it
try:
    ON_COLAB = importlib.util.find_spec("google.colab") is not None
except ImportError:  # no "google" package at all
    ON_COLAB = False
if ON_COLAB and not os.path.isdir("helpers"):
    from google.colab import drive

    drive.mount("/content/drive")
    if not os.path.isdir(os.path.join(COLAB_FOLDER, "helpers")):
        raise FileNotFoundError(f"{COLAB_FOLDER}/helpers is not there: upload the whole course folder to "
                                "My Drive (see README.md), or set COLAB_FOLDER above to where it is.")
    os.chdir(COLAB_FOLDER)
    print(f"Google Colab: working in {COLAB_FOLDER}")
