import sys

from batchops.cli import main

sys.exit(main())
