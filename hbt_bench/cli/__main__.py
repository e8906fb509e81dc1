"""``python -m hbt_bench.cli`` (what ``torchrun`` and ``accelerate launch`` run)."""

import sys

from hbt_bench.cli import main

sys.exit(main())
