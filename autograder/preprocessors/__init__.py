"""The autograder's additions to nbgrader's pipeline, plugged in by configuration (no fork).

Sanitising (``Autograde.sanitize_preprocessors``, before execution):

* :class:`ReadableNotebookExporter` - a submission that is not a readable
  notebook is graded as the blank assignment, with a note saying why;
* :class:`RestoreCellOrder` - deleted graded cells come back and moved ones
  go back to the assignment's order (OverwriteCells then restores their
  source from the gradebook, hidden tests included);
* :class:`NoteSubmissionProblems` - tells the student what was restored and
  flags uses of ``course.reference``.

Grading (``Autograde.autograde_preprocessors``):

* :class:`GuardTests` - hidden cells: limits + pristine copies first, a
  re-arm before every test cell (see :mod:`autograder.kernel.guard`);
* :class:`SafeExecute` - nbgrader's ``Execute`` that survives a dead or stuck
  kernel (the cells after it score zero, the ones before keep their points)
  and caps each cell's output; with ``checker`` on, grade cells go to the
  checker process instead of the kernel (:mod:`autograder.checker`);
* :class:`TidyGuardCells` - removes the hidden cells again and turns what
  they found into notes.
"""


from .common import GUARD_MIMETYPE, visible_test_source
from .execute import CUT_NOTICE, STUCK_REASON, SafeExecute
from .guard_cells import AGENT_SOURCE, ARM_SOURCE, EXTEND_SOURCE, REARM_SOURCE, GuardTests, TidyGuardCells
from .reading import ReadableNotebookExporter, read_submission
from .sanitize import FindEditedTests, NoteSubmissionProblems, RestoreCellOrder

__all__ = [
    "AGENT_SOURCE", "ARM_SOURCE", "CUT_NOTICE", "EXTEND_SOURCE", "GUARD_MIMETYPE", "REARM_SOURCE", "STUCK_REASON",
    "FindEditedTests", "GuardTests", "NoteSubmissionProblems", "ReadableNotebookExporter",
    "RestoreCellOrder", "SafeExecute", "TidyGuardCells", "read_submission", "visible_test_source",
]
