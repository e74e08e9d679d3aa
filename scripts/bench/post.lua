-- wrk script for scripts/bench-proxy.sh: every request is one POST /v1/chat/completions.
-- The JSON body comes from BENCH_BODY so the script keeps one copy of it (streamed or not)
-- for both its curl checks and wrk.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BENCH_BODY") or error("BENCH_BODY is not set")
