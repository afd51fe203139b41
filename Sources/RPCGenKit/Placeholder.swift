// RPCGenKit: filled in by its issue.
