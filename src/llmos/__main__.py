import sys

from llmos.cli.app import main

sys.exit(main())
