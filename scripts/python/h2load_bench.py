"""One gRPC Validate scenario for scripts/bench, driven by nghttp2's h2load over TLS (ALPN h2).

  h2load_bench.py NAME --pid AUTHD_PID --address HOST:PORT --token-file FILE --out DIR -- H2LOAD_ARGS…

Sends `POST /auth.v1.Auth/Validate` with content-type application/grpc and te: trailers, the body
a 5-byte gRPC prefix and a ValidateRequest holding the first token of FILE (so every call after
the first is answered from the validated-token cache). Reads authd's CPU time from /proc around
the run, h2load's per-request log for the latency percentiles, and prints one JSON object in the
shape `authctl bench --json` gives (so scripts/bench tabulates both protocols alike).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def server_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    return 0


def percentile(sorted_values, p):
    if not sorted_values:
        return 0
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--address", required=True)
    parser.add_argument("--token-file", required=True)
    parser.add_argument("--out", required=True)
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    a = parser.parse_args(argv[:cut])
    args = argv[cut + 1:]

    with open(a.token_file) as f:
        token = f.readline().strip().encode()
    message = b"\x0a" + varint(len(token)) + token
    body = os.path.join(a.out, "grpc-validate.body")
    with open(body, "wb") as f:
        f.write(b"\x00" + len(message).to_bytes(4, "big") + message)
    # h2load writes one log line per response with a write(2) in the loop that timestamps the next
    # responses, so the log goes to memory (tmpfs) when there is one, not to the disk being measured.
    log_dir = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else a.out
    log = tempfile.NamedTemporaryFile(prefix="h2load-", suffix=".log", dir=log_dir, delete=False).name

    cpu0, before = server_cpu(a.pid), resource.getrusage(resource.RUSAGE_CHILDREN)
    run = subprocess.run(["h2load", *args, "-d", body, "--log-file", log,
                          "-H", "content-type: application/grpc", "-H", "te: trailers",
                          f"https://{a.address}/auth.v1.Auth/Validate"], capture_output=True, text=True, timeout=3600)
    cpu1, after = server_cpu(a.pid), resource.getrusage(resource.RUSAGE_CHILDREN)
    if run.returncode != 0:
        os.unlink(log)
        sys.exit(f"h2load failed ({run.returncode}): {run.stdout}{run.stderr}")

    # The log: one line per request, tab-separated: start (µs), HTTP status, elapsed (µs).
    latencies, statuses = [], {}
    with open(log) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3:
                statuses[parts[1]] = statuses.get(parts[1], 0) + 1
                latencies.append(int(parts[2]))
    os.unlink(log)
    latencies.sort()
    calls = max(1, len(latencies))
    # "finished in 5.00s, 40123.45 req/s, 3.21MB/s"
    rate = 0.0
    for line in run.stdout.splitlines():
        if line.startswith("finished in "):
            rate = float(line.split(",")[1].split()[0])
    done_ok = statuses.get("200", 0)
    c = args[args.index("-c") + 1] if "-c" in args else "1"
    m = args[args.index("-m") + 1] if "-m" in args else "1"
    client_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    print(json.dumps({
        "name": a.name, "tool": "h2load", "protocol": "grpc", "connections": int(c), "concurrency": int(c) * int(m),
        "count": len(latencies), "calls_total": len(latencies),
        "rate": rate,
        "latency_us": {"p50": percentile(latencies, 0.50), "p99": percentile(latencies, 0.99), "p999": percentile(latencies, 0.999)},
        "codes": {"OK": done_ok, **{f"HTTP {k}": v for k, v in statuses.items() if k != "200"}},
        "client_cpu_us_per_call": round(client_cpu * 1e6 / calls, 2),
        "server_cpu_s": round(cpu1 - cpu0, 3), "server_cpu_us_per_call": round((cpu1 - cpu0) * 1e6 / calls, 2),
        "server_rss_kib_after": server_rss(a.pid),
    }))


if __name__ == "__main__":
    main()
