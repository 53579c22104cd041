import sys

from neurocontrol.cli import main

sys.exit(main())
