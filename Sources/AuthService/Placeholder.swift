// AuthService: filled in by its issue.
