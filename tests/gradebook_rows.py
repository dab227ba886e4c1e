"""Every row nbgrader keeps for the submissions of an assignment, keyed by names instead of ids.

Two gradebooks filled by different paths (nbgrader's ``autograde``, the bulk
recorder, a local pool, a cluster) can then be compared with ``==``: students,
submissions (timestamps, extensions), submitted notebooks (late penalties,
flags), grades (auto and manual scores, extra credit, needs-manual-grade) and
comments (auto and manual), every column but the random primary keys.
"""

from __future__ import annotations


def _columns(row, skip=()) -> dict:
    return {column.name: str(getattr(row, column.key)) if column.name == "timestamp" else getattr(row, column.key)
            for column in row.__table__.columns
            if column.name != "id" and not column.name.endswith("_id") and column.name not in skip}


def gradebook_rows(course, assignment: str) -> dict:
    """``{table: {natural key: {column: value}}}`` for the assignment's submissions."""
    from nbgrader.api import Comment, Grade, Student, SubmittedAssignment, SubmittedNotebook

    out: dict = {"students": {}, "submissions": {}, "notebooks": {}, "grades": {}, "comments": {}, "counts": {}}
    with course.gradebook() as gb:
        db = gb.db
        for student in db.query(Student):
            out["students"][student.id] = _columns(student)
        submissions = [s for s in db.query(SubmittedAssignment) if s.assignment.name == assignment]
        for sub in submissions:
            key = sub.student.id
            out["submissions"][key] = dict(_columns(sub), score=sub.score, seconds_late=sub.total_seconds_late)
            for nb in sub.notebooks:
                nb_key = (key, nb.name)
                out["notebooks"][nb_key] = dict(_columns(nb), score=nb.score)
                for grade in nb.grades:
                    out["grades"][nb_key + (grade.name,)] = dict(_columns(grade), score=grade.score)
                for comment in nb.comments:
                    out["comments"][nb_key + (comment.name,)] = _columns(comment)
        out["counts"] = {"submissions": len(submissions),
                         "notebooks": db.query(SubmittedNotebook).count(),
                         "grades": db.query(Grade).count(), "comments": db.query(Comment).count()}
    return out
