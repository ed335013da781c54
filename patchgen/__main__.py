"""`python -m patchgen ...`: the console entry, also how torchrun starts it (`torchrun ... -m patchgen train`)."""

import sys

from patchgen.cli import main

sys.exit(main())
