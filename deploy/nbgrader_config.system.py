# The nbgrader config of a course's students and graders on one machine: written by
# `python -m autograder create-class` from deploy/nbgrader_config.system.py to
# /etc/gd-five-ways/<course>/{students,graders}/nbgrader_config.py (or --jupyter-config-dir);
# the hub points each person's server at their role's folder (JUPYTER_CONFIG_PATH).
c = get_config()  # noqa: F821 (traitlets provides get_config)

# The course students fetch from and submit to; their student id is their Linux user name.
c.CourseDirectory.course_id = "{{course_id}}"
c.Exchange.root = "{{exchange}}"
# Submissions readable only by their owner and the graders' group (nbgrader's own
# submit makes them world-readable), and never collected under another account's name.
c.ExchangeFactory.submit = "autograder.classroom.exchange.PrivateSubmit"
c.ExchangeFactory.collect = "autograder.classroom.exchange.StrictCollect"

# Due dates and late submissions are nbgrader's own settings, in the instructor's
# course root (nbgrader_config.py there): see the README, "Run a class on JupyterHub".
