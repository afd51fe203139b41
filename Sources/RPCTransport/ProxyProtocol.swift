import CEpoll
import Glibc
import Support

/// What a PROXY protocol v2 header says about the connection it starts (haproxy's
/// proxy-protocol.txt, section 2.2): who the client is, as the load balancer saw it.
enum ProxyHeader: Equatable, Sendable {
    /// PROXY over TCP: the client's address and port.
    case proxied(source: IPAddress, port: Int)
    /// LOCAL (the balancer's own connection, such as a health check), or PROXY for a family
    /// without an IP address (UNSPEC, UNIX): the connection's own peer, the proxy, stays.
    case local
}

/// Reads a PROXY protocol v2 header off the start of a connection. A state machine without I/O:
/// the caller reads at most `wanted` bytes and hands them to `consume`, so that nothing past the
/// header (the TLS ClientHello) is taken from the socket. The header is bounded: 16 fixed bytes
/// and at most 216 more (the largest address block, two UNIX paths); TLVs after the addresses,
/// within that bound, are skipped. Only version 2 (binary) is accepted.
struct ProxyHeaderReader {
    /// `\r\n\r\n\0\r\nQUIT\n`: the first 12 bytes of every v2 header.
    static let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
    /// Signature, version and command, family and transport, big-endian length of the rest.
    static let fixedLength = 16
    /// The largest address block the protocol defines (AF_UNIX: two 108-byte paths).
    static let maxBodyLength = 216

    /// What `consume` found.
    enum Step: Equatable {
        /// More bytes are needed: read at most `wanted`.
        case needMore
        case done(ProxyHeader)
        /// Not a well-formed v2 header: close the connection. The reason is for the log.
        case invalid(String)
    }

    private var bytes: [UInt8] = []
    private var total = fixedLength

    init() {
        bytes.reserveCapacity(Self.fixedLength + Self.maxBodyLength)
    }

    /// How many bytes to read next: never past the end of the header.
    var wanted: Int { total - bytes.count }

    /// Takes bytes read off the connection (at most `wanted`).
    mutating func consume(_ chunk: UnsafeRawBufferPointer) -> Step {
        precondition(chunk.count <= wanted, "read past the PROXY header")
        let before = bytes.count
        bytes.append(contentsOf: chunk)
        // The signature is checked as it comes, so a client speaking TLS (0x16 …) or PROXY v1
        // ("PROXY …") is refused at its first byte.
        let checked = min(bytes.count, Self.signature.count)
        if before < checked, bytes[before..<checked] != Self.signature[before..<checked] {
            return .invalid("no PROXY protocol v2 signature")
        }
        if before < Self.fixedLength && bytes.count == Self.fixedLength {
            let length = Int(bytes[14]) << 8 | Int(bytes[15])
            guard length <= Self.maxBodyLength else { return .invalid("PROXY header longer than \(Self.fixedLength + Self.maxBodyLength) bytes") }
            total = Self.fixedLength + length
        }
        return wanted > 0 ? .needMore : parse()
    }

    private func parse() -> Step {
        let versionCommand = bytes[12], familyTransport = bytes[13]
        guard versionCommand >> 4 == 2 else { return .invalid("PROXY protocol version \(versionCommand >> 4), not 2") }
        let body = bytes[Self.fixedLength...]
        switch versionCommand & 0x0F {
        case 0x0:
            return .done(.local)  // LOCAL: the family and any addresses are to be ignored
        case 0x1:
            break
        default:
            return .invalid("PROXY command \(versionCommand & 0x0F)")
        }
        let transport = familyTransport & 0x0F
        switch familyTransport >> 4 {
        case 0x0, 0x3:  // UNSPEC, UNIX: no IP address to take
            guard transport <= 2 else { return .invalid("PROXY transport \(transport)") }
            return .done(.local)
        case 0x1, 0x2:
            guard transport == 1 else { return .invalid("PROXY transport \(transport), not TCP") }
            let v6 = familyTransport >> 4 == 0x2
            let size = v6 ? 16 : 4
            guard body.count >= 2 * size + 4 else { return .invalid("PROXY address block of \(body.count) bytes, short for its family") }
            let start = body.startIndex
            let source = bytes.withUnsafeBytes { raw in
                let block = UnsafeRawBufferPointer(rebasing: raw[start..<start + size])
                return v6 ? IPAddress(ipv6: block) : IPAddress(ipv4: block)
            }
            let portAt = start + 2 * size
            return .done(.proxied(source: source, port: Int(bytes[portAt]) << 8 | Int(bytes[portAt + 1])))
        default:
            return .invalid("PROXY address family \(familyTransport >> 4)")
        }
    }
}

/// A connection from a trusted proxy, before its PROXY header is complete: owned by its event
/// loop, which hands it to a `ServerConnection` once the header names the client.
final class ProxiedAccept {
    let fd: Int32
    let proxyAddress: IPAddress
    /// The proxy's own `ip:port`.
    let proxy: String
    let acceptedAt: ContinuousClock.Instant
    private var reader = ProxyHeaderReader()

    /// What `readHeader` got to.
    enum Outcome: Equatable {
        /// The socket has no more bytes for now.
        case waiting
        /// The peer closed, or the socket failed.
        case closed
        case invalid(String)
        case done(ProxyHeader)
    }

    init(fd: Int32, proxyAddress: IPAddress, proxy: String, acceptedAt: ContinuousClock.Instant) {
        self.fd = fd
        self.proxyAddress = proxyAddress
        self.proxy = proxy
        self.acceptedAt = acceptedAt
    }

    /// Reads what the socket has of the header, never past its end (the TLS bytes after it stay
    /// in the socket). `buffer` is scratch space of at least 232 bytes.
    func readHeader(using buffer: UnsafeMutableRawBufferPointer) -> Outcome {
        while true {
            // read returns the byte count, 0 at end of stream, or -1 with EAGAIN (nothing yet),
            // EINTR, or a socket error (ECONNRESET …).
            let n = read(fd, buffer.baseAddress, min(reader.wanted, buffer.count))
            if n < 0 {
                let e = CEpoll_errno()
                if e == EINTR { continue }
                return e == EAGAIN || e == EWOULDBLOCK ? .waiting : .closed
            }
            guard n > 0 else { return .closed }
            switch reader.consume(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) {
            case .needMore: continue
            case .invalid(let reason): return .invalid(reason)
            case .done(let header): return .done(header)
            }
        }
    }
}
