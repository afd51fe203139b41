import RPCCore

/// Splits a byte stream into frames. Bytes arrive in any slicing (one at a time included);
/// `next()` returns a frame once all of it is buffered. Frames longer than `maxFrameSize`
/// are refused from their header, before their payload is buffered.
///
/// Two ways to use it, on the same state: `append` + `next` (each frame's payload copied into
/// its own array), or `consume` (the server's path: whole frames are handed out as views into
/// the bytes just read, and only a partial frame at the end is copied into the decoder).
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
        guard try bufferShortfall() == 0 else { releaseIfEmpty(); return nil }
        let header = buffer.withUnsafeBytes { FrameHeader(UnsafeRawBufferPointer(rebasing: $0[readIndex...])) }
        let start = readIndex + WireProtocol.headerSize
        let payload = Array(buffer[start..<start + header.length])
        readIndex = start + header.length
        releaseIfEmpty()
        return Frame(type: header.type, flags: header.flags, callID: header.callID, payload: payload)
    }

    /// Decodes every whole frame of `chunk` (after any bytes buffered earlier) and hands each to
    /// `body`, whose payload view is valid only during that call. `body` returns false to stop:
    /// the bytes not yet handed out are then buffered for a later `consume` (an empty chunk
    /// resumes with them). A partial frame at the end of `chunk` is buffered; nothing else is copied.
    /// Throws at the first protocol violation, in the same order `next()` would.
    public mutating func consume(_ chunk: UnsafeRawBufferPointer,
                                 _ body: (FrameView) -> Bool) throws(ProtocolViolation) {
        var position = 0
        // First what is buffered: whole frames left by a stop, then the partial frame (or preface),
        // completed with only as many bytes of the chunk as it lacks.
        while expectsPreface || bufferedCount > 0 {
            let need = try bufferShortfall()
            if need > 0 {
                let take = min(need, chunk.count - position)
                guard take > 0 else { return }
                compactIfUseful()
                buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[position..<position + take]))
                position += take
                continue
            }
            let start = readIndex
            let keepGoing = buffer.withUnsafeBytes { all -> Bool in
                let bytes = UnsafeRawBufferPointer(rebasing: all[start...])
                return body(FrameView(FrameHeader(bytes), bytes))
            }
            readIndex = start + WireProtocol.headerSize + buffer.withUnsafeBytes { FrameHeader.length(UnsafeRawBufferPointer(rebasing: $0[start...])) }
            releaseIfEmpty()
            if !keepGoing {
                keep(UnsafeRawBufferPointer(rebasing: chunk[position...]))
                return
            }
        }
        // Then frames straight from the chunk.
        while chunk.count - position >= WireProtocol.headerSize {
            let bytes = UnsafeRawBufferPointer(rebasing: chunk[position...])
            try checkHeader(length: FrameHeader.length(bytes), type: bytes[4])
            let header = FrameHeader(bytes)
            guard bytes.count >= WireProtocol.headerSize + header.length else { break }
            position += WireProtocol.headerSize + header.length
            if !body(FrameView(header, bytes)) { break }
        }
        keep(UnsafeRawBufferPointer(rebasing: chunk[position...]))
    }

    /// Bytes the buffer lacks for its next unit (the preface, a header, or a whole frame); 0 when
    /// it holds one. Throws as soon as the bytes present show a bad preface or a refused header.
    private mutating func bufferShortfall() throws(ProtocolViolation) -> Int {
        if expectsPreface {
            let want = WireProtocol.preface.count
            let have = min(bufferedCount, want)
            for i in 0..<have where buffer[readIndex + i] != WireProtocol.preface[i] {
                throw ProtocolViolation(.internalError, "bad connection preface")
            }
            guard have == want else { return want - have }
            readIndex += want
            expectsPreface = false
        }
        let available = bufferedCount
        guard available >= WireProtocol.headerSize else { return WireProtocol.headerSize - available }
        let h = readIndex
        let length = Int(UInt32(buffer[h]) << 24 | UInt32(buffer[h + 1]) << 16 | UInt32(buffer[h + 2]) << 8 | UInt32(buffer[h + 3]))
        try checkHeader(length: length, type: buffer[h + 4])
        return max(0, WireProtocol.headerSize + length - available)
    }

    /// Refuses a frame from its header: too long, or of an unknown type.
    private func checkHeader(length: Int, type: UInt8) throws(ProtocolViolation) {
        guard length <= maxFrameSize else {
            throw ProtocolViolation(.resourceExhausted, "frame of \(length) bytes exceeds the limit of \(maxFrameSize)")
        }
        guard FrameType(rawValue: type) != nil else {
            throw ProtocolViolation(.internalError, "unknown frame type \(type)")
        }
    }

    private mutating func keep(_ rest: UnsafeRawBufferPointer) {
        guard !rest.isEmpty else { return }
        compactIfUseful()
        buffer.append(contentsOf: rest)
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

/// A decoded frame whose payload is borrowed from the decoder's caller or buffer: valid only
/// inside the `FrameDecoder.consume` callback that received it.
public struct FrameView {
    public var type: FrameType
    public var flags: FrameFlags
    public var callID: UInt32
    public var payload: UnsafeRawBufferPointer

    public init(type: FrameType, flags: FrameFlags = [], callID: UInt32 = 0, payload: UnsafeRawBufferPointer) {
        self.type = type
        self.flags = flags
        self.callID = callID
        self.payload = payload
    }

    fileprivate init(_ header: FrameHeader, _ frame: UnsafeRawBufferPointer) {
        let start = frame.startIndex + WireProtocol.headerSize
        self.init(type: header.type, flags: header.flags, callID: header.callID,
                  payload: UnsafeRawBufferPointer(rebasing: frame[start..<start + header.length]))
    }

    /// An owning copy.
    public var frame: Frame { Frame(type: type, flags: flags, callID: callID, payload: Array(payload)) }
}

/// A frame header already checked by `FrameDecoder.checkHeader` (the type is known).
private struct FrameHeader {
    var length: Int
    var type: FrameType
    var flags: FrameFlags
    var callID: UInt32

    static func length(_ b: UnsafeRawBufferPointer) -> Int {
        let i = b.startIndex
        return Int(UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3]))
    }

    init(_ b: UnsafeRawBufferPointer) {
        let i = b.startIndex
        length = Self.length(b)
        type = FrameType(rawValue: b[i + 4])!
        flags = FrameFlags(rawValue: b[i + 5])
        callID = UInt32(b[i + 6]) << 24 | UInt32(b[i + 7]) << 16 | UInt32(b[i + 8]) << 8 | UInt32(b[i + 9])
    }
}
