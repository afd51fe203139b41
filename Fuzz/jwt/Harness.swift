// libFuzzer entry for the jwt target; the target itself is Tests/HardeningTests/FuzzTargets/JWTFuzzTarget.swift
// (shared with FuzzCorpusReplayTests, which replays the committed corpus in every swift test).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEntry(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    JWTFuzzTarget.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
