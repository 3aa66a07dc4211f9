"""Plotting. Figure modules read result files (JSON/CSV) and never import the simulators or theory."""
