import Foundation

/// The entry of a fuzzer executable built without libFuzzer (Fuzz/<name>/Fuzzer.swift).
public enum FuzzReplay {
    /// Runs the target once over each input named on the command line (a file, or every file in a
    /// folder), so a crash file replays under a debugger. Built with `-DFUZZING` and
    /// `-sanitize=fuzzer` (scripts/fuzz), the executable's entry is `LLVMFuzzerTestOneInput` instead, and
    /// libFuzzer supplies `main`.
    public static func main(_ name: String, _ run: (UnsafeRawBufferPointer) -> Void) {
        let paths = CommandLine.arguments.dropFirst()
        guard !paths.isEmpty else {
            print("usage: fuzz-\(name) FILE|FOLDER...   (replays inputs; scripts/fuzz \(name) builds the libFuzzer one)")
            exit(2)
        }
        var files: [URL] = []
        for path in paths {
            let url = URL(fileURLWithPath: path)
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
                print("fuzz-\(name): no such file \(path)")
                exit(2)
            }
            if isFolder.boolValue {
                let inside = (try? FileManager.default.contentsOfDirectory(at: url, includingPropertiesForKeys: nil)) ?? []
                files += inside.sorted { $0.path < $1.path }
            } else {
                files.append(url)
            }
        }
        for file in files {
            guard let bytes = FileManager.default.contents(atPath: file.path) else { continue }
            bytes.withUnsafeBytes(run)
        }
        print("fuzz-\(name): \(files.count) inputs replayed, no crash")
    }
}
