// RPCGenKitTests: filled in by its issue.
