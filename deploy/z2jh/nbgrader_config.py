# The students' nbgrader config in the single-user image (deploy/singleuser/Dockerfile).
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "gd-five-ways"
c.Exchange.root = "/srv/nbgrader/exchange"
# Every pod runs as uid 1000 (jovyan): file owners say nothing about who submitted,
# so nbgrader's own exchange classes are used here (see values.yaml: no isolation
# between students on a shared volume).
