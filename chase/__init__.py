"""The ``chase`` command line."""
