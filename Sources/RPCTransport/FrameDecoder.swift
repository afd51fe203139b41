import RPCCore

/// Splits a byte stream into frames. Bytes arrive in any slicing (one at a time included);
/// `next()` returns a frame once all of it is buffered. Frames longer than `maxFrameSize`
/// are refused from their header, before their payload is buffered.
public struct FrameDecoder {
    /// Largest payload accepted.
    public var maxFrameSize: Int
    /// Whether the stream starts with the client preface (true on the server side).
    public private(set) var expectsPreface: Bool

    private var buffer: [UInt8] = []
    private var readIndex = 0

    public init(maxFrameSize: Int, expectsPreface: Bool) {
        self.maxFrameSize = maxFrameSize
        self.expectsPreface = expectsPreface
    }

    /// Bytes buffered and not yet returned as frames.
    public var bufferedCount: Int { buffer.count - readIndex }

    /// Adds received bytes.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        compactIfUseful()
        buffer.append(contentsOf: bytes)
    }

    public mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// The next complete frame, or nil when more bytes are needed.
    public mutating func next() throws(ProtocolViolation) -> Frame? {
        if expectsPreface {
            let want = WireProtocol.preface.count
            let have = min(bufferedCount, want)
            for i in 0..<have where buffer[readIndex + i] != WireProtocol.preface[i] {
                throw ProtocolViolation(.internalError, "bad connection preface")
            }
            guard have == want else { return nil }
            readIndex += want
            expectsPreface = false
        }
        guard bufferedCount >= WireProtocol.headerSize else { releaseIfEmpty(); return nil }
        let h = readIndex
        let length = Int(UInt32(buffer[h]) << 24 | UInt32(buffer[h + 1]) << 16 | UInt32(buffer[h + 2]) << 8 | UInt32(buffer[h + 3]))
        guard length <= maxFrameSize else {
            throw ProtocolViolation(.resourceExhausted, "frame of \(length) bytes exceeds the limit of \(maxFrameSize)")
        }
        guard let type = FrameType(rawValue: buffer[h + 4]) else {
            throw ProtocolViolation(.internalError, "unknown frame type \(buffer[h + 4])")
        }
        guard bufferedCount >= WireProtocol.headerSize + length else { return nil }
        let flags = FrameFlags(rawValue: buffer[h + 5])
        let callID = UInt32(buffer[h + 6]) << 24 | UInt32(buffer[h + 7]) << 16 | UInt32(buffer[h + 8]) << 8 | UInt32(buffer[h + 9])
        let start = h + WireProtocol.headerSize
        let payload = Array(buffer[start..<start + length])
        readIndex = start + length
        releaseIfEmpty()
        return Frame(type: type, flags: flags, callID: callID, payload: payload)
    }

    /// Idle connections keep no buffer: once everything is consumed, storage is dropped.
    private mutating func releaseIfEmpty() {
        guard readIndex == buffer.count, readIndex > 0 || buffer.capacity > 0 else { return }
        buffer = []
        readIndex = 0
    }

    private mutating func compactIfUseful() {
        if readIndex > 0 && readIndex >= buffer.count / 2 {
            buffer.removeSubrange(0..<readIndex)
            readIndex = 0
        }
    }
}
