"""What grading writes for people: grades.csv and the terminal table (``grades_csv``), the class's
report.html (``class_report``), each student's feedback pages (``feedback``, ``safe_html``), and
the hidden tests' flags and not-graded cells gathered for them (``flags``)."""
