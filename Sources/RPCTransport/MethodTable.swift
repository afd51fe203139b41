import Glibc
import RPCCore

/// The server's methods looked up by the bytes of a CALL's method name, so a call needs no
/// String: an open-addressed table (FNV-1a hash, linear probing) of final-class entries.
final class MethodTable: Sendable {
    final class Entry: Sendable {
        let name: [UInt8]
        let method: ServerMethod
        init(name: [UInt8], method: ServerMethod) {
            self.name = name
            self.method = method
        }
    }

    private let slots: [Entry?]
    private let mask: Int

    init(_ methods: [String: ServerMethod]) {
        var size = 8
        while size < methods.count * 4 { size *= 2 }
        var slots = [Entry?](repeating: nil, count: size)
        for (name, method) in methods {
            let bytes = Array(name.utf8)
            var i = bytes.withUnsafeBytes { Self.hash($0) } & (size - 1)
            while slots[i] != nil { i = (i + 1) & (size - 1) }
            slots[i] = Entry(name: bytes, method: method)
        }
        self.slots = slots
        mask = size - 1
    }

    /// The entry whose name is exactly `name`, or nil.
    func lookup(_ name: UnsafeRawBufferPointer) -> Entry? {
        var i = Self.hash(name) & mask
        while let entry = slots[i] {
            if entry.name.count == name.count
                && (name.isEmpty || entry.name.withUnsafeBytes { memcmp($0.baseAddress!, name.baseAddress!, name.count) == 0 }) {
                return entry
            }
            i = (i + 1) & mask
        }
        return nil
    }

    private static func hash(_ bytes: UnsafeRawBufferPointer) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes {
            h = (h ^ UInt64(b)) &* 0x100_0000_01b3
        }
        return Int(truncatingIfNeeded: h ^ (h >> 32))
    }
}
