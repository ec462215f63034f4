from listd.cli import main

raise SystemExit(main())
