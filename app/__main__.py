"""``python -m canvascap`` is the same as the ``canvascap`` command."""

import sys

from canvascap.cli import main

sys.exit(main())
