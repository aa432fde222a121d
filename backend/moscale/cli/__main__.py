"""`python -m moscale.cli ...`: the `moscale` command without the installed script."""
import sys

from moscale.cli import main

sys.exit(main())
