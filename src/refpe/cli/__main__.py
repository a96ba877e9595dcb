"""``python -m refpe.cli``: the ``refpe`` command."""

import sys

from refpe.cli import main

sys.exit(main())
