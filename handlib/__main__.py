import sys

from handlib.cli import main

sys.exit(main())
