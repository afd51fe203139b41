// MariaDBStoreTests: filled in by its issue.
