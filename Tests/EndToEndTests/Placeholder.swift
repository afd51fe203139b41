// EndToEndTests: filled in by its issue.
