"""``python -m spikex``: the ``spikex`` command (``spikex.cli.main``)."""

import sys

from spikex.cli import main


sys.exit(main())
