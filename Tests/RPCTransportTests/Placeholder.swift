// RPCTransportTests: filled in by its issue.
