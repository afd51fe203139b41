// AuthAPI: generated from schema/auth.proto by rpcgen.
