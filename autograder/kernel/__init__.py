"""Code that runs inside the student's kernel: the in-kernel guard that protects the test cells."""
