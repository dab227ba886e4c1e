# The instructor's course root config (written by `create-class` from
# deploy/nbgrader_config.instructor.py).  `nbgrader ...` commands and the formgrader run
# from this folder use the same settings as `python -m autograder ... --root {{root}}`.
from autograder.config import configure

c = get_config()  # noqa: F821 (traitlets provides get_config)
configure(c, root="{{root}}", source="{{source}}")

c.CourseDirectory.course_id = "{{course_id}}"
c.Exchange.root = "{{exchange}}"
c.ExchangeFactory.submit = "autograder.classroom.exchange.PrivateSubmit"
c.ExchangeFactory.collect = "autograder.classroom.exchange.StrictCollect"

# Due dates and late submissions (nbgrader's own; uncomment and adapt):
# Due dates are per assignment in the gradebook:
#   nbgrader db assignment add ps1 --duedate="2030-03-01 17:00:00 Europe/Berlin"
# A submission's time is the timestamp.txt nbgrader writes when the student submits.
# c.LateSubmissionPlugin.penalty_method = "zero"    # late = 0 points ("none": no penalty)
# Anything else: subclass nbgrader.plugins.LateSubmissionPlugin and name it here:
# c.AssignLatePenalties.plugin_class = "mycourse.HalfOffPerDay"
