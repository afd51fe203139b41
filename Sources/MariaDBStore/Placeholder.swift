// MariaDBStore: filled in by its issue.
