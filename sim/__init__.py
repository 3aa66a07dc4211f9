"""Synthetic worlds in JAX: the quantile bandit and the rubric world. Never imports ``theory``."""
