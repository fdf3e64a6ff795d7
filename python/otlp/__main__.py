from otlp.cli import main

raise SystemExit(main())
