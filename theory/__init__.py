"""Closed forms and exact finite-K results for tilt and best-of-n under quantile misspecification."""
