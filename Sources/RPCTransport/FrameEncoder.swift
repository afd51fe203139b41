import RPCCore

/// Appends frames to an output buffer, so many frames leave in one write.
public enum FrameEncoder {
    /// Appends a frame header for a payload of `length` bytes.
    public static func appendHeader(type: FrameType, flags: FrameFlags = [], callID: UInt32, length: Int,
                                    to out: inout [UInt8]) {
        precondition(length >= 0 && length <= Int(UInt32.max), "frame payload too long")
        let l = UInt32(length)
        // One bulk append of a 10-byte stack buffer instead of ten appends (each a capacity check).
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: WireProtocol.headerSize) { h in
            h[0] = UInt8(l >> 24); h[1] = UInt8((l >> 16) & 0xFF); h[2] = UInt8((l >> 8) & 0xFF); h[3] = UInt8(l & 0xFF)
            h[4] = type.rawValue
            h[5] = flags.rawValue
            h[6] = UInt8(callID >> 24); h[7] = UInt8((callID >> 16) & 0xFF)
            h[8] = UInt8((callID >> 8) & 0xFF); h[9] = UInt8(callID & 0xFF)
            out.append(contentsOf: UnsafeBufferPointer(h))
        }
    }

    /// Appends a whole frame.
    public static func append(_ frame: Frame, to out: inout [UInt8]) {
        appendHeader(type: frame.type, flags: frame.flags, callID: frame.callID, length: frame.payload.count, to: &out)
        out.append(contentsOf: frame.payload)
    }

    /// Appends a CALL frame: head then message (already compressed when `flags` says so).
    public static func appendCall(callID: UInt32, head: CallHead, message: [UInt8], flags: FrameFlags,
                                  to out: inout [UInt8]) {
        var w = ByteWriter(capacity: 32 + head.method.utf8.count)
        head.encode(into: &w)
        appendHeader(type: .call, flags: flags, callID: callID, length: w.bytes.count + message.count, to: &out)
        out.append(contentsOf: w.bytes)
        out.append(contentsOf: message)
    }

    /// Appends a REPLY frame: status, status message, then the reply message on OK.
    public static func appendReply(callID: UInt32, status: StatusCode, statusMessage: String = "",
                                   message: [UInt8] = [], flags: FrameFlags = [], to out: inout [UInt8]) {
        let text = ReplyHead.bounded(statusMessage)
        let textCount = text.utf8.count
        out.reserveCapacity(out.count + WireProtocol.headerSize + 3 + textCount + message.count)
        appendHeader(type: .reply, flags: flags, callID: callID, length: 3 + textCount + message.count, to: &out)
        out.append(status.rawValue)
        out.append(UInt8(textCount >> 8)); out.append(UInt8(textCount & 0xFF))
        if textCount > 0 { out.append(contentsOf: text.utf8) }
        out.append(contentsOf: message)
    }
}
