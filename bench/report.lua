-- bench/report.lua: shared by the wrk scripts; prints one machine-readable BENCH line in done().
-- run.sh parses that line (latencies in microseconds); it must never change the request stream.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d bytes=%d err_connect=%d err_read=%d err_write=%d " ..
    "err_status=%d err_timeout=%d p50=%.0f p90=%.0f p99=%.0f p999=%.0f max=%.0f mean=%.1f\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end
