"""The course's benchmark: every performance goal as a ratio measured in one run (`make bench`)."""
