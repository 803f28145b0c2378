"""grader.outputs.flags: flags and not-graded cells come only from the grader's verdict records."""

import nbformat

from grader.grading.trusted_tests import VERDICT_MIME
from grader.outputs.flags import flags_in_notebook, flags_of_student, not_graded_of_student


def _cell(grade_id, outputs, grade=True):
    meta = {"nbgrader": {"grade": grade, "grade_id": grade_id, "points": 1}}
    return nbformat.v4.new_code_cell("pass", metadata=meta, outputs=outputs)


def _verdict(**record):
    return nbformat.v4.new_output("display_data", data={VERDICT_MIME: {"flags": [], "measured": {}, **record}})


def test_flags_and_not_graded_cells_are_read_from_verdicts_only(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        _cell("test_a", [nbformat.v4.new_output("stream", name="stdout", text="FLAG: printed, not a flag\n"),
                         _verdict(flags=["record claims 99%"])]),
        _cell("test_b", [_verdict(not_graded="the grader lacked the CIFAR-10 test set")]),
        _cell("answer", [_verdict(flags=["in a non-graded cell"])], grade=False),
        _cell("test_c", [nbformat.v4.new_output("display_data", data={"text/plain": "x"})]),
    ])
    folder = tmp_path / "autograded" / "ann" / "hw3"
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / "part3_pytorch_cnn.ipynb")
    assert flags_in_notebook(folder / "part3_pytorch_cnn.ipynb") == ["record claims 99%"]
    assert flags_of_student(folder) == ["record claims 99%"]
    assert not_graded_of_student(folder) == {
        "part3_pytorch_cnn/test_b": "the grader lacked the CIFAR-10 test set"}


def test_an_unreadable_notebook_reports_nothing(tmp_path):
    (tmp_path / "part0_filters.ipynb").write_text("{not json")
    assert flags_of_student(tmp_path) == [] and not_graded_of_student(tmp_path) == {}
