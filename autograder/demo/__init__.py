"""The demo class: synthetic students (correct, mistaken, hostile) graded end to end."""
