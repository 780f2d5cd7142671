"""``python -m strata_roq`` is the same as the ``strata-roq`` command."""

from strata_roq.cli import main

raise SystemExit(main())
