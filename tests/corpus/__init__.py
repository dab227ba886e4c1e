"""Answers written as a class writes them, one small file per notebook (see test_corpus.py).

Each file holds ``CORRECT`` and ``MISTAKES``: lists of ``(answer cell, code, mistakes)``.
``code`` replaces the answer between ``### BEGIN SOLUTION`` and ``### END SOLUTION``
(written unindented; it is indented like the solution).  A correct answer must score
full marks; a mistake must score less, with every id in ``mistakes`` named.  Adding a
student's surprising answer is one more line.
"""
