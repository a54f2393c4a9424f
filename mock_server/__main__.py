"""``python -m mock_server`` runs ``evolink-mock serve``."""
import sys

from .cli import main

sys.exit(main())
