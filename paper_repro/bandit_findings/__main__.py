"""``python -m paper_repro.bandit_findings``: see the package docstring."""

from paper_repro.bandit_findings import main

raise SystemExit(main())
