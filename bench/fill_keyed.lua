-- bench/fill_keyed.lua: fills a compacted topic for run.sh's `cleaner` scenario:
-- POST /topics/compact/partitions/0 with 1,000 keyed records of 100-byte values, the keys of
-- request j being k<(j mod FILL_KEYSETS)*1000 + i>, so FILL_KEYSETS * 1,000 distinct keys are each
-- overwritten again and again (what the cleaner then removes). Bodies built once per key set.
dofile((os.getenv("BENCH_DIR") or "bench") .. "/report.lua")

local sets = tonumber(os.getenv("FILL_KEYSETS") or "100")
local filler = string.rep("abcdefghijklmnopqrstuvwxyz", 4)
local bodies, j = {}, 0
for s = 0, sets - 1 do
  local parts = {}
  for i = 0, 999 do
    local key = "k" .. (s * 1000 + i)
    local value = string.sub(string.format("%08d-", s * 1000 + i) .. filler, 1, 100)
    parts[#parts + 1] = '{"key":"' .. key .. '","value":"' .. value .. '"}'
  end
  bodies[s] = '{"records":[' .. table.concat(parts, ",") .. ']}'
end
local headers = { ["Content-Type"] = "application/vnd.kafka.json.v2+json" }

request = function()
  local body = bodies[j % sets]
  j = j + 1
  return wrk.format("POST", "/topics/compact/partitions/0", headers, body)
end
