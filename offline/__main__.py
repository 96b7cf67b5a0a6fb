"""``python -m offline run ...``: see ``offline.run.cli``."""

import sys

from offline.run.cli import main

sys.exit(main())
