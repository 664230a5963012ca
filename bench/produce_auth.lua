-- bench/produce_auth.lua: produce.lua's request with HTTP Basic credentials (issue 14: produce
-- with auth on, cache warm, against produce without). The header value comes from
-- BENCH_AUTHORIZATION (run.sh sets it for the user it creates); the default is bench:bench-pw.
dofile((os.getenv("BENCH_DIR") or "bench") .. "/produce.lua")

wrk.headers["Authorization"] = os.getenv("BENCH_AUTHORIZATION") or "Basic YmVuY2g6YmVuY2gtcHc="
