"""Entry point of ``python -m neurocontrol``: the command line (:mod:`neurocontrol.cli`)."""

import sys

from neurocontrol.cli import main

sys.exit(main())
