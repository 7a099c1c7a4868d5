import sys

from madgen.cli import main

sys.exit(main())
