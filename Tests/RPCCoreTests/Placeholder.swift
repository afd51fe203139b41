// RPCCoreTests: filled in by its issue.
