// The frame fuzzer: FrameFuzzTarget (Fuzz/Targets) under libFuzzer when built with -DFUZZING and
// -sanitize=fuzzer (scripts/fuzz frame; libFuzzer supplies main), else a replay of the inputs
// named on the command line.
import FuzzTargets

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEntry(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FrameFuzzTarget.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
#else
@main
enum Replay {
    static func main() { FuzzReplay.main("frame", FrameFuzzTarget.run) }
}
#endif
