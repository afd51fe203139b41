import COpenSSL
import Foundation
import RPCTransport

/// TLS connections opened and then left idle for `bench --idle-connections`: each does the TLS
/// handshake, sends the protocol preface and SETTINGS, and then holds its socket without a thread
/// or a timer, so thousands cost this process almost nothing while the server carries them.
final class IdleConnections: @unchecked Sendable {
    // @unchecked: `held` is filled under `lock` by the opening threads, then only read by `close`.
    private let lock = NSLock()
    private var held: [(ssl: OpaquePointer, fd: Int32)] = []
    private let context: OpaquePointer?

    var count: Int { lock.withLock { held.count } }

    private init(context: OpaquePointer?) { self.context = context }

    /// Preface and a SETTINGS frame (frame size and decompressed size 4 MiB, no compression,
    /// protocol version 1), as PROTOCOL.md describes the client's hello.
    private static let hello: [UInt8] = {
        var bytes = WireProtocol.preface
        bytes += [0, 0, 0, 24, 0, 0, 0, 0, 0, 0]
        for (id, value) in [(UInt16(1), UInt32(4 << 20)), (2, 4 << 20), (3, 0), (4, 1)] {
            bytes += [UInt8(id >> 8), UInt8(id & 0xFF)]
            bytes += [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
        }
        return bytes
    }()

    /// Opens `count` connections with a few threads; throws when any cannot be made.
    static func open(count: Int, configuration: ClientConfiguration, progress: ProgressLine) throws -> IdleConnections {
        guard count > 0 else { return IdleConnections(context: nil) }
        raiseFileLimit(to: count + 1024)
        // SSL_CTX_new returns NULL on allocation failure only.
        guard let ctx = SSL_CTX_new(TLS_client_method()) else { throw CLIError.local("cannot create a TLS context") }
        let idle = IdleConnections(context: ctx)
        let tls = configuration.tls
        // These return 1 on success.
        if let roots = tls.trustRootsFile {
            guard SSL_CTX_load_verify_locations(ctx, roots, nil) == 1 else { throw CLIError.usage("--ca: cannot load \(roots)") }
        } else {
            _ = SSL_CTX_set_default_verify_paths(ctx)
        }
        if let chain = tls.certificateChainFile, let key = tls.privateKeyFile {
            guard SSL_CTX_use_certificate_chain_file(ctx, chain) == 1,
                  SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) == 1 else {
                throw CLIError.usage("--cert/--key: cannot load \(chain) and \(key)")
            }
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
        let alpn = [UInt8(WireProtocol.alpn.utf8.count)] + Array(WireProtocol.alpn.utf8)
        _ = SSL_CTX_set_alpn_protos(ctx, alpn, UInt32(alpn.count))  // returns 0 on success

        let address = try Address(host: configuration.host, port: configuration.port)
        let next = AtomicCounter()
        let failure = FirstError()
        let group = DispatchGroup()
        for _ in 0..<4 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                while failure.value == nil {
                    let i = next.next()
                    guard i < count else { return }
                    do {
                        let connection = try idle.connect(address)
                        idle.lock.withLock { idle.held.append(connection) }
                        if i % 256 == 0 { progress.update("opening idle connections: \(i)/\(count)") }
                    } catch {
                        failure.set(CLIError(error))
                    }
                }
            }
        }
        group.wait()
        progress.clear()
        if let firstError = failure.value {
            idle.close()
            throw CLIError.connection("idle connection \(idle.count + 1) of \(count): \(firstError.message)")
        }
        return idle
    }

    private func connect(_ address: Address) throws(CLIError) -> (ssl: OpaquePointer, fd: Int32) {
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .local("socket: errno \(errno)") }
        var storage = address.storage
        // connect returns 0 or -1 with errno (ECONNREFUSED, EMFILE…).
        let rc = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, address.length) }
        }
        guard rc == 0 else {
            let message = "errno \(errno)"
            Glibc.close(fd)
            throw .connection("connect: \(message)")
        }
        // SSL_new returns NULL on allocation failure; SSL_connect 1 on success; SSL_write the bytes written.
        guard let ctx = context, let ssl = SSL_new(ctx) else { Glibc.close(fd); throw .local("SSL_new failed") }
        SSL_set_fd(ssl, fd)
        guard SSL_connect(ssl) == 1,
              Self.hello.withUnsafeBytes({ SSL_write(ssl, $0.baseAddress, Int32($0.count)) }) == Int32(Self.hello.count) else {
            var reason = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(ERR_get_error(), &reason, reason.count)
            SSL_free(ssl)
            Glibc.close(fd)
            throw .connection("TLS handshake failed: \(String(decoding: reason.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
        }
        return (ssl, fd)
    }

    /// Closes every held connection.
    func close() {
        let all = lock.withLock { () -> [(ssl: OpaquePointer, fd: Int32)] in
            defer { held = [] }
            return held
        }
        for c in all {
            SSL_free(c.ssl)
            Glibc.close(c.fd)
        }
    }

    deinit {
        close()
        if let context { SSL_CTX_free(context) }
    }

    /// One resolved server address (getaddrinfo's first answer).
    struct Address: @unchecked Sendable {
        // @unchecked: plain bytes, never mutated after init.
        var family: Int32
        var storage = sockaddr_storage()
        var length: socklen_t

        init(host: String, port: Int) throws(CLIError) {
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var result: UnsafeMutablePointer<addrinfo>?
            // getaddrinfo returns 0 or an EAI_* code.
            let rc = getaddrinfo(host, String(port), &hints, &result)
            guard rc == 0, let first = result else {
                throw .connection("cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
            }
            defer { freeaddrinfo(result) }
            family = first.pointee.ai_family
            length = first.pointee.ai_addrlen
            withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: UnsafeRawBufferPointer(start: first.pointee.ai_addr, count: Int(first.pointee.ai_addrlen))) }
        }
    }

    /// Lifts the soft limit on open files towards `wanted` (up to the hard limit).
    private static func raiseFileLimit(to wanted: Int) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < rlim_t(wanted) else { return }
        limit.rlim_cur = min(limit.rlim_max, rlim_t(wanted))
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}
