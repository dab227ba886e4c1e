"""Where students are graded: the local pool of long-lived worker processes."""
