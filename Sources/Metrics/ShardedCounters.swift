import Glibc
import Synchronization

/// A block of integer counters that many threads add to without a lock and without sharing a
/// cache line: each thread adds to one of `shardCount` copies (chosen from its thread handle),
/// with a relaxed atomic add on memory no other thread usually touches; a reader sums the copies.
/// Two threads that land on one shard stay correct (the adds are atomic), only slower.
///
/// ```swift
/// let counters = ShardedCounters(slots: 3)
/// counters.add(1, at: 0)   // on the hot path: no allocation, no lock, no clock
/// counters.sum(at: 0)      // at scrape time
/// ```
public final class ShardedCounters: @unchecked Sendable {
    // @unchecked Sendable: the storage is written only through atomic operations, allocated once
    // in init and freed in deinit, when no thread can hold a reference.
    public let slots: Int
    public let shardCount: Int
    /// Slots per shard, rounded up to whole 64-byte cache lines.
    @usableFromInline let stride: Int
    // The hot-path members are @inlinable (and what they touch @usableFromInline) so a caller in
    // another module adds in place, without a call or a retain of this object.
    @usableFromInline let storage: UnsafeMutablePointer<Atomic<Int>>

    /// `slots` counters, all 0. `shardCount` is rounded up to a power of two.
    public init(slots: Int, shards: Int = 16) {
        precondition(slots > 0 && shards > 0)
        self.slots = slots
        var count = 1
        while count < shards { count *= 2 }
        shardCount = count
        stride = (slots + 7) / 8 * 8
        storage = .allocate(capacity: stride * count)
        for i in 0..<(stride * count) {
            (storage + i).initialize(to: Atomic(0))
        }
    }

    deinit {
        storage.deinitialize(count: stride * shardCount)
        storage.deallocate()
    }

    /// The shard of the calling thread: a hash of its pthread handle (the address of its
    /// thread control block, so the low bits carry little).
    @inlinable @inline(__always)
    var shardBase: UnsafeMutablePointer<Atomic<Int>> {
        let handle = UInt64(UInt(bitPattern: Int(bitPattern: pthread_self())))
        let mixed = (handle >> 12) &* 0x9E37_79B9_7F4A_7C15
        return storage + Int(truncatingIfNeeded: mixed >> 40) & (shardCount - 1) * stride
    }

    /// Adds `value` to counter `slot` and returns this shard's new value of it (a cheap per-thread
    /// sequence number, e.g. for sampling one call in N).
    @inlinable @inline(__always) @discardableResult
    public func add(_ value: Int, at slot: Int) -> Int {
        shardBase[slot].wrappingAdd(value, ordering: .relaxed).newValue
    }

    /// Adds 1 to counter `slot` of this thread's shard with a plain load and store (no locked
    /// read-modify-write) and returns the new value: cheaper than `add`, but two threads sharing a
    /// shard may lose an increment, so it is for sequences where that does not matter (sampling
    /// one call in N), never for counts anyone reads.
    @inlinable @inline(__always)
    public func bumpApproximately(at slot: Int) -> Int {
        let base = shardBase
        let value = base[slot].load(ordering: .relaxed) &+ 1
        base[slot].store(value, ordering: .relaxed)
        return value
    }

    /// Adds to two counters of the calling thread's shard.
    @inlinable @inline(__always)
    public func add(_ value: Int, at slot: Int, _ second: Int, at secondSlot: Int) {
        let base = shardBase
        base[slot].wrappingAdd(value, ordering: .relaxed)
        base[secondSlot].wrappingAdd(second, ordering: .relaxed)
    }

    /// The total of counter `slot` over every shard (not a snapshot: adds may land meanwhile).
    public func sum(at slot: Int) -> Int {
        var total = 0
        for shard in 0..<shardCount {
            total &+= storage[shard * stride + slot].load(ordering: .relaxed)
        }
        return total
    }
}
