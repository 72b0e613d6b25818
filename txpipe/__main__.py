"""``python -m txpipe``: the same as the ``txpipe`` command."""

import sys

from txpipe.runner.cli import main

sys.exit(main())
