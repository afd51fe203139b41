// AuthCore: filled in by its issue.
