"""`python -m server …` is the `shouzhen` command (server.app.cli)."""

from server.app.cli import main

raise SystemExit(main())
