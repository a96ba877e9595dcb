"""``python -m refpe``: the ``refpe`` command, with its exit status."""

import sys

from refpe.cli import main

sys.exit(main())
