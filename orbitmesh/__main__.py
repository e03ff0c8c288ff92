"""``python -m orbitmesh``: the command line, as the ``orbitmesh`` script runs it."""

from orbitmesh.orchestrator.cli import main

raise SystemExit(main())
