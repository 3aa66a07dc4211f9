"""``python -m paper_repro.prediction``: see the package docstring."""

from paper_repro.prediction import main

raise SystemExit(main())
