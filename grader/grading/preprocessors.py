"""nbgrader preprocessors of our own."""

from nbgrader.preprocessors import NbGraderPreprocessor

STDERR_PREFIX = "[stderr] "


class StderrAsText(NbGraderPreprocessor):
    """Turn stderr stream outputs into stdout outputs marked ``[stderr]``.

    nbgrader gives 0 to any test cell with stderr output, so a harmless library warning
    would cost a correct answer its points. Errors still fail a cell: they are ``error``
    outputs, which this leaves alone. The text is kept, so feedback still shows warnings.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream" and output.get("name") == "stderr":
                    output["name"] = "stdout"
                    output["text"] = "".join(
                        STDERR_PREFIX + line for line in output.get("text", "").splitlines(True)
                    )
        return cell, resources
