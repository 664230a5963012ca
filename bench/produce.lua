-- bench/produce.lua: seed API produce, POST /produce {"message":<100 bytes>,"topic":"bench"}.
-- Every request is identical (wrk sends the pre-built request); nothing here may add per-request Lua work.
dofile((os.getenv("BENCH_DIR") or "bench") .. "/report.lua")

local message = string.sub("00000000-" .. string.rep("abcdefghijklmnopqrstuvwxyz", 4), 1, 100)
wrk.method = "POST"
wrk.path = os.getenv("PRODUCE_PATH") or "/produce"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"message":"' .. message .. '","topic":"bench"}'
