"""rft/tasks."""
