"""``python -m lab`` is the ``uclab`` command."""

from lab.cli import main

raise SystemExit(main())
