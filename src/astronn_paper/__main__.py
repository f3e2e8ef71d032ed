from astronn_paper.cli import main

raise SystemExit(main())
