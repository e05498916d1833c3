"""From submitted result files to ``leaderboard/README.md``: validate and submit, verify by re-running,
collect, aggregate and render the page with its figures."""
