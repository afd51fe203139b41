// libFuzzer entry for the schema target; the target itself is Tests/HardeningTests/FuzzTargets/SchemaFuzzTarget.swift
// (shared with FuzzCorpusReplayTests, which replays the committed corpus in every swift test).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEntry(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    SchemaFuzzTarget.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
