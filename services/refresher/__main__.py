"""`python -m services.refresher`: the worker, or an accounts subcommand (see `cli.py`)."""

from services.refresher.cli import main

raise SystemExit(main())
