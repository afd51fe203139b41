// AuthCoreTests: filled in by its issue.
