import CEpoll
import Glibc
import Support

/// Socket address helpers.
enum SocketAddress {
    /// `ip:port` (or `[ip6]:port`) of an address; an IPv4-mapped IPv6 address (a dual-stack
    /// listener's IPv4 client) is written as the IPv4 address.
    static func describe(_ storage: sockaddr_storage) -> String {
        guard let address = ipAddress(storage) else { return "unknown" }
        return describe(address, port: port(storage))
    }

    /// `ip:port`, or `[ip6]:port`.
    static func describe(_ address: IPAddress, port: Int) -> String {
        switch address {
        case .v4: "\(address):\(port)"
        case .v6: "[\(address)]:\(port)"
        }
    }

    /// The IP address of an IPv4 or IPv6 socket address (IPv4-mapped as IPv4); nil for other families.
    static func ipAddress(_ storage: sockaddr_storage) -> IPAddress? {
        var storage = storage
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    withUnsafeBytes(of: sin.pointee.sin_addr) { IPAddress(ipv4: $0) }
                }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                    withUnsafeBytes(of: sin6.pointee.sin6_addr) { IPAddress(ipv6: $0) }
                }
            }
        default:
            return nil
        }
    }

    /// The port of an IPv4 or IPv6 address (0 for other families).
    static func port(_ storage: sockaddr_storage) -> Int {
        var storage = storage
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
            }
        default:
            return 0
        }
    }

    /// Resolves `host`:`port` (numeric or `localhost`) to the first address getaddrinfo gives.
    static func resolve(host: String, port: Int, passive: Bool) throws(TransportError) -> (family: Int32, storage: sockaddr_storage, length: socklen_t) {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0)
        var result: UnsafeMutablePointer<addrinfo>?
        // getaddrinfo returns 0, or an EAI_* code explained by gai_strerror.
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0, let first = result else {
            throw TransportError("cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(result) }
        var storage = sockaddr_storage()
        let length = first.pointee.ai_addrlen
        withUnsafeMutableBytes(of: &storage) { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(start: first.pointee.ai_addr, count: Int(length)))
        }
        return (first.pointee.ai_family, storage, length)
    }
}
