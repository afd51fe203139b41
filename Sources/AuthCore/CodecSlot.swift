import Support
import Synchronization

/// The token codec in use, replaced whole when the key set changes. Validation reads it with one
/// atomic load and no reference counting: each codec is boxed once and every box is kept until
/// the slot goes (key-set changes are a handful a day, so the boxes cost nothing worth freeing,
/// and a reader can never meet a box that was freed under it).
final class CodecSlot: Sendable {
    private final class Box: Sendable {
        let codec: JWTCodec
        init(_ codec: JWTCodec) { self.codec = codec }
    }

    /// The current box's address.
    private let current: Atomic<UInt>
    /// Every box ever installed (they own the codecs `current` may point at).
    private let boxes: Locked<[Box]>

    init(_ codec: JWTCodec) {
        let box = Box(codec)
        boxes = Locked([box])
        current = Atomic(UInt(bitPattern: Unmanaged.passUnretained(box).toOpaque()))
    }

    /// Installs `codec`: calls that start after this use it.
    func replace(_ codec: JWTCodec) {
        let box = Box(codec)
        boxes.withLock { $0.append(box) }
        current.store(UInt(bitPattern: Unmanaged.passUnretained(box).toOpaque()), ordering: .releasing)
    }

    /// Runs `body` with the current codec.
    @inline(__always)
    func withCodec<R>(_ body: (JWTCodec) -> R) -> R {
        let address = current.load(ordering: .acquiring)
        // Never nil (set from a live box) and the box is kept alive by `boxes`.
        return Unmanaged<Box>.fromOpaque(UnsafeRawPointer(bitPattern: address)!)._withUnsafeGuaranteedRef { body($0.codec) }
    }

    var codec: JWTCodec { withCodec { $0 } }
}
