import sys

from subterra.cli import main

sys.exit(main())
