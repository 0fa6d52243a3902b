"""`python -m instructzero` is the `instructzero` command."""

import sys

from instructzero.cli import main

sys.exit(main())
