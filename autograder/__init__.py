"""The instructor's side of the course: nbgrader configuration, the student workspace and the grading CLI."""
