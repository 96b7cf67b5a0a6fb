"""``python -m offline run ...``: see ``offline.cli``."""

import sys

from offline.cli import main

sys.exit(main())
