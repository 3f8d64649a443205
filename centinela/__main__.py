from centinela.cli import main

raise SystemExit(main())
