"""One entry per paper figure/table and our extensions."""
