"""memlocbench's built-in localisation methods. Each module is its own entry point (plugin)."""
