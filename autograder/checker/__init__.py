"""Grade cells run outside the student's kernel: a checker process that asks the kernel only for data.

* :mod:`.process` - the checker: runs each grade cell's source (visible and
  hidden tests) in a namespace of its own, where the learner's names are
  data or proxies (:mod:`.proxy`, :mod:`.session`); writes the cell's outputs
  (:mod:`.cells`);
* :mod:`.client` - the grader's side: one checker per grading process, and
  the relay of its requests to the agent in the student's kernel
  (:mod:`autograder.kernel.agent`), with the time and size limits;
* :mod:`.launch` - the checker's sandbox (bubblewrap, no network, read-only);
* the wire format both sides speak: :mod:`autograder.kernel.wire`.

Nothing here imports nbgrader: the checker process loads only NumPy, the
course and what a check asks for.
"""
