from paper_repro.rubric_world_phase import main

raise SystemExit(main())
