from chase.cli import main

raise SystemExit(main())
