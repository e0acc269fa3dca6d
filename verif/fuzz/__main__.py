"""``python -m lpu.verif.fuzz``: see ``lpu.verif.fuzz.main``."""

from . import main

raise SystemExit(main())
