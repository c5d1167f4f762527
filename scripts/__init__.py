"""Developer scripts (run from the repository root); a package so tests can import the dashboard
demo and the screenshot script."""
