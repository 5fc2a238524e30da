"""Entry point of `python -m conv_workshop`."""

import sys

from .cli import main

sys.exit(main())
