-- wrk script for the benchmarks (scripts/bench-proxy.sh, scripts/bench-accounting.sh): every
-- request is one POST /v1/chat/completions. The JSON body comes from BENCH_BODY so a script
-- keeps one copy of it (streamed or not) for both its curl checks and wrk. BENCH_AUTH, when
-- set and not empty, is sent as "Authorization: Bearer BENCH_AUTH" (a virtual key).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BENCH_BODY") or error("BENCH_BODY is not set")
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. auth
end
