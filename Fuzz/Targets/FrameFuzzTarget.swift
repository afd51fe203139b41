import RPCCore
@testable import RPCTransport

/// Fuzz target: the server's view of a byte stream after TLS. The bytes go through the frame
/// decoder (preface first), every frame into the connection state machine, every payload through
/// its decoder, and compressed CALL messages through the bounded inflater. Nothing may crash; a
/// decoded frame must re-encode to as many bytes as it came from.
/// Run by libFuzzer (scripts/fuzz frame, the fuzz-frame executable) and over the committed corpus
/// by HardeningTests/FuzzCorpusReplayTests.
public enum FrameFuzzTarget {
    public static func run(_ bytes: UnsafeRawBufferPointer) {
        // The server's in-place path (consume) must see exactly the frames, and the error, that the
        // copying path (append + next) sees, however the bytes are sliced.
        let copied = decodeByNext(bytes), inPlace = decodeByConsume(bytes)
        precondition(copied.frames == inPlace.frames && copied.error == inPlace.error, "consume and next disagree")
        let size = bytes.count
        var decoder = FrameDecoder(maxFrameSize: 1 << 16, expectsPreface: true)
        var machine = ServerConnectionStateMachine(maxCallsInFlight: 8)
        // Feed in uneven slices, as the network would.
        var offset = 0, step = 1
        while offset < size {
            let n = min(step, size - offset)
            decoder.append(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + n]))
            offset += n
            step = step % 97 + 7
            while true {
                let frame: Frame?
                do { frame = try decoder.next() } catch { _ = machine.decodeFailed(error); return }
                guard let frame else { break }
                var again: [UInt8] = []
                FrameEncoder.append(frame, to: &again)
                precondition(again.count == WireProtocol.headerSize + frame.payload.count, "frame re-encoding changed length")
                _ = try? ConnectionSettings.decode(frame.payload)
                _ = try? ReplyHead.decode(frame.payload)
                _ = try? GoAway.decode(frame.payload)
                _ = try? ErrorPayload.decode(frame.payload)
                let action = frame.payload.withUnsafeBytes { payload in
                    let action = machine.received(FrameView(type: frame.type, flags: frame.flags, callID: frame.callID, payload: payload))
                    if case .startCall(_, let head, true) = action {
                        _ = try? MessageCompression.inflate(Array(payload[head.messageOffset...]), limit: 1 << 16)
                    }
                    return action
                }
                switch action {
                case .startCall(let callID, _, _):
                    _ = machine.callCompleted(callID)
                case .protocolError, .close:
                    return
                default:
                    break
                }
            }
        }
    }

    private static func decodeByNext(_ bytes: UnsafeRawBufferPointer) -> (frames: [Frame], error: ProtocolViolation?) {
        var decoder = FrameDecoder(maxFrameSize: 1 << 16, expectsPreface: true)
        var frames: [Frame] = []
        decoder.append(bytes)
        do {
            while let frame = try decoder.next() { frames.append(frame) }
        } catch {
            return (frames, error)
        }
        return (frames, nil)
    }

    private static func decodeByConsume(_ bytes: UnsafeRawBufferPointer) -> (frames: [Frame], error: ProtocolViolation?) {
        var decoder = FrameDecoder(maxFrameSize: 1 << 16, expectsPreface: true)
        var frames: [Frame] = []
        var offset = 0, step = 5
        repeat {
            let n = min(step, bytes.count - offset)
            do {
                // Stop now and then, as a paused connection does, and resume with no new bytes.
                try decoder.consume(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + n])) { frame in
                    frames.append(frame.frame)
                    return frames.count % 3 != 0
                }
                while decoder.bufferedCount >= WireProtocol.headerSize {
                    let before = frames.count
                    try decoder.consume(UnsafeRawBufferPointer(start: nil, count: 0)) { frames.append($0.frame); return true }
                    if frames.count == before { break }
                }
            } catch {
                return (frames, error)
            }
            offset += n
            step = step % 89 + 13
        } while offset < bytes.count
        return (frames, nil)
    }
}
