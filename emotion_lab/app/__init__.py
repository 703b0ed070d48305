"""The application layer under every command: entry (one-line errors, run_app), config
(resolvers, compose), checks (every config rule), console and start-up extras."""
