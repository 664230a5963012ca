-- bench/batch.lua: REST Proxy v2 batch produce, 1,000 records of 100-byte values per request to
-- POST /topics/bench/partitions/0 (application/vnd.kafka.json.v2+json). Body built once, sent as is.
-- BATCH_PATH overrides the path (run.sh's `compress` adds ?compression=<codec>).
dofile((os.getenv("BENCH_DIR") or "bench") .. "/report.lua")

local n = tonumber(os.getenv("BATCH_RECORDS") or "1000")
local filler = string.rep("abcdefghijklmnopqrstuvwxyz", 4)
local parts = {}
for i = 0, n - 1 do
  local value = string.sub(string.format("%08d-", i) .. filler, 1, 100)
  parts[#parts + 1] = '{"value":"' .. value .. '"}'
end
wrk.method = "POST"
wrk.path = os.getenv("BATCH_PATH") or "/topics/bench/partitions/0"
wrk.headers["Content-Type"] = "application/vnd.kafka.json.v2+json"
wrk.body = '{"records":[' .. table.concat(parts, ",") .. ']}'
