import Glibc
import RPCCore

/// A server's methods, looked up by full name: as a `String` (in-process calls, tests) or as the
/// bytes of a wire frame's method name, so a call needs no String. An open-addressed table
/// (FNV-1a hash, linear probing) of final-class entries; two methods with one name are a bug.
public final class MethodTable: Sendable {
    /// One method and its name's bytes.
    public final class Entry: Sendable {
        public let name: [UInt8]
        public let method: ServerMethod
        /// Its place in the table's methods sorted by name, 0..<count (per-method counters use it).
        public let index: Int
        init(name: [UInt8], method: ServerMethod, index: Int) {
            self.name = name
            self.method = method
            self.index = index
        }
    }

    private let slots: [Entry?]
    private let mask: Int
    private let byName: [String: Entry]

    /// The methods of `services`; a full name served twice stops the program (a wiring bug).
    public convenience init(services: [any RPCServiceProvider]) {
        var table: [String: ServerMethod] = [:]
        for service in services {
            for method in service.methods {
                precondition(table[method.descriptor.fullName] == nil, "method \(method.descriptor.fullName) served twice")
                table[method.descriptor.fullName] = method
            }
        }
        self.init(table)
    }

    /// The methods keyed by full name.
    public init(_ methods: [String: ServerMethod]) {
        var size = 8
        while size < methods.count * 4 { size *= 2 }
        var slots = [Entry?](repeating: nil, count: size)
        var byName: [String: Entry] = [:]
        for (index, (name, method)) in methods.sorted(by: { $0.key < $1.key }).enumerated() {
            let bytes = Array(name.utf8)
            var i = bytes.withUnsafeBytes { Self.hash($0) } & (size - 1)
            while slots[i] != nil { i = (i + 1) & (size - 1) }
            let entry = Entry(name: bytes, method: method, index: index)
            slots[i] = entry
            byName[name] = entry
        }
        self.slots = slots
        self.byName = byName
        namesByIndex = methods.keys.sorted()
        mask = size - 1
    }

    /// The methods' full names, by `Entry.index`.
    public let namesByIndex: [String]

    /// Number of methods.
    public var count: Int { byName.count }

    /// The entry whose name is exactly `name`, or nil.
    public func lookup(_ name: UnsafeRawBufferPointer) -> Entry? {
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

    /// The entry named `fullName` (`"<package>.<Service>/<Method>"`), or nil.
    public func lookup(_ fullName: String) -> Entry? {
        byName[fullName]
    }

    private static func hash(_ bytes: UnsafeRawBufferPointer) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes {
            h = (h ^ UInt64(b)) &* 0x100_0000_01b3
        }
        return Int(truncatingIfNeeded: h ^ (h >> 32))
    }
}
