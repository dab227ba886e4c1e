# The system-wide nbgrader config of a class on one machine (every account reads it):
# written by `python -m autograder create-class` to /etc/jupyter/nbgrader_config.py
# (or --jupyter-config-dir) from deploy/nbgrader_config.system.py.
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
