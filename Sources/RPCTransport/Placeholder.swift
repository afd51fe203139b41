// RPCTransport: filled in by its issue.
