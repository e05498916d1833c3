"""The sections of the leaderboard page, one module each; each ``section(...)`` returns the section's
markdown lines (ending with an empty line) from aggregated numbers. ``leaderboard.render`` joins them."""
