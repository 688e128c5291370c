import sys

from mcpmesh.cli import main

sys.exit(main())
