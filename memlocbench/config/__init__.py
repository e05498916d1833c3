"""Run settings: named profiles and the config hash (``profiles``), and how the arithmetic is done (``compute``)."""
